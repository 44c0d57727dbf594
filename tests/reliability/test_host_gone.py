"""The host goes away mid-write (closes stdin while Venice is still answering): nothing is lost.

A create whose request is already at Venice still gets its secret saved and its audit
entry written before the process exits; a revoke still gets its entry. Venice is a real
sandbox process, slowed with an injected latency so the host's exit lands mid-request.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx2

from tests.support.sandbox_process import SandboxProcess, running_sandbox
from tests.support.server_process import REPO_ROOT, server_command, server_env

LATENCY = 1.5  # how long Venice takes to answer the write
EXIT_TIMEOUT = 30


def message(id_: int, method: str, params: dict[str, Any] | None = None) -> bytes:
    body = {"jsonrpc": "2.0", "id": id_, "method": method, "params": params or {}}
    return json.dumps(body).encode() + b"\n"


HANDSHAKE = message(
    1,
    "initialize",
    {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "gone", "version": "0"}},
) + json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}).encode() + b"\n"


def call_then_leave(sandbox: SandboxProcess, tmp_path: Path, tool: str, arguments: dict[str, Any]) -> int:
    """Ask for one write, then close stdin while Venice is still on it; the server's exit code."""
    env = server_env(
        tmp_path,
        VENICE_BASE_URL=sandbox.base_url,
        VENICE_ADMIN_KEY=sandbox.admin_key,
        VENICE_KEYS_CONFIRM="off",  # the write goes straight out: no form to answer
    )
    with (tmp_path / "stderr").open("wb") as err:
        process = subprocess.Popen(
            server_command(), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err, env=env,
            cwd=REPO_ROOT,
        )  # fmt: skip
        assert process.stdin is not None
        try:
            process.stdin.write(HANDSHAKE + message(2, "tools/call", {"name": tool, "arguments": arguments}))
            process.stdin.flush()
            deadline = time.monotonic() + EXIT_TIMEOUT
            while sandbox.control("/_sandbox/faults", method="GET")["pending"]:  # not at Venice yet
                assert time.monotonic() < deadline and process.poll() is None, "never reached Venice"
                time.sleep(0.02)
            process.stdin.close()  # the host is gone; Venice is still on the write for LATENCY s
            return process.wait(EXIT_TIMEOUT)
        finally:
            if process.poll() is None:
                process.kill()


def audit(tmp_path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]


def active_keys(sandbox: SandboxProcess) -> list[dict[str, Any]]:
    answer = httpx2.get(
        f"{sandbox.base_url}/api_keys", headers={"Authorization": f"Bearer {sandbox.admin_key}"}, timeout=10
    )
    return answer.json()["data"]


def test_a_create_under_way_when_the_host_leaves_still_saves_its_secret(tmp_path: Path) -> None:
    with running_sandbox() as sandbox:
        sandbox.add_fault("POST", "/api_keys", latency=LATENCY, times=1)
        code = call_then_leave(sandbox, tmp_path, "create_key", {"description": "made as the host left"})
        made = [k for k in active_keys(sandbox) if k["description"] == "made as the host left"]

    assert code == 0, (tmp_path / "stderr").read_text()
    assert len(made) == 1  # Venice made it once
    entry = audit(tmp_path)[-1]
    assert (entry["tool"], entry["outcome"], entry["key_id"]) == ("create_key", "created", made[0]["id"])
    secret_file = tmp_path / "secrets" / f"{made[0]['id']}.key"
    assert secret_file.read_text().splitlines()[0].endswith(made[0]["last6Chars"])


def test_a_revoke_under_way_when_the_host_leaves_is_still_audited(tmp_path: Path) -> None:
    with running_sandbox() as sandbox:
        victim = next(k for k in active_keys(sandbox) if k["apiKeyType"] == "INFERENCE")
        sandbox.add_fault("DELETE", "/api_keys", latency=LATENCY, times=1)
        code = call_then_leave(sandbox, tmp_path, "revoke_key", {"key_id": victim["id"]})
        still_there = {k["id"] for k in active_keys(sandbox)}

    assert code == 0, (tmp_path / "stderr").read_text()
    assert victim["id"] not in still_there
    entry = audit(tmp_path)[-1]
    assert (entry["tool"], entry["outcome"], entry["key_id"]) == ("revoke_key", "revoked", victim["id"])
