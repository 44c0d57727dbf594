"""Promise 3 end to end: every change, refusal and confirmation outcome leaves one checkable entry.

A session of real tool calls over the Client writes the log; the real CLI
(`venice-keys-mcp audit verify`, a subprocess) says it is intact, and finds an edited,
a deleted and a reordered entry. Two servers sharing one log keep one chain. The
`venice-keys://audit/recent` resource shows the entries and no secret. When the log
cannot be written, no change is made; when one entry is lost after a change, the result
still reports the change, with a warning.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer

from tests.server.conftest import answer, runtime_of
from venice_keys_mcp.safety._canonical import canonical_json
from venice_keys_mcp.safety.audit import CANNOT_PROVE, PROVES, head_path, verify

pytestmark = pytest.mark.anyio

SECRET_SHAPE = re.compile(r"VENICE_(?:ADMIN|INFERENCE)_KEY_[A-Za-z0-9_-]{16,}")
CLI_TIMEOUT = 30
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def text(r: Any) -> str:
    return "\n".join(c.text for c in r.content if getattr(c, "text", None))


@pytest.fixture
def server(make_server: Any) -> MCPServer:
    """The session below relays a token, so the operator chose that flow: VENICE_KEYS_CONFIRM=agent."""
    return make_server(confirm="agent")


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines()


def entries(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines(path)]


def verify_cli(path: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`venice-keys-mcp audit verify --file <path>`, as a person would run it (this test's key folder)."""
    script = Path(sys.executable).with_name("venice-keys-mcp")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "venice_keys_mcp"]
    return subprocess.run(
        [*command, "audit", "verify", "--file", str(path)],
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        stdin=subprocess.DEVNULL,
        env={k: v for k, v in os.environ.items() if not k.startswith("VENICE")} | (env or {}),
    )


def victims(server: MCPServer) -> list[Any]:
    rt = runtime_of(server)
    state = rt.sandbox
    return [k for k in state.keys.values() if k.id != state.demo.admin_key_id and not state.is_expired(k)]


async def session(server: MCPServer, mode: str) -> list[tuple[str, str | None, str, str]]:
    """A realistic session; returns the (tool, key_id, confirmation, outcome) entries it must leave."""
    keys = victims(server)
    capped = next(k for k in keys if k.limits.get("usd") is not None)
    doomed, spared = [k for k in keys if k.id != capped.id][:2]
    expected: list[tuple[str, str | None, str, str]] = []
    async with Client(server, mode=mode) as c:
        # Reads and bad arguments leave nothing.
        await c.call_tool("list_keys", {})
        await c.call_tool("get_key", {"key_id": capped.id})
        assert (await c.call_tool("create_key", {"description": "x" * 65})).is_error
        created = await c.call_tool("create_key", {"description": "audited", "usd_limit": 5})
        expected.append(("create_key", None, "not_needed", "created"))
        new_id = created.structured_content["id"]
        await c.call_tool("patch_key", {"key_id": new_id, "usd_limit": 2})
        expected.append(("patch_key", new_id, "not_needed", "updated"))
        widen = {"key_id": capped.id, "usd_limit": 400}
        ask = await c.call_tool("patch_key", widen)
        expected.append(("patch_key", capped.id, "agent", "confirmation_required"))
        token = ask.structured_content["confirmation_token"]
        await c.call_tool("patch_key", {**widen, "confirmation_token": token})
        expected.append(("patch_key", capped.id, "agent", "updated"))
        await c.call_tool("patch_key", {"key_id": capped.id, "usd_limit": 800, "confirmation_token": token})
        expected.append(("patch_key", capped.id, "agent", "refused"))  # a token for other arguments
        refused = await c.call_tool("create_key", {"description": "root", "key_type": "ADMIN"})
        assert refused.is_error
        expected.append(("create_key", None, "policy", "refused"))
    async with Client(server, mode=mode, elicitation_callback=answer("decline")) as c:
        await c.call_tool("revoke_key", {"key_id": spared.id})
        expected.append(("revoke_key", spared.id, "elicitation", "declined"))
    async with Client(server, mode=mode, elicitation_callback=answer("accept", {"last6": doomed.last6})) as c:
        await c.call_tool("revoke_key", {"key_id": doomed.id})
        expected.append(("revoke_key", doomed.id, "elicitation", "revoked"))
    return expected


