"""`venice-keys-mcp sandbox --host --port --state FILE` as users start it: the installed script."""

from __future__ import annotations

import json
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
