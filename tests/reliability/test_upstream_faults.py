"""Venice failing under the tools, injected in the sandbox: bounded, clear, reads retried, writes sent once.

Each test drives the real MCP server with the SDK's in-memory client; the sandbox app
sits behind a request counter, so "retried" and "sent exactly once" are counted, not
inferred from messages.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from mcp import Client

from tests.reliability.rig import Rig, approve_all, build_rig, text
from venice_keys_mcp.sandbox import seeded_state

pytestmark = pytest.mark.anyio



@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return build_rig(tmp_path, timeout=0.5)


async def call(rig: Rig, tool: str, args: dict, *, mode: str = "legacy"):
    async with Client(rig.server, mode=mode, elicitation_callback=approve_all(rig.state)) as c:
        return await c.call_tool(tool, args)


# ---- reads: retried by the client's rules, then a clear error -----------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_read_recovers_from_one_server_error_by_retrying(rig: Rig, status: int, mode: str) -> None:
    rig.state.faults.add("GET", "/api_keys", status=status, times=1)
    r = await call(rig, "list_keys", {}, mode=mode)
    assert not r.is_error, text(r)
    assert r.structured_content["total"] == len(rig.active_ids())
    assert rig.log.count("GET", "/api_keys") == 2


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_read_that_keeps_failing_gives_up_within_the_budget(rig: Rig, status: int) -> None:
    rig.state.faults.add("GET", "/api_keys/*", status=status, times=-1)
    r = await call(rig, "get_key", {"key_id": rig.victim()})
    assert r.is_error
    assert f"HTTP {status}" in text(r) and "try again in a few minutes" in text(r)
    assert rig.log.count("GET") == 4  # RetryPolicy.max_attempts


async def test_read_slower_than_the_timeout_is_retried_then_reported(rig: Rig) -> None:
    rig.state.faults.add("GET", "/api_keys", latency=5, times=-1)
    r = await call(rig, "list_keys", {})
    assert r.is_error and "did not answer in time" in text(r)
    assert rig.log.count("GET", "/api_keys") == 4


async def test_read_slow_once_then_fast_succeeds(rig: Rig) -> None:
    rig.state.faults.add("GET", "/api_keys/rate_limits", latency=5, times=1)
    r = await call(rig, "get_limits", {})
    assert not r.is_error, text(r)
    assert rig.log.count("GET", "/api_keys/rate_limits") == 2


async def test_read_rate_limited_briefly_waits_for_the_reset_and_succeeds(rig: Rig) -> None:
    reset = int(time.time()) + 1
    rig.state.faults.add(
        "GET", "/api_keys/rate_limits/log", status=429, headers={"x-ratelimit-reset-requests": str(reset)}
    )
    r = await call(rig, "get_breach_log", {})
    assert not r.is_error, text(r)
    assert rig.log.count("GET", "/api_keys/rate_limits/log") == 2


async def test_read_rate_limited_for_long_says_when_without_waiting(rig: Rig) -> None:
    reset = int(time.time()) + 120
    rig.state.faults.add(
        "GET", "/api_keys", status=429, headers={"x-ratelimit-reset-requests": str(reset)}, times=-1
    )
    r = await call(rig, "list_keys", {})
    when = datetime.fromtimestamp(reset, UTC).strftime("%H:%M:%S")
    assert r.is_error and f"Try again after {when} UTC" in text(r)
    assert rig.log.count("GET", "/api_keys") == 1  # the window outlasts the retry budget: no retry


@pytest.mark.parametrize(
    ("fault", "said"),
    [
        ({"malformed": True}, "is not valid JSON"),
        ({"content_type": "text/html"}, "instead of JSON"),
        ({"body": b'{"data": [{"id": 5}]}'}, "does not match Venice's API"),
    ],
    ids=["malformed-json", "wrong-content-type", "wrong-shape"],
)
async def test_read_with_an_unreadable_answer_is_a_clear_error(rig: Rig, fault: dict, said: str) -> None:
    rig.state.faults.add("GET", "/api_keys", times=-1, **fault)
    r = await call(rig, "list_keys", {})
    assert r.is_error and said in text(r) and "report it if it persists" in text(r)


async def test_abuse_block_is_reported_and_not_hammered(rig: Rig) -> None:
    rig.state.abuse_threshold = 3
    async with Client(rig.server, mode="legacy") as c:
        for _ in range(4):  # real failures: ids Venice does not know
            r = await c.call_tool("get_key", {"key_id": "no-such-key"})
            assert r.is_error
        before = rig.log.count()
        r = await c.call_tool("list_keys", {})
    assert r.is_error and "blocks the caller for 30 s" in text(r)
    assert rig.log.count() == before + 1  # an abuse block is not retried: that would extend it


# ---- writes: sent once; an unknown outcome is reconciled by reading back ---------------------------


@pytest.mark.parametrize("status", [500, 502, 504])
async def test_create_answered_with_a_gateway_error_is_reconciled_as_not_created(
    rig: Rig, status: int
) -> None:
    before = rig.active_ids()
    rig.state.faults.add("POST", "/api_keys", status=status)
    r = await call(rig, "create_key", {"description": "gateway error"})
    assert not r.is_error, text(r)
    assert r.structured_content["status"] == "not_created"
    assert f"HTTP {status}" in text(r) and "safe to call create_key again" in text(r)
    assert rig.active_ids() == before
    assert rig.log.count("POST") == 1


async def test_create_answered_503_is_a_clear_error_and_creates_nothing(rig: Rig) -> None:
    before = rig.active_ids()
    rig.state.faults.add("POST", "/api_keys", status=503)
    r = await call(rig, "create_key", {"description": "unavailable"})
    assert r.is_error and "Not created" in text(r) and "try again in a few minutes" in text(r)
    assert rig.active_ids() == before and rig.log.count("POST") == 1


async def test_create_rate_limited_by_venice_says_when_to_retry(rig: Rig) -> None:
    reset = int(time.time()) + 30
    rig.state.faults.add("POST", "/api_keys", status=429, headers={"x-ratelimit-reset-requests": str(reset)})
    r = await call(rig, "create_key", {"description": "limited"})
    when = datetime.fromtimestamp(reset, UTC).strftime("%H:%M:%S")
    assert r.is_error and "Not created" in text(r) and f"Try again after {when} UTC" in text(r)
    assert rig.log.count("POST") == 1


async def test_create_dropped_after_venice_applied_it_names_the_orphan(rig: Rig) -> None:
    before = rig.active_ids()
    rig.state.faults.add("POST", "/api_keys", drop="after")
    r = await call(rig, "create_key", {"description": "answer lost"})
    sc = r.structured_content
    new = rig.active_ids() - before
    assert sc["status"] == "created_secret_lost" and len(new) == 1
    (key_id,) = new
    assert sc["id"] == key_id
    assert f"Created: id {key_id}" in text(r) and "its secret was lost" in text(r) and "Revoke it?" in text(r)
    assert "secret_file" not in sc
    assert rig.log.count("POST") == 1
    entry = rig.runtime.audit.recent(1)[0]
    assert (entry.tool, entry.key_id, entry.outcome) == ("create_key", key_id, "created_secret_lost")
    assert "RemoteProtocolError" in entry.detail
    # The named orphan can be cleaned up with the tool the message points to.
    r = await call(rig, "revoke_key", {"key_id": key_id})
    assert r.structured_content["status"] == "revoked" and key_id not in rig.active_ids()


async def test_create_dropped_before_sending_in_process_is_a_clear_error(rig: Rig) -> None:
    before = rig.active_ids()
    rig.state.faults.add("POST", "/api_keys", drop="before")
    r = await call(rig, "create_key", {"description": "never sent"})
    assert r.is_error and "Not created" in text(r) and "nothing changed" in text(r)
    assert rig.active_ids() == before and rig.log.count("POST") == 1


async def test_create_with_unreadable_success_answer_finds_the_key(rig: Rig) -> None:
    before = rig.active_ids()
    rig.state.faults.add("POST", "/api_keys", malformed=True)
    r = await call(rig, "create_key", {"description": "garbled answer"})
    new = rig.active_ids() - before
    assert r.structured_content["status"] == "created_secret_lost" and len(new) == 1
    assert r.structured_content["id"] in new
    assert rig.log.count("POST") == 1


async def test_create_answer_with_wrong_content_type_still_delivers_the_secret(rig: Rig) -> None:
    rig.state.faults.add("POST", "/api_keys", content_type="text/plain")
    r = await call(rig, "create_key", {"description": "odd content type"})
    sc = r.structured_content
    assert sc["status"] == "created", text(r)
    assert Path(sc["secret_file"]).read_text().startswith("VENICE_INFERENCE_KEY_")


async def test_create_slower_than_the_timeout_in_process_is_reconciled(rig: Rig) -> None:
    before = rig.active_ids()
    rig.state.faults.add("POST", "/api_keys", latency=5)
    r = await call(rig, "create_key", {"description": "too slow"})
    # In process a timed-out request is cancelled, never applied: reading back finds nothing.
    assert r.structured_content["status"] == "not_created", text(r)
    assert "ReadTimeout" in text(r) and "check list_keys for «too slow» in a minute" in text(r)
    assert rig.active_ids() == before and rig.log.count("POST") == 1


@pytest.mark.parametrize(
    ("fault", "status", "gone"),
    [
        ({"drop": "after"}, "revoked", True),
        ({"malformed": True}, "revoked", True),
        ({"status": 200, "malformed": True}, "not_revoked", False),  # garbled "OK" that was never applied
        ({"status": 500}, "not_revoked", False),
        ({"status": 502}, "not_revoked", False),
        ({"status": 504}, "not_revoked", False),
    ],
    ids=["drop-after", "malformed-applied", "malformed-not-applied", "500", "502", "504"],
)
async def test_revoke_with_unknown_outcome_reads_back(rig: Rig, fault: dict, status: str, gone: bool) -> None:
    key_id = rig.victim()
    rig.state.faults.add("DELETE", "/api_keys", **fault)
    r = await call(rig, "revoke_key", {"key_id": key_id})
    assert not r.is_error, text(r)
    assert r.structured_content["status"] == status
    assert "reading back" in text(r)
    assert (key_id not in rig.active_ids()) is gone
    assert rig.log.count("DELETE") == 1


async def test_revoke_dropped_before_sending_leaves_the_key(rig: Rig) -> None:
    key_id = rig.victim()
    rig.state.faults.add("DELETE", "/api_keys", drop="before")
    r = await call(rig, "revoke_key", {"key_id": key_id})
    assert r.is_error and "Not revoked" in text(r) and "nothing changed" in text(r)
    assert key_id in rig.active_ids() and rig.log.count("DELETE") == 1


async def test_revoke_answered_503_is_a_clear_error_and_keeps_the_key(rig: Rig) -> None:
    key_id = rig.victim()
    rig.state.faults.add("DELETE", "/api_keys", status=503)
    r = await call(rig, "revoke_key", {"key_id": key_id})
    assert r.is_error and "Not revoked" in text(r)
    assert key_id in rig.active_ids() and rig.log.count("DELETE") == 1


@pytest.mark.parametrize(
    ("fault", "status", "applied"),
    [
        ({"drop": "after"}, "updated", True),
        ({"malformed": True}, "updated", True),
        ({"status": 200, "malformed": True}, "no_change", False),
        ({"status": 500}, "no_change", False),
        ({"status": 502}, "no_change", False),
        ({"status": 504}, "no_change", False),
    ],
    ids=["drop-after", "malformed-applied", "malformed-not-applied", "500", "502", "504"],
)
async def test_patch_with_unknown_outcome_reads_back(
    rig: Rig, fault: dict, status: str, applied: bool
) -> None:
    key_id = rig.victim()
    old_cap = rig.state.keys[key_id].limits["usd"]
    assert old_cap != 3
    rig.state.faults.add("PATCH", "/api_keys", **fault)
    r = await call(rig, "patch_key", {"key_id": key_id, "usd_limit": 3, "description": "narrowed"})
    assert not r.is_error, text(r)
    sc = r.structured_content
    assert sc["status"] == status and "reading back" in text(r)
    key = rig.state.keys[key_id]
    assert (key.limits["usd"] == 3 and key.description == "narrowed") is applied
    assert sc["key"]["usd_cap"] == (3 if applied else old_cap)
    assert rig.log.count("PATCH") == 1


async def test_patch_dropped_before_sending_is_a_clear_error(rig: Rig) -> None:
    key_id = rig.victim()
    rig.state.faults.add("PATCH", "/api_keys", drop="before")
    r = await call(rig, "patch_key", {"key_id": key_id, "usd_limit": 3})
    assert r.is_error and "Not changed" in text(r) and "nothing changed" in text(r)
    assert rig.state.keys[key_id].limits["usd"] != 3 and rig.log.count("PATCH") == 1


async def test_reconciliation_that_cannot_read_back_says_outcome_unknown(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = rig.active_ids()
    rig.state.faults.add("POST", "/api_keys", drop="after")
    original = rig.runtime.client.list_keys
    lists = 0

    async def venice_goes_down_after_the_create():  # the 500-key check lists; the read-back fails
        nonlocal lists
        lists += 1
        if lists == 2:
            rig.state.faults.add("GET", "/api_keys", status=503, times=-1)
        return await original()

    monkeypatch.setattr(rig.runtime.client, "list_keys", venice_goes_down_after_the_create)
    r = await call(rig, "create_key", {"description": "cannot check"})
    assert r.structured_content["status"] == "outcome_unknown", text(r)
    assert "Do not create it again yet" in text(r) and "«cannot check»" in text(r)
    assert len(rig.active_ids() - before) == 1  # it was created; the tool says honestly it cannot tell
    assert rig.log.count("POST") == 1


# ---- mint_web3_key: the same reconciliation as create_key ------------------------------------------

MINT = "/api_keys/generate_web3_key"


async def signed_mint(rig: Rig, description: str) -> dict:
    """Arguments for a real mint: a fresh token from the tool, signed by the sandbox's staked wallet."""
    async with Client(rig.server, mode="legacy") as c:
        token = (await c.call_tool("get_web3_token", {})).structured_content["token"]
    sig = Account.sign_message(encode_defunct(text=token), private_key=rig.state.demo.wallet_private_key)
    hexed = sig.signature.hex()
    return {
        "address": rig.state.demo.wallet_address,
        "signature": hexed if hexed.startswith("0x") else "0x" + hexed,
        "token": token,
        "description": description,
    }