# -- one entry per outcome, chained --------------------------------------------------------


async def test_every_change_refusal_and_confirmation_outcome_leaves_one_entry(server, mode):
    expected = await session(server, mode)
    path = runtime_of(server).audit.path
    log = entries(path)
    got = [(e["tool"], e["key_id"], e["confirmation"], e["outcome"]) for e in log]
    created_id = log[0]["key_id"]
    assert created_id and got == [
        (t, created_id if (t, o) == ("create_key", "created") else k, c, o) for t, k, c, o in expected
    ]
    raw = lines(path)
    for i, e in enumerate(log):
        assert e["seq"] == i + 1 and ISO_MS.match(e["time"])
        assert re.fullmatch(r"sha256:[0-9a-f]{64}", e["args_digest"])
        assert e["prev"] == ("0" * 64 if i == 0 else hashlib.sha256(raw[i - 1]).hexdigest())
    # The same call leaves the same digest, whether it was previewed, confirmed or replayed.
    widen = [e["args_digest"] for e in log if e["tool"] == "patch_key" and e["confirmation"] == "agent"]
    assert len(widen) == 3 and widen[0] == widen[1] != widen[2]
    assert len({e["args_digest"] for e in log}) < len(log)


async def test_audit_log_and_head_are_private(server, mode):
    await session(server, mode)
    path = runtime_of(server).audit.path
    for p in (path, path.with_name(path.name + ".head")):
        assert p.stat().st_mode & 0o777 == 0o600, p


# -- `venice-keys-mcp audit verify` ----------------------------------------------------------


@pytest.fixture
async def written_log(server: MCPServer) -> Path:
    await session(server, "legacy")
    return runtime_of(server).audit.path


async def test_verify_says_intact_after_a_real_session(written_log):
    done = verify_cli(written_log)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "intact" in done.stdout and f"{len(lines(written_log))} entries" in done.stdout
    assert PROVES in done.stdout and CANNOT_PROVE in done.stdout  # what it proves, and what not


async def test_verify_fails_when_the_newest_entries_go_with_the_head_file(written_log):
    raw = lines(written_log)
    written_log.write_bytes(b"\n".join(raw[:-2]) + b"\n")
    head_path(written_log).unlink()
    done = verify_cli(written_log)
    assert done.returncode == 1 and "BROKEN" in done.stdout, done.stdout + done.stderr
    assert f"line {len(raw) - 1}: the head file audit.jsonl.head is missing" in done.stdout


async def test_verify_fails_when_entries_are_dropped_and_rechained_without_the_key(written_log):
    raw = lines(written_log)
    kept = [json.loads(line) for line in raw if json.loads(line)["outcome"] != "revoked"]
    assert len(kept) == len(raw) - 1  # the revocation is the entry someone wants gone
    prev, forged = "0" * 64, []
    for seq, entry in enumerate(kept, start=1):
        entry.update(seq=seq, prev=prev)
        # The best a forger without the key can do: a fresh MAC under a key of their own.
        body = {k: v for k, v in entry.items() if k != "mac"}
        entry["mac"] = hmac.new(os.urandom(32), canonical_json(body).encode(), hashlib.sha256).hexdigest()
        line = json.dumps(entry, separators=(",", ":")).encode()
        forged.append(line)
        prev = hashlib.sha256(line).hexdigest()
    written_log.write_bytes(b"\n".join(forged) + b"\n")
    head_path(written_log).unlink()
    done = verify_cli(written_log)
    assert done.returncode == 1 and "line 1: MAC mismatch" in done.stdout, done.stdout + done.stderr


async def test_instances_sharing_a_signing_key_write_and_verify_one_keyed_log(make_server, mode, tmp_path):
    key = secrets.token_hex(32)
    for description in ("one", "two"):  # two instances, one log, one signing key
        async with Client(make_server(signing_key=key), mode=mode) as c:
            assert (await c.call_tool("create_key", {"description": description})).structured_content
    path = tmp_path / "audit.jsonl"
    done = verify_cli(path, {"VENICE_KEYS_SIGNING_KEY": key})
    assert done.returncode == 0 and "2 entries" in done.stdout, done.stdout + done.stderr
    assert "derived from VENICE_KEYS_SIGNING_KEY" in done.stdout
    without = verify_cli(path)  # the key file is not the key these entries were written with
    assert without.returncode == 1 and "which this check does not have" in without.stdout, without.stdout


