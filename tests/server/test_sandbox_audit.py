"""Finding 10: the sandbox forgets everything, its audit trail included, yet its log can be checked.

Each `--sandbox` run writes its own log (`<state>/sandbox/audit-<UTC time>-<pid>-<random>.jsonl`),
so a fresh sandbox shows no entry of an earlier run, and `venice-keys-mcp audit verify
--sandbox` checks the newest run's log and says which file it checked. Old runs beyond
the newest ten are removed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from mcp import Client

from tests.server.conftest import runtime_of
from venice_keys_mcp.safety.audit import (
    SANDBOX_RUNS_KEPT,
    head_path,
    new_sandbox_audit_path,
    newest_sandbox_audit_log,
    sandbox_audit_dir,
)
from venice_keys_mcp.server import build_server
from venice_keys_mcp.settings import Settings

pytestmark = pytest.mark.anyio
RUN_TIMEOUT = 60


def sandbox_server(tmp_path: Path):
    """A sandbox server with no audit log configured: the per-run log is what is tested."""
    return build_server(Settings(sandbox=True, secrets_dir=tmp_path / "secrets"))


async def recent(server) -> list[dict]:
    async with Client(server, mode="legacy") as c:
        return json.loads((await c.read_resource("venice-keys://audit/recent")).contents[0].text)


async def test_each_sandbox_run_has_its_own_log_and_a_fresh_one_shows_no_earlier_entry(tmp_path):
    first = sandbox_server(tmp_path)
    async with Client(first, mode="legacy") as c:
        created = await c.call_tool("create_key", {"description": "from the first run"})
    assert created.structured_content["status"] == "created"
    assert [e["outcome"] for e in await recent(first)] == ["created"]

    second = sandbox_server(tmp_path)
    first_log, second_log = runtime_of(first).audit.path, runtime_of(second).audit.path
    assert first_log != second_log and first_log.parent == second_log.parent == sandbox_audit_dir()
    assert second_log.name.startswith("audit-") and second_log.exists()  # created at start, empty
    assert await recent(second) == []  # nothing of the first run
    assert len(first_log.read_bytes().splitlines()) == 1 and second_log.read_bytes() == b""
    assert newest_sandbox_audit_log() == second_log


def cli_env(**extra: str) -> dict[str, str]:
    """This test's environment (its own XDG folders) without any VENICE_* setting."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VENICE")}
    env.update(PYTHONUNBUFFERED="1", **extra)
    return env


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "venice_keys_mcp", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=RUN_TIMEOUT,
    )


def test_audit_verify_sandbox_checks_the_newest_real_runs_log():
    env = cli_env()
    missing = cli("audit", "verify", "--sandbox", env=env)
    assert missing.returncode == 2 and "run venice-keys-mcp --sandbox first" in missing.stdout
    # Two real sandbox processes; with confirmation off each records that at start, then stops (stdin closed).
    for _ in range(2):
        started = cli("--sandbox", "--confirm", "off", env=env)
        assert started.returncode == 0, started.stderr[-2000:]
    logs = sorted(sandbox_audit_dir().glob("audit-*.jsonl"))
    assert len(logs) == 2
    for log in logs:
        (entry,) = [json.loads(line) for line in log.read_bytes().splitlines()]
        assert entry["seq"] == 1 and entry["outcome"] == "confirmation_off"  # each run starts its own chain
    plain = cli("audit", "verify", env=env)  # what a person types first, after the sandbox tour
    assert plain.returncode == 2 and "not found" in plain.stdout
    assert f"wrote {logs[-1]}: check it with venice-keys-mcp audit verify --sandbox" in plain.stdout
    done = cli("audit", "verify", "--sandbox", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    said = f"the newest sandbox run's log (of 2 kept in {sandbox_audit_dir()}): {logs[-1].name}"
    assert said in done.stdout
    assert f"audit log {logs[-1]}: OK — 1 entries, chain intact" in done.stdout

    logs[-1].write_bytes(logs[-1].read_bytes().replace(b"confirmation_off", b"confirmation_on!"))
    broken = cli("audit", "verify", "--sandbox", env=env)
    assert broken.returncode == 1 and "BROKEN" in broken.stdout and logs[-1].name in broken.stdout


def test_old_sandbox_runs_beyond_the_newest_ten_are_removed_with_their_side_files(tmp_path):
    directory = tmp_path / "sandbox"
    start = datetime(2026, 1, 1, tzinfo=UTC)
    dead_pid = 4_194_304 + 1  # above Linux's pid_max: no such process
    made = []
    for i in range(12):
        path = new_sandbox_audit_path(directory, now=lambda i=i: start + timedelta(minutes=i))
        dead = path.with_name(path.name.replace(f"-{os.getpid()}-", f"-{dead_pid}-"))
        dead.write_bytes(b"")  # the run's server made its log, then ended
        head_path(dead).write_text("{}")
        made.append(dead)
    live = new_sandbox_audit_path(directory, now=lambda: start + timedelta(hours=1))
    live.write_bytes(b"")
    left = sorted(directory.glob("audit-*.jsonl"))
    assert len(left) == SANDBOX_RUNS_KEPT and left[-1] == live
    assert left[:-1] == made[-(SANDBOX_RUNS_KEPT - 1) :]
    assert not head_path(made[0]).exists() and head_path(made[-1]).exists()


def test_a_sandbox_still_running_keeps_its_log_when_pruning(tmp_path):
    directory = tmp_path / "sandbox"
    start = datetime(2026, 1, 1, tzinfo=UTC)
    own = new_sandbox_audit_path(directory, now=lambda: start)  # this process: alive
    own.write_bytes(b"")
    for i in range(SANDBOX_RUNS_KEPT + 1):
        new_sandbox_audit_path(directory, now=lambda i=i: start + timedelta(minutes=i + 1)).write_bytes(b"")
    assert own.exists() and len(list(directory.glob("audit-*.jsonl"))) == SANDBOX_RUNS_KEPT + 2


def test_doctor_on_the_sandbox_leaves_no_run_behind():
    from venice_keys_mcp.doctor import run_doctor

    assert run_doctor(Settings(sandbox=True)) == 0
    assert newest_sandbox_audit_log() is None