@pytest.mark.parametrize("fault", [{"drop": "after"}, {"malformed": True}], ids=["drop-after", "malformed"])
async def test_mint_whose_answer_is_lost_after_venice_applied_it_names_the_orphan(
    rig: Rig, fault: dict
) -> None:
    args = await signed_mint(rig, "minted, answer lost")
    before = rig.active_ids()
    rig.state.faults.add("POST", MINT, **fault)
    r = await call(rig, "mint_web3_key", args)
    sc = r.structured_content
    new = rig.active_ids() - before
    assert not r.is_error and sc["status"] == "created_secret_lost", text(r)
    assert len(new) == 1 and sc["id"] in new
    assert f"Created: id {sc['id']}" in text(r) and "secret was lost" in text(r) and "Revoke it?" in text(r)
    assert "secret_file" not in sc
    assert rig.log.count("POST", MINT) == 1  # reconciled by reading back, never resent
    entry = rig.runtime.audit.recent(1)[0]
    assert (entry.tool, entry.key_id, entry.outcome) == ("mint_web3_key", sc["id"], "created_secret_lost")


async def test_mint_answered_with_a_gateway_error_is_reconciled_as_not_created(rig: Rig) -> None:
    args = await signed_mint(rig, "gateway error")
    before = rig.active_ids()
    rig.state.faults.add("POST", MINT, status=502)
    r = await call(rig, "mint_web3_key", args)
    assert not r.is_error and r.structured_content["status"] == "not_created", text(r)
    assert "HTTP 502" in text(r) and "safe to call mint_web3_key again" in text(r)
    assert rig.active_ids() == before and rig.log.count("POST", MINT) == 1
    entry = rig.runtime.audit.recent(1)[0]
    assert (entry.tool, entry.key_id, entry.outcome) == ("mint_web3_key", None, "not_created")