def _edit(raw: list[bytes]) -> list[bytes]:
    entry = json.loads(raw[1])
    entry["outcome"] = "declined"  # a change that happened, made to look like it did not
    return [raw[0], json.dumps(entry).encode(), *raw[2:]]


TAMPERING: dict[str, tuple[Callable[[list[bytes]], list[bytes]], Callable[[int], int]]] = {
    "edited": (_edit, lambda n: 2),
    "deleted": (lambda raw: [raw[0], *raw[2:]], lambda n: 2),
    "reordered": (lambda raw: [raw[0], raw[2], raw[1], *raw[3:]], lambda n: 2),
    "newest deleted": (lambda raw: raw[:-1], lambda n: n),  # only the head file shows this one
}


@pytest.mark.parametrize("how", list(TAMPERING))
async def test_verify_finds_the_first_broken_line(written_log, how):
    tamper, broken_line = TAMPERING[how]
    raw = lines(written_log)
    written_log.write_bytes(b"\n".join(tamper(raw)) + b"\n")
    done = verify_cli(written_log)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "BROKEN" in done.stdout and f"line {broken_line(len(raw))}:" in done.stdout, done.stdout


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    path = tmp_path / "victim.txt"
    path.write_text("not the server's\n")
    path.chmod(0o644)
    return path


async def test_a_symlink_planted_at_the_audit_log_refuses_every_change(make_server, mode, tmp_path, victim):
    link = tmp_path / "linked" / "audit.jsonl"
    link.parent.mkdir()
    link.symlink_to(victim)
    server = make_server(audit_log=link)
    async with Client(server, mode=mode) as c:
        r = await c.call_tool("create_key", {"description": "through a link"})
    assert r.is_error and f"{link} is a symlink; refusing to follow it" in text(r), text(r)
    assert victim.read_text() == "not the server's\n" and victim.stat().st_mode & 0o777 == 0o644
    assert len(runtime_of(server).sandbox.keys) == len(runtime_of(make_server()).sandbox.keys)


async def test_a_symlink_at_the_used_tokens_file_refuses_the_token(make_server, mode, tmp_path, victim):
    server = make_server(signing_key=secrets.token_hex(32), confirm="agent")
    spent = tmp_path / "state" / "sandbox" / "used-tokens"
    spent.parent.mkdir(parents=True, exist_ok=True)
    spent.symlink_to(victim)
    capped = next(k for k in victims(server) if k.limits.get("usd") is not None)
    widen = {"key_id": capped.id, "usd_limit": 400}
    async with Client(server, mode=mode) as c:
        token = (await c.call_tool("patch_key", widen)).structured_content["confirmation_token"]
        r = await c.call_tool("patch_key", {**widen, "confirmation_token": token})
    assert r.structured_content["status"] == "refused" and "is a symlink" in text(r), text(r)
    assert capped.limits.get("usd") != 400
    assert victim.read_text() == "not the server's\n" and victim.stat().st_mode & 0o777 == 0o644


async def test_verify_missing_log_exits_2(tmp_path):
    done = verify_cli(tmp_path / "nowhere.jsonl")
    assert done.returncode == 2 and "not found" in done.stdout


async def test_chain_continues_across_two_servers_sharing_the_log(make_server, mode):
    first, second = make_server(), make_server()  # same tmp_path: the same audit log
    path = runtime_of(first).audit.path
    assert runtime_of(second).audit.path == path
    for server, description in ((first, "from one"), (second, "from two"), (first, "one again")):
        async with Client(server, mode=mode) as c:
            r = await c.call_tool("create_key", {"description": description})
        assert r.structured_content["status"] == "created", text(r)
    log, raw = entries(path), lines(path)
    assert [e["seq"] for e in log] == [1, 2, 3]
    assert log[1]["prev"] == hashlib.sha256(raw[0]).hexdigest()
    assert log[2]["prev"] == hashlib.sha256(raw[1]).hexdigest()
    done = verify_cli(path)
    assert done.returncode == 0 and "intact" in done.stdout, done.stdout


# -- the audit resource ------------------------------------------------------------------------


