"""Faults only a socket has: resets, garbage, 10 MB bodies, silence; and answers lost after Venice acted.

The server's Venice client talks over real loopback TCP to a `FaultyUpstream`, which
forwards to an in-process sandbox (whose state the test reads) or misbehaves as planned.
`*_after` faults let the sandbox apply the write first: the change happened, the answer
did not arrive. Every write must reach the wire exactly once and be reconciled by
reading back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from mcp import Client
from support.faulty_upstream import FaultyUpstream
from support.sandbox_process import running_sandbox

from tests.reliability.rig import Rig, approve_all, build_rig, text
from venice_keys_mcp.sandbox import create_app, seeded_state

pytestmark = pytest.mark.anyio

TIMEOUT = 0.5
#: How httpx2 reports an answer cut off by the server closing mid-body. Which one a client sees
#: is a race in the kernel: the close arrives as the body's end (RemoteProtocolError), or, when
#: the server closes with bytes of ours still unread, as a reset (ReadError). Both mean the same.
CUT_OFF = ("RemoteProtocolError", "ReadError")


@dataclass
class Wire:
    rig: Rig
    upstream: FaultyUpstream

    async def call(self, tool: str, args: dict):
        async with Client(
            self.rig.server, mode="legacy", elicitation_callback=approve_all(self.rig.state)
        ) as c:
            return await c.call_tool(tool, args)


@pytest.fixture
async def wire(tmp_path: Path) -> AsyncIterator[Wire]:
    state = seeded_state()
    async with FaultyUpstream(create_app(state)) as upstream:
        yield Wire(build_rig(tmp_path, state=state, base_url=upstream.base_url, timeout=TIMEOUT), upstream)


# ---- reads ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["reset", "garbage", "hang"])
async def test_read_survives_one_broken_connection(wire: Wire, fault: str) -> None:
    wire.upstream.plan("GET", fault)  # type: ignore[arg-type]
    r = await wire.call("list_keys", {})
    assert not r.is_error, text(r)
    assert r.structured_content["total"] == len(wire.rig.active_ids())
    assert wire.upstream.count("GET") == 2


@pytest.mark.parametrize(
    ("fault", "said"),
    [
        ("reset", "the connection broke while reading the answer"),
        ("garbage", "the connection was dropped"),
        ("hang", "did not answer in time"),
    ],
)
async def test_read_with_a_connection_that_always_breaks_gives_up_clearly(
    wire: Wire, fault: str, said: str
) -> None:
    wire.upstream.plan("GET", fault, times=-1)  # type: ignore[arg-type]
    r = await wire.call("get_limits", {})
    assert r.is_error and said in text(r) and "check the network and VENICE_BASE_URL" in text(r)
    assert wire.upstream.count("GET") == 4


@pytest.mark.parametrize("fault", ["huge", "huge_chunked"])
async def test_read_with_a_10_mb_body_is_refused_without_reading_it_all(wire: Wire, fault: str) -> None:
    wire.upstream.plan("GET", fault)  # type: ignore[arg-type]
    r = await wire.call("list_keys", {})
    assert r.is_error and "5 MiB" in text(r)
    assert wire.upstream.count("GET") == 1


# ---- writes: each fault before and after Venice applied the change ---------------------------------

NOT_APPLIED = ["reset", "garbage", "hang", "error"]
APPLIED = ["reset_after", "garbage_after", "hang_after", "error_after", "huge_after"]


@pytest.mark.parametrize("fault", NOT_APPLIED + APPLIED)
async def test_create_whose_answer_is_lost_is_reconciled(wire: Wire, fault: str) -> None:
    before = wire.rig.active_ids()
    wire.upstream.plan("POST", fault)  # type: ignore[arg-type]
    r = await wire.call("create_key", {"description": f"wire {fault}"})
    assert not r.is_error, text(r)
    sc = r.structured_content
    new = wire.rig.active_ids() - before
    if fault in APPLIED:
        assert sc["status"] == "created_secret_lost" and new == {sc["id"]}
        assert f"Created: id {sc['id']}" in text(r) and "Revoke it?" in text(r)
    else:
        assert sc["status"] == "not_created" and not new
        if fault == "hang":  # Venice may yet finish a request that timed out: no "safe to retry"
            assert "may still finish a request that timed out" in text(r)
        else:
            assert "safe to call create_key again" in text(r)
    assert wire.upstream.count("POST") == 1


@pytest.mark.parametrize("fault", NOT_APPLIED + APPLIED)
async def test_revoke_whose_answer_is_lost_is_reconciled(wire: Wire, fault: str) -> None:
    key_id = wire.rig.victim()
    wire.upstream.plan("DELETE", fault)  # type: ignore[arg-type]
    r = await wire.call("revoke_key", {"key_id": key_id})
    assert not r.is_error, text(r)
    expect = "revoked" if fault in APPLIED else "not_revoked"
    assert r.structured_content["status"] == expect
    assert (key_id in wire.rig.active_ids()) is (fault not in APPLIED)
    assert wire.upstream.count("DELETE") == 1


@pytest.mark.parametrize("fault", NOT_APPLIED + APPLIED)
async def test_patch_whose_answer_is_lost_is_reconciled(wire: Wire, fault: str) -> None:
    key_id = wire.rig.victim()
    wire.upstream.plan("PATCH", fault)  # type: ignore[arg-type]
    r = await wire.call("patch_key", {"key_id": key_id, "usd_limit": 2})
    assert not r.is_error, text(r)
    expect = "updated" if fault in APPLIED else "no_change"
    assert r.structured_content["status"] == expect
    assert (wire.rig.state.keys[key_id].limits["usd"] == 2) is (fault in APPLIED)
    assert wire.upstream.count("PATCH") == 1


async def test_create_dropped_before_over_a_real_sandbox_socket_is_not_created(tmp_path: Path) -> None:
    """Over a socket, the sandbox's "drop before" is a started answer cut off: the outcome is unknown
    to the client (unlike in process, where it is a connect error), and reading back settles it."""
    with running_sandbox() as sandbox:
        rig = build_rig(tmp_path, base_url=sandbox.base_url, admin_key=sandbox.admin_key, timeout=TIMEOUT)
        before = {k.id for k in await rig.runtime.client.list_keys()}
        sandbox.add_fault("POST", "/api_keys", drop="before")
        async with Client(rig.server, mode="legacy") as c:
            r = await c.call_tool("create_key", {"description": "cut off"})
        after = {k.id for k in await rig.runtime.client.list_keys()}
        await rig.runtime.aclose()
    assert r.structured_content["status"] == "not_created", text(r)
    assert "the connection failed after POST /api_keys was sent" in text(r)
    assert any(f"({cut_off})" in text(r) for cut_off in CUT_OFF), text(r)
    assert after == before


@pytest.mark.parametrize("fault", NOT_APPLIED + APPLIED)
async def test_mint_whose_answer_is_lost_is_reconciled(wire: Wire, fault: str) -> None:
    demo = wire.rig.state.demo
    token = (await wire.call("get_web3_token", {})).structured_content["token"]
    signed = Account.sign_message(encode_defunct(text=token), private_key=demo.wallet_private_key)
    sig = "0x" + signed.signature.hex().removeprefix("0x")
    args = {"address": demo.wallet_address, "signature": sig, "token": token}
    before = wire.rig.active_ids()
    wire.upstream.plan("POST", fault)  # type: ignore[arg-type]
    r = await wire.call("mint_web3_key", {**args, "description": f"mint {fault}"})
    assert not r.is_error, text(r)
    sc = r.structured_content
    new = wire.rig.active_ids() - before
    if fault in APPLIED:
        assert sc["status"] == "created_secret_lost" and new == {sc["id"]}
        assert f"Created: id {sc['id']}" in text(r) and "Revoke it?" in text(r)
    else:
        assert sc["status"] == "not_created" and not new
    assert wire.upstream.count("POST") == 1