async def test_mint_dropped_before_sending_in_process_is_a_clear_error(rig: Rig) -> None:
    args = await signed_mint(rig, "never sent")
    before = rig.active_ids()
    rig.state.faults.add("POST", MINT, drop="before")
    r = await call(rig, "mint_web3_key", args)
    assert r.is_error and "Not created" in text(r) and "nothing changed" in text(r)
    assert rig.active_ids() == before and rig.log.count("POST", MINT) == 1
    entry = rig.runtime.audit.recent(1)[0]
    assert (entry.tool, entry.outcome) == ("mint_web3_key", "failed")


async def test_mint_without_a_key_list_to_check_says_outcome_unknown(tmp_path: Path) -> None:
    """With no ADMIN key the server can mint (Venice needs none) but not look for the key afterwards."""
    state = seeded_state()
    rig = build_rig(tmp_path, state=state, admin_key=state.demo.inference_key, timeout=0.5)
    args = await signed_mint(rig, "unlistable")
    before = rig.active_ids()
    rig.state.faults.add("POST", MINT, drop="after")
    r = await call(rig, "mint_web3_key", args)
    assert not r.is_error and r.structured_content["status"] == "outcome_unknown", text(r)
    assert "Do not mint it again yet" in text(r) and "«unlistable»" in text(r)
    assert len(rig.active_ids() - before) == 1 and rig.log.count("POST", MINT) == 1
    assert rig.runtime.audit.recent(1)[0].outcome == "outcome_unknown"
