"""The sandbox as a process on loopback: first line, real sockets, real drops, restarts."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest

from .conftest import RATE_HEADERS

LAUNCH = (
    "import sys; from venice_keys_mcp.sandbox.serve import run; sys.exit(run(port=0, state_file=sys.argv[1]))"
)
FIRST_LINE_KEYS = {
    "base_url",
    "admin_key",
    "inference_key",
    "admin_key_id",
    "wallet_address",
    "wallet_private_key",
    "unstaked_wallet_address",
    "unstaked_wallet_private_key",
}


def _first_line(process: subprocess.Popen[bytes], timeout: float = 15.0) -> dict[str, Any]:
    assert process.stdout is not None
    buffer = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while b"\n" not in buffer:
            assert time.monotonic() < deadline, "the sandbox printed no first line"
            if selector.select(0.1):
                chunk = os.read(process.stdout.fileno(), 65536)
                assert chunk, f"the sandbox exited early with {process.wait()}"
                buffer += chunk
    return json.loads(buffer.split(b"\n", 1)[0])  # type: ignore[no-any-return]


@contextmanager
def sandbox_process(
    state_file: Path, stderr_file: Path
) -> Iterator[tuple[subprocess.Popen[bytes], dict[str, Any]]]:
    with stderr_file.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-c", LAUNCH, str(state_file)], stdout=subprocess.PIPE, stderr=stderr
        )
        try:
            yield process, _first_line(process)
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(5)
            assert process.stdout is not None
            process.stdout.close()


def _stop(process: subprocess.Popen[bytes], sig: int) -> int:
    process.send_signal(sig)
    return process.wait(10)


def test_loopback_sandbox_serves_drops_for_real_and_persists(tmp_path: Path) -> None:
    state_file = tmp_path / "sandbox.json"
    stderr_file = tmp_path / "stderr.txt"
    with sandbox_process(state_file, stderr_file) as (process, info):
        assert set(info) == FIRST_LINE_KEYS
        base_url = info["base_url"]
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/api/v1")
        origin = base_url.removesuffix("/api/v1")
        admin = httpx2.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {info['admin_key']}"}, timeout=10
        )
        with admin:
            listed = admin.get("/api_keys")
            assert listed.status_code == 200 and all(name in listed.headers for name in RATE_HEADERS)
            kept = admin.post(
                "/api_keys", json={"apiKeyType": "INFERENCE", "description": "survives restart"}
            )
            kept_secret = kept.json()["data"]["apiKey"]

            fault = {"method": "POST", "path": "/api_keys", "drop": "after"}
            assert httpx2.post(origin + "/_sandbox/faults", json=fault).status_code == 200
            with pytest.raises((httpx2.RemoteProtocolError, httpx2.ReadError)):
                admin.post("/api_keys", json={"apiKeyType": "INFERENCE", "description": "dropped after"})
            fault = {"method": "POST", "path": "/api_keys", "drop": "before"}
            httpx2.post(origin + "/_sandbox/faults", json=fault)
            with pytest.raises(httpx2.TransportError):
                admin.post("/api_keys", json={"apiKeyType": "INFERENCE", "description": "dropped before"})
            descriptions = [k["description"] for k in admin.get("/api_keys").json()["data"]]
            assert "dropped after" in descriptions and "dropped before" not in descriptions
        assert _stop(process, signal.SIGTERM) == 0

    stderr = stderr_file.read_text()
    assert "VENICE_BASE_URL=" in stderr and "curl" in stderr
    assert "Traceback" not in stderr and "ASGI callable" not in stderr
    assert kept_secret not in state_file.read_text()
    assert oct(state_file.stat().st_mode & 0o777) == "0o600"

    with sandbox_process(state_file, stderr_file) as (process, again):
        assert (again["admin_key"], again["admin_key_id"]) == (info["admin_key"], info["admin_key_id"])
        with httpx2.Client(base_url=again["base_url"], timeout=10) as client:
            mine = client.get("/api_keys/rate_limits", headers={"Authorization": f"Bearer {kept_secret}"})
            assert mine.status_code == 200
            listed = client.get("/api_keys", headers={"Authorization": f"Bearer {again['admin_key']}"}).json()
            assert "survives restart" in [k["description"] for k in listed["data"]]
        assert _stop(process, signal.SIGINT) == 130  # Ctrl-C: interrupted, as the README says