async def test_audit_resource_is_listed_and_shows_recent_entries_without_secrets(server, mode):
    rt = runtime_of(server)
    async with Client(server, mode=mode, elicitation_callback=answer("accept", {"show_secret": True})) as c:
        listed = {str(r.uri): r for r in (await c.list_resources()).resources}
        shown = await c.call_tool("create_key", {"description": "revealed", "reveal_secret": True})
        secret = shown.structured_content["secret"]
        await c.call_tool("create_key", {"description": "root", "key_type": "ADMIN"})  # refused
        read = await c.read_resource("venice-keys://audit/recent")
    assert "venice-keys://audit/recent" in listed
    assert listed["venice-keys://audit/recent"].mime_type == "application/json"
    body = read.contents[0].text
    assert secret not in body and rt.settings.admin_key.get_secret_value() not in body
    assert not SECRET_SHAPE.search(body)
    recent = json.loads(body)
    assert recent == entries(rt.audit.path)
    assert [(e["tool"], e["outcome"]) for e in recent] == [
        ("create_key", "created"),
        ("create_key", "refused"),
    ]


async def test_audit_resource_sees_entries_made_after_a_first_read(server, mode):
    async with Client(server, mode=mode) as c:
        before = json.loads((await c.read_resource("venice-keys://audit/recent")).contents[0].text)
        await c.call_tool("create_key", {"description": "later"})
        after = json.loads((await c.read_resource("venice-keys://audit/recent")).contents[0].text)
    assert before == [] and [e["outcome"] for e in after] == ["created"]


# -- when the log cannot be written --------------------------------------------------------------


