"""Restarts lose nothing: the audit chain continues, old tokens are handled cleanly, and the
sandbox's `--state` file survives a kill -9 in the middle of writing it.

A "restart" of the MCP server is a second `build_server` over the same files (audit log,
secrets directory) and the same Venice: everything a process keeps in memory is gone,
which is exactly what a restart does. The sandbox restart is a real process killed with
SIGKILL, at a point of its save chosen through persist's test hook, and started again.
"""

from __future__ import annotations

import json
import random
import secrets
import threading
import time
from pathlib import Path

import httpx2
import pytest
from mcp import Client
from support.sandbox_process import SandboxProcess, running_sandbox

from tests.reliability.rig import Rig, approve_all, build_rig, text
from venice_keys_mcp.safety.audit import verify
from venice_keys_mcp.sandbox import seeded_state
from venice_keys_mcp.sandbox.persist import (
    CRASH_POINT_ENV,
    interrupted_writes,
    load_state_file,
    restore_state,
    save_state,
)

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
    assert second.runtime.audit.verify().ok  # with the audit key the shared signing key gives


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


# Each round kills the sandbox at one of these points of a save: with half the new state in
# the temporary file (not yet synced), and with all of it synced but not yet renamed.
KILL_ROUNDS = ["written", "torn", "written", "torn"]
PAUSE_WAIT = 60.0  # how long the sandbox may take to reach the crash point on a busy machine


def _served_ids(sandbox: SandboxProcess) -> set[str]:
    r = httpx2.get(
        f"{sandbox.base_url}/api_keys", headers={"Authorization": f"Bearer {sandbox.admin_key}"}, timeout=10.0
    )
    r.raise_for_status()
    return {k["id"] for k in r.json()["data"]}


def _saved_ids(raw: bytes) -> set[str]:
    """The demo account's active key ids in a complete state file (raises on a torn one)."""
    state = restore_state(json.loads(raw))
    return {k.id for k in state.active_keys(state.demo.account_id)}


def _create(http: httpx2.Client, description: str) -> str:
    r = http.post("/api_keys", json={"apiKeyType": "INFERENCE", "description": description})
    r.raise_for_status()
    return str(r.json()["data"]["id"])


def _doomed_create(sandbox: SandboxProcess, description: str, outcome: list[BaseException | str]) -> None:
    """The create whose save is held at the crash point: the kill must cut its answer off."""
    headers = {"Authorization": f"Bearer {sandbox.admin_key}"}
    try:
        with httpx2.Client(base_url=sandbox.base_url, headers=headers, timeout=PAUSE_WAIT + 30) as http:
            outcome.append(_create(http, description))
    except httpx2.HTTPError as exc:
        outcome.append(exc)


