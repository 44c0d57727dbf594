"""`venice-keys-mcp approve` on a real pseudo-terminal: the person's side of the terminal channel.

The server runs in process (a client with neither forms nor Apps); the command runs as a
real process on a `pty`, sharing the server's state folder and audit log through the
same settings a person's shell would have. What it prints is read from the terminal.
"""

from __future__ import annotations

import getpass
import os
import select
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from support.server_process import REPO_ROOT, run_cli, server_env

from tests.server.conftest import runtime_of
from tests.server.test_confirmation import audit, risky, snapshot, text

pytestmark = pytest.mark.anyio

#: A hang guard only: a prompt that never comes fails the test instead of blocking the suite.
WAIT = 30.0


class Terminal:
    """One `venice-keys-mcp approve --sandbox` on a pseudo-terminal, read and typed into like a person."""

    def __init__(self, env: dict[str, str]) -> None:
        self.master, slave = os.openpty()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "venice_keys_mcp", "approve", "--sandbox"],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            cwd=REPO_ROOT,
            start_new_session=True,
        )
        os.close(slave)
        self.screen = ""

    def read_until(self, needle: str) -> str:
        while needle not in self.screen:
            ready, _, _ = select.select([self.master], [], [], WAIT)
            if not ready:
                raise AssertionError(f"no {needle!r} on the terminal; it shows:\n{self.screen}")
            try:
                chunk = os.read(self.master, 4096)
            except OSError:  # the other side closed
                chunk = b""
            if not chunk:
                raise AssertionError(f"the terminal closed before {needle!r}; it shows:\n{self.screen}")
            self.screen += chunk.decode("utf-8", "replace")
        return self.screen

    def type(self, line: str) -> None:
        os.write(self.master, line.encode() + b"\r")

    def finish(self) -> int:
        try:
            code = self.proc.wait(timeout=WAIT)
            while True:  # what it printed last
                ready, _, _ = select.select([self.master], [], [], 0.2)
                if not ready:
                    break
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                self.screen += chunk.decode("utf-8", "replace")
            return code
        finally:
            os.close(self.master)


def person_env(server: Any, tmp_path: Path) -> dict[str, str]:
    """The person's shell: the same state folder and audit log as the server."""
    rt = runtime_of(server)
    return server_env(
        tmp_path,
        VENICE_KEYS_STATE_DIR=str(rt.settings.state_dir),
        VENICE_KEYS_AUDIT_LOG=str(rt.audit.path),
    )


async def test_approve_lists_refuses_the_wrong_text_and_accepts_the_right_one(server, mode, tmp_path):
    call = risky(server, "revoke")
    before = snapshot(server)
    async with Client(server, mode=mode) as c:
        ask = await c.call_tool(call.tool, call.args)
        aid = ask.structured_content["approval_id"]

        wrong = Terminal(person_env(server, tmp_path))
        screen = wrong.read_until("to approve")
        assert aid in screen and "revoke a key" in screen and call.args["key_id"] in screen
        wrong.type(call.refuse["last6"])
        wrong.read_until("does not match")
        assert wrong.finish() == 0
        still = await c.call_tool(call.tool, {**call.args, "approval_id": aid})
        assert still.structured_content["status"] == "awaiting_approval" and snapshot(server) == before

        right = Terminal(person_env(server, tmp_path))
        right.read_until("to approve")
        right.type(call.approve["last6"])
        right.read_until("Approved")
        assert right.finish() == 0
        done = await c.call_tool(call.tool, {**call.args, "approval_id": aid})
    assert done.structured_content["status"] == "revoked", text(done)
    assert call.done(runtime_of(server).sandbox)
    log = audit(server)
    user = getpass.getuser()
    at_terminal = [e for e in log if e["outcome"] == "approved_at_terminal"]
    assert len(at_terminal) == 1 and user in at_terminal[0]["detail"]
    assert log[-1]["outcome"] == "revoked" and log[-1]["confirmation"] == "terminal"
    assert f"by {user}" in log[-1]["detail"]


async def test_approve_decline_changes_nothing(server, mode, tmp_path):
    call = risky(server, "revoke")
    before = snapshot(server)
    async with Client(server, mode=mode) as c:
        aid = (await c.call_tool(call.tool, call.args)).structured_content["approval_id"]
        term = Terminal(person_env(server, tmp_path))
        term.read_until("to approve")
        term.type("no")
        term.read_until("Declined")
        assert term.finish() == 0
        r = await c.call_tool(call.tool, {**call.args, "approval_id": aid})
    assert r.structured_content["status"] == "declined" and snapshot(server) == before


async def test_approve_shows_a_new_secret_on_the_terminal_only(server, mode, tmp_path):
    async with Client(server, mode=mode) as c:
        r = await c.call_tool("create_key", {"description": "for the terminal", "reveal_secret": True})
    sc = r.structured_content
    secret = Path(sc["secret_file"]).read_text().splitlines()[0]
    assert "secret" not in sc and secret not in r.model_dump_json()
    term = Terminal(person_env(server, tmp_path))
    term.read_until("Show the secret here")
    term.type("y")
    screen = term.read_until(secret)
    assert term.finish() == 0
    assert "shown once" in screen
    again = Terminal(person_env(server, tmp_path))
    assert again.finish() == 0 and secret not in again.screen and "No pending approvals" in again.screen


def test_approve_refuses_to_run_without_a_terminal(tmp_path):
    done = run_cli("approve", "--sandbox", env=server_env(tmp_path, VENICE_KEYS_STATE_DIR=str(tmp_path)))
    assert done.returncode == 2
    assert "without a terminal" in done.stderr and done.stdout == ""
