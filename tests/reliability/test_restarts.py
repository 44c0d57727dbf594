"""Restarts lose nothing: the audit chain continues, old tokens are handled cleanly, and the
sandbox's `--state` file survives a kill -9 in the middle of writing it.

A "restart" of the MCP server is a second `build_server` over the same files (audit log,
secrets directory) and the same Venice: everything a process keeps in memory is gone,
which is exactly what a restart does. The sandbox restart is a real process killed with
SIGKILL and started again.
"""

from __future__ import annotations

import random
import secrets
import threading
import time
from pathlib import Path

import httpx2
import pytest
from mcp import Client
from support.sandbox_process import running_sandbox

from tests.reliability.rig import Rig, approve_all, build_rig, text
from venice_keys_mcp.safety.audit import verify
from venice_keys_mcp.sandbox import seeded_state
from venice_keys_mcp.sandbox.persist import load_state_file

# A token the server cannot accept is refused, or answered with a fresh preview to approve:
# either way nothing changes and the reason is given.
REFUSED = {"refused", "confirmation_required"}


def restart(rig: Rig, tmp_path: Path, **overrides) -> Rig:
    """A new server process, as far as memory goes: same Venice, same files."""
    return build_rig(tmp_path, state=rig.state, **overrides)


@pytest.mark.anyio
async def test_audit_chain_continues_across_restarts(tmp_path: Path) -> None:
    first = build_rig(tmp_path)
    async with Client(first.server, mode="legacy", elicitation_callback=approve_all(first.state)) as c:
        await c.call_tool("create_key", {"description": "before restart"})
        await c.call_tool("revoke_key", {"key_id": first.victim()})
    await first.runtime.aclose()
    seqs_first = [e.seq for e in first.runtime.audit.recent(50)]

    second = restart(first, tmp_path)
    async with Client(second.server, mode="2026-07-28") as c:
        await c.call_tool("create_key", {"description": "after restart"})
        r = await c.call_tool("create_key", {"description": "x" * 10, "key_type": "ADMIN"})  # a refusal
        assert r.is_error
    await second.runtime.aclose()

    entries = second.runtime.audit.recent(50)
    seqs = [e.seq for e in entries]
    assert seqs_first and seqs == list(range(1, len(seqs) + 1))
    assert seqs[len(seqs_first)] == seqs_first[-1] + 1  # the second process went on from the first's tip
    assert [e.outcome for e in entries][-2:] == ["created", "refused"]
    report = verify(tmp_path / "audit.jsonl")
    assert report.ok and report.entries == len(seqs), report.reason


@pytest.mark.anyio
async def test_token_from_a_previous_process_is_refused_with_a_reason(tmp_path: Path) -> None:
    first = build_rig(tmp_path)  # no signing key configured: a per-process key
    key_id = first.victim()
    async with Client(first.server, mode="legacy") as c:
        token = (await c.call_tool("revoke_key", {"key_id": key_id})).structured_content["confirmation_token"]
    await first.runtime.aclose()

    second = restart(first, tmp_path)
    async with Client(second.server, mode="legacy") as c:
        r = await c.call_tool("revoke_key", {"key_id": key_id, "confirmation_token": token})
    assert not r.is_error and r.structured_content["status"] in REFUSED, text(r)
    assert "another server process (restart?)" in text(r)
    assert key_id in second.active_ids()
    assert second.log.count("DELETE") == 0


@pytest.mark.anyio
async def test_token_from_a_previous_process_is_honoured_with_a_shared_signing_key(tmp_path: Path) -> None:
    key = secrets.token_hex(32)
    first = build_rig(tmp_path, signing_key=key)
    key_id = first.victim()
    async with Client(first.server, mode="legacy") as c:
        token = (await c.call_tool("revoke_key", {"key_id": key_id})).structured_content["confirmation_token"]
    await first.runtime.aclose()

    second = restart(first, tmp_path, signing_key=key)
    async with Client(second.server, mode="2026-07-28") as c:
        r = await c.call_tool("revoke_key", {"key_id": key_id, "confirmation_token": token})
    assert r.structured_content["status"] == "revoked", text(r)
    assert key_id not in second.active_ids()
    assert verify(tmp_path / "audit.jsonl").ok


