"""`venice-keys-mcp sandbox --host --port --state FILE` as users start it: the installed script."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx2
from support.sandbox_process import console_script, running_sandbox

from .conftest import RATE_HEADERS
from .openapi_contract import assert_matches_openapi


def test_the_console_script_prints_its_first_line_and_serves(tmp_path: Path) -> None:
    program = console_script()
    state_file = tmp_path / "state.json"
    with running_sandbox("--host", "127.0.0.1", "--state", str(state_file), program=program) as sandbox:
        assert sandbox.process.args[0] == program[0]  # the script itself, not `python -m`
        assert {"base_url", "admin_key", "inference_key"} <= set(sandbox.info)
        url = urlsplit(sandbox.base_url)
        assert (url.scheme, url.hostname, url.path) == ("http", "127.0.0.1", "/api/v1")
        assert url.port is not None and url.port > 0, "--port 0 is replaced by the real port"
        assert sandbox.admin_key.startswith("VENICE_ADMIN_KEY_")
        assert sandbox.inference_key.startswith("VENICE_INFERENCE_KEY_")

        listed = httpx2.get(
            f"{sandbox.base_url}/api_keys", headers={"Authorization": f"Bearer {sandbox.admin_key}"}
        )
        assert listed.status_code == 200
        assert all(listed.headers[name].isdigit() for name in RATE_HEADERS)
        assert_matches_openapi("GET", "/api_keys", 200, listed.json())
        assert sandbox.admin_key[-6:] in {k["last6Chars"] for k in listed.json()["data"]}

        limits = httpx2.get(
            f"{sandbox.base_url}/api_keys/rate_limits",
            headers={"Authorization": f"Bearer {sandbox.inference_key}"},
        )
        assert limits.status_code == 200
        assert_matches_openapi("GET", "/api_keys/rate_limits", 200, limits.json())

        saved = json.loads(state_file.read_text())
        assert {k["id"] for k in listed.json()["data"]} <= {k["id"] for k in saved["keys"]}
    assert sandbox.process.returncode == 0, "SIGTERM is a clean stop"


def test_the_printed_server_command_works_from_a_shell_without_the_venv_on_path(tmp_path: Path) -> None:
    """`sandbox` prints a command to point the server at it; pasted into another shell, it must run."""
    program = console_script()
    with (tmp_path / "stderr.log").open("w+b") as err:
        process = subprocess.Popen(
            [*program, "sandbox", "--port", "0"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        try:
            deadline = time.monotonic() + 30
            while b"Try it:" not in os.pread(err.fileno(), 1 << 16, 0):
                assert process.poll() is None and time.monotonic() < deadline, "the sandbox did not start"
                time.sleep(0.05)
            lines = os.pread(err.fileno(), 1 << 16, 0).decode().splitlines()
            words = shlex.split(lines[lines.index("Point the MCP server at it:") + 1])
            assignments = dict(w.split("=", 1) for w in words if "=" in w and not w.startswith("/"))
            argv = [w for w in words if w.split("=", 1)[0] not in assignments]
            assert os.path.isabs(argv[0]) and os.access(argv[0], os.X_OK), argv
            shell_env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **assignments}
            doctor = subprocess.run(
                [*argv, "doctor"], env=shell_env, capture_output=True, text=True, timeout=60
            )
        finally:
            process.terminate()
            process.wait(10)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