def test_sandbox_state_survives_kill_9_exactly_mid_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kill -9 lands inside a save (the persist test hook holds the save there), four times.

    After each kill the state file is the last complete state (every answered create, not
    the one being saved), the interrupted temporary file is still there (proof the kill
    was mid-write), and the next start discards it and serves the state file.
    """
    state_file = tmp_path / "sandbox-state.json"
    seed = random.randrange(1_000_000)
    rng = random.Random(seed)
    confirmed: list[str] = []
    expected: set[str] | None = None  # the ids the sandbox must serve: seeded ones plus confirmed
    admin_key: str | None = None

    for round_no, stage in enumerate(KILL_ROUNDS):
        answered = rng.randint(0, 3)  # creates answered before the one whose save is killed
        ready = tmp_path / f"crash-point-{round_no}"
        # Save 1 is the one at start-up; saves 2.. are the creates, so this stops the last one.
        monkeypatch.setenv(CRASH_POINT_ENV, f"{answered + 2}:{stage}:{ready}")
        where = f"round {round_no} ({stage}, {answered} answered creates, seed {seed})"
        with running_sandbox("--state", str(state_file)) as sandbox:
            assert interrupted_writes(state_file) == [], f"start-up left the interrupted write: {where}"
            if admin_key is None:
                admin_key, expected = sandbox.admin_key, _served_ids(sandbox)
            assert sandbox.admin_key == admin_key, f"another account came back: {where}"
            assert _served_ids(sandbox) == expected, f"served keys differ from the saved state: {where}"
            headers = {"Authorization": f"Bearer {admin_key}"}
            with httpx2.Client(base_url=sandbox.base_url, headers=headers, timeout=30.0) as http:
                for i in range(answered):
                    confirmed.append(_create(http, f"r{round_no} k{i}"))
                    expected.add(confirmed[-1])
            before_kill = state_file.read_bytes()
            assert _saved_ids(before_kill) == expected

            outcome: list[BaseException | str] = []
            worker = threading.Thread(
                target=_doomed_create, args=(sandbox, f"r{round_no} killed", outcome), daemon=True
            )
            worker.start()
            deadline = time.monotonic() + PAUSE_WAIT
            while not ready.exists():
                assert time.monotonic() < deadline, f"the save never reached the crash point: {where}"
                assert sandbox.process.poll() is None, f"the sandbox exited before the crash point: {where}"
                time.sleep(0.02)
            temp = Path(ready.read_text())
            sandbox.process.kill()  # SIGKILL, while the save sleeps at the crash point
            sandbox.process.wait(10)
            worker.join(30)
            assert not worker.is_alive()
            assert len(outcome) == 1 and isinstance(outcome[0], httpx2.HTTPError), (where, outcome)

        # The kill landed mid-write: the temporary file exists, the rename never happened.
        assert interrupted_writes(state_file) == [temp], where
        assert state_file.read_bytes() == before_kill, f"the state file changed under the kill: {where}"
        assert _saved_ids(state_file.read_bytes()) == expected, where
        if stage == "written":  # the new state was whole: only the rename was missing
            new_ids = _saved_ids(temp.read_bytes())
            assert expected < new_ids and len(new_ids - expected) == 1, where
        else:
            with pytest.raises(ValueError):
                json.loads(temp.read_bytes())

    monkeypatch.delenv(CRASH_POINT_ENV)
    with running_sandbox("--state", str(state_file)) as restarted:
        assert restarted.admin_key == admin_key
        assert interrupted_writes(state_file) == []
        served = _served_ids(restarted)
    print(f"kill -9 mid-write x{len(KILL_ROUNDS)}: {len(confirmed)} answered creates kept (seed {seed})")
    assert set(confirmed) <= served
    assert served == expected, f"lost {sorted(expected - served)}, unexpected {sorted(served - expected)}"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_loading_discards_only_this_files_interrupted_writes(tmp_path: Path) -> None:
    """Debris of `save_state` for this file goes; other files' temp files and lookalikes stay."""
    state_file = tmp_path / "state.json"
    save_state(seeded_state(seed=3), state_file)
    saved = state_file.read_bytes()
    debris = [tmp_path / ".state.json.a1b2c3d4.tmp", tmp_path / ".state.json.zz.tmp"]
    kept = [tmp_path / ".other.json.a1b2c3d4.tmp", tmp_path / "state.json.tmp", tmp_path / ".state.json.tmp"]
    for p in debris + kept:
        p.write_bytes(b'{"half": ')
    assert interrupted_writes(state_file) == sorted(debris)

    loaded = load_state_file(state_file)

    assert loaded is not None and state_file.read_bytes() == saved
    assert not any(p.exists() for p in debris)
    assert all(p.exists() for p in kept)


def test_the_crash_point_hook_is_inert_unless_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the variable every save completes; with it, a malformed value is refused loudly."""
    monkeypatch.delenv(CRASH_POINT_ENV, raising=False)
    state_file = tmp_path / "state.json"
    for _ in range(3):
        save_state(seeded_state(seed=4), state_file)
    assert load_state_file(state_file) is not None and interrupted_writes(state_file) == []
    monkeypatch.setenv(CRASH_POINT_ENV, f"1:halfway:{tmp_path / 'ready'}")
    with pytest.raises(ValueError, match="stage must be one of"):
        save_state(seeded_state(seed=4), state_file)
    assert interrupted_writes(state_file) == [] and not (tmp_path / "ready").exists()


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