@pytest.mark.anyio
async def test_token_signed_with_another_key_is_refused_as_altered(tmp_path: Path) -> None:
    first = build_rig(tmp_path, signing_key=secrets.token_hex(32))
    key_id = first.victim()
    async with Client(first.server, mode="legacy") as c:
        token = (await c.call_tool("revoke_key", {"key_id": key_id})).structured_content["confirmation_token"]
    second = restart(first, tmp_path, signing_key=secrets.token_hex(32))  # the operator rotated the key
    async with Client(second.server, mode="legacy") as c:
        r = await c.call_tool("revoke_key", {"key_id": key_id, "confirmation_token": token})
    assert r.structured_content["status"] in REFUSED, text(r)
    assert "signed with a different key" in text(r)
    assert key_id in second.active_ids()


def test_sandbox_state_survives_kill_9_in_the_middle_of_writes(tmp_path: Path) -> None:
    """Creates hammer the sandbox (each one rewrites the state file) until SIGKILL at a random moment.

    Every create answered 200 before the kill must exist after a restart; a create whose
    answer was lost in the kill may or may not.
    """
    state_file = tmp_path / "sandbox-state.json"
    seed = random.randrange(1_000_000)
    kill_after = random.Random(seed).uniform(0.3, 1.2)
    confirmed: list[str] = []
    stop = threading.Event()

    with running_sandbox("--state", str(state_file)) as sandbox:
        sandbox.control(
            "/_sandbox/limits", {"create_limit_per_minute": 1_000_000, "request_budget": 1_000_000}
        )
        admin_key, base_url = sandbox.admin_key, sandbox.base_url

        def hammer() -> None:
            headers = {"Authorization": f"Bearer {admin_key}"}
            with httpx2.Client(base_url=base_url, headers=headers, timeout=5.0) as http:
                i = 0
                while not stop.is_set():
                    i += 1
                    try:
                        r = http.post("/api_keys", json={"apiKeyType": "INFERENCE", "description": f"k{i}"})
                    except httpx2.HTTPError:
                        return  # the kill
                    if r.status_code == 200:
                        confirmed.append(r.json()["data"]["id"])

        worker = threading.Thread(target=hammer, daemon=True)
        worker.start()
        time.sleep(kill_after)
        sandbox.process.kill()  # SIGKILL: no shutdown handler runs
        sandbox.process.wait(5)
        worker.join(10)
        stop.set()
        assert not worker.is_alive()

    print(f"kill -9 after {kill_after:.2f} s: {len(confirmed)} creates confirmed (seed {seed})")
    assert len(confirmed) >= 3, f"too few creates before the kill (seed {seed})"
    assert load_state_file(state_file) is not None, f"state file unreadable after kill -9 (seed {seed})"
    with running_sandbox("--state", str(state_file)) as restarted:
        assert restarted.admin_key == admin_key  # the same account came back
        r = httpx2.get(f"{restarted.base_url}/api_keys", headers={"Authorization": f"Bearer {admin_key}"})
        r.raise_for_status()
        ids = {k["id"] for k in r.json()["data"]}
    missing = [k for k in confirmed if k not in ids]
    assert not missing, (
        f"{len(missing)} of {len(confirmed)} confirmed keys lost (seed {seed}, kill at {kill_after:.2f} s)"
    )
    assert len(ids) <= len(confirmed) + len(seeded_state().keys) + 1  # at most one unconfirmed extra


@pytest.mark.anyio
async def test_a_used_token_stays_used_after_a_restart(tmp_path: Path) -> None:
    """With a shared signing key a token outlives the process, so its single use must too."""
    key = secrets.token_hex(32)
    first = build_rig(tmp_path, signing_key=key, allow_admin_keys=True)
    args = {"description": "ops admin", "key_type": "ADMIN"}
    async with Client(first.server, mode="legacy") as c:
        token = (await c.call_tool("create_key", args)).structured_content["confirmation_token"]
        r = await c.call_tool("create_key", {**args, "confirmation_token": token})
        assert r.structured_content["status"] == "created", text(r)
    admins_before = {
        k.id for k in first.state.active_keys(first.state.demo.account_id) if k.api_key_type == "ADMIN"
    }

    second = restart(first, tmp_path, signing_key=key, allow_admin_keys=True)
    async with Client(second.server, mode="legacy") as c:
        r = await c.call_tool("create_key", {**args, "confirmation_token": token})
    assert r.structured_content["status"] in REFUSED, text(r)
    assert "already used" in text(r)
    admins_after = {
        k.id for k in second.state.active_keys(second.state.demo.account_id) if k.api_key_type == "ADMIN"
    }
    assert admins_after == admins_before
    assert second.log.count("POST") == 0