@pytest.fixture
def blocked_log(tmp_path: Path) -> Path:
    """An audit log path that cannot be created: its directory is a regular file."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("in the way\n")
    return blocker / "audit.jsonl"


@pytest.mark.eras
async def test_unwritable_log_refuses_every_change_before_asking(make_server, mode, blocked_log, caplog):
    with caplog.at_level(logging.ERROR, logger="venice_keys_mcp.audit"):
        server = make_server(audit_log=blocked_log, allow_admin_keys=True)
    assert any("VENICE_KEYS_AUDIT_LOG" in r.getMessage() for r in caplog.records), "not said at start-up"
    state = runtime_of(server).sandbox
    before = {k: (v.description, dict(v.limits)) for k, v in state.keys.items()}
    victim = victims(server)[0]
    seen: list[str] = []
    async with Client(
        server, mode=mode, elicitation_callback=answer("accept", {"last6": victim.last6}, seen)
    ) as c:
        calls = [
            ("revoke_key", {"key_id": victim.id}),
            ("create_key", {"description": "untraceable"}),
            ("create_key", {"description": "untraceable admin", "key_type": "ADMIN"}),
            ("patch_key", {"key_id": victim.id, "description": "renamed"}),
        ]
        for tool, args in calls:
            r = await c.call_tool(tool, args)
            assert r.is_error, text(r)
            assert "VENICE_KEYS_AUDIT_LOG" in text(r) and "nothing was changed" in text(r).lower()
        reads = await c.call_tool("list_keys", {})
    assert not reads.is_error
    assert seen == [], "nobody should be asked to approve a change that cannot be recorded"
    assert {k: (v.description, dict(v.limits)) for k, v in state.keys.items()} == before


@pytest.mark.eras
async def test_lost_entry_after_a_change_is_reported_with_the_change(server, mode, caplog):
    rt = runtime_of(server)
    state = rt.sandbox
    victim = victims(server)[0]
    path = rt.audit.path

    def disk_gives_out() -> None:
        # The change is applied; now the log breaks before its entry can be written.
        state.on_change = None
        if path.exists():
            path.unlink()
        path.mkdir()

    async with Client(server, mode=mode, elicitation_callback=answer("accept", {"last6": victim.last6})) as c:
        state.on_change = disk_gives_out
        with caplog.at_level(logging.ERROR, logger="venice_keys_mcp.audit"):
            r = await c.call_tool("revoke_key", {"key_id": victim.id})
        after = await c.call_tool("create_key", {"description": "now refused"})
    sc = r.structured_content
    assert not r.is_error and sc["status"] == "revoked", text(r)
    assert "could not be written to the audit log" in sc["message"] and "revoked" in sc["message"]
    assert "could not be written to the audit log" in text(r)
    assert victim.id not in state.keys
    assert any(
        "AUDIT ENTRY LOST" in rec.getMessage() and victim.id in rec.getMessage() for rec in caplog.records
    )
    # From then on the guard refuses changes until the log is fixed.
    assert after.is_error and "VENICE_KEYS_AUDIT_LOG" in text(after)


# -- refusals before Venice is asked, and confirmation switched off ------------------------------


def assert_chain_intact(path: Path, count: int) -> None:
    report = verify(path)
    assert report.ok and report.entries == count, report


async def test_21st_creation_in_a_minute_is_refused_with_an_entry(server, mode):
    async with Client(server, mode=mode) as c:
        for i in range(20):
            assert not (await c.call_tool("create_key", {"description": f"batch {i}"})).is_error
        r = await c.call_tool("create_key", {"description": "one too many"})
    assert r.is_error and "20 key creations a minute" in text(r), text(r)
    path = runtime_of(server).audit.path
    log = entries(path)
    assert [e["outcome"] for e in log] == ["created"] * 20 + ["refused"]
    last = log[-1]
    assert (last["tool"], last["key_id"], last["confirmation"]) == ("create_key", None, "not_needed")
    assert "rate limit" in last["detail"] and "20 key creations a minute" in last["detail"]
    assert_chain_intact(path, 21)


async def test_creation_at_500_active_keys_is_refused_with_an_entry(make_server, mode):
    server = make_server(sandbox_keys=500)
    async with Client(server, mode=mode) as c:
        r = await c.call_tool("create_key", {"description": "one more"})
    assert r.is_error and "500 active keys" in text(r), text(r)
    path = runtime_of(server).audit.path
    (entry,) = entries(path)
    assert (entry["tool"], entry["outcome"]) == ("create_key", "refused")
    assert "active key limit" in entry["detail"] and "500 active keys" in entry["detail"]
    assert_chain_intact(path, 1)


async def test_read_only_refusals_leave_entries_and_the_chain_verifies(make_server, mode):
    server = make_server(read_only=True)
    key_id = runtime_of(server).sandbox.demo.inference_key_id
    async with Client(server, mode=mode) as c:
        assert (await c.call_tool("revoke_key", {"key_id": key_id})).is_error
        assert (await c.call_tool("create_key", {"description": "read-only"})).is_error
        assert not (await c.call_tool("list_keys", {})).is_error  # reads leave nothing
    path = runtime_of(server).audit.path
    got = [(e["tool"], e["key_id"], e["confirmation"], e["outcome"]) for e in entries(path)]
    assert got == [("revoke_key", key_id, "policy", "refused"), ("create_key", None, "policy", "refused")]
    assert all("VENICE_KEYS_READ_ONLY" in e["detail"] for e in entries(path))
    assert_chain_intact(path, 2)


def start_and_stop(tmp_path: Path, confirm: str) -> subprocess.CompletedProcess[str]:
    """Start the server process with stdin at end-of-file: it starts up, then stops at once."""
    script = Path(sys.executable).with_name("venice-keys-mcp")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "venice_keys_mcp"]
    env = {
        "HOME": str(tmp_path),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_CONFIG_HOME": os.environ["XDG_CONFIG_HOME"],  # the audit key `verify_cli` reads too
        "VENICE_KEYS_SECRETS_DIR": str(tmp_path / "secrets"),
        "VENICE_KEYS_AUDIT_LOG": str(tmp_path / "audit.jsonl"),
    }
    return subprocess.run(
        [*command, "--sandbox", "--confirm", confirm],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=CLI_TIMEOUT * 2,
    )


def test_confirmation_off_is_recorded_in_the_audit_log_at_each_start(tmp_path):
    path = tmp_path / "audit.jsonl"
    for confirm in ("off", "auto", "elicit", "off"):
        done = start_and_stop(tmp_path, confirm)
        assert done.returncode == 0, done.stderr[-2000:]
    log = entries(path)
    assert len(log) == 2, log  # one per start in off mode, none otherwise
    for e in log:
        assert (e["tool"], e["key_id"], e["confirmation"], e["outcome"]) == (
            "server",
            None,
            "off",
            "confirmation_off",
        )
        assert "VENICE_KEYS_CONFIRM=off" in e["detail"]
    done = verify_cli(path)
    assert done.returncode == 0 and "intact" in done.stdout, done.stdout + done.stderr
