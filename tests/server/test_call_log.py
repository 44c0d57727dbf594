"""A person running the server in a terminal sees one line per tool call on stderr, at the default level."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp import Client
from mcp.client.stdio import stdio_client

from tests.support.server_process import server_env, stdio_params

pytestmark = pytest.mark.anyio


async def calls_with_stderr(tmp_path: Path, *flags: str) -> str:
    env = server_env(tmp_path)
    stderr_path = tmp_path / "stderr.log"
    with stderr_path.open("wb") as errlog:
        transport = stdio_client(stdio_params("--sandbox", *flags, env=env), errlog=errlog)  # type: ignore[arg-type]
        async with Client(transport, mode="legacy") as c:
            listed = await c.call_tool("list_keys", {})
            assert not listed.is_error
            missing = await c.call_tool("get_key", {"key_id": "00000000-0000-0000-0000-000000000000"})
            assert missing.is_error
            victim = listed.structured_content["keys"][-1]["id"]
            asked = await c.call_tool("revoke_key", {"key_id": victim})  # no forms: a token comes back
            assert asked.structured_content["status"] == "confirmation_required"
    return stderr_path.read_text()


async def test_each_call_is_one_info_line_with_its_outcome(tmp_path: Path) -> None:
    stderr = await calls_with_stderr(tmp_path)
    lines = [line for line in stderr.splitlines() if "tools/call" in line]
    assert len(lines) == 3, stderr
    assert " INFO venice_keys_mcp.calls: tools/call list_keys: ok in " in lines[0]
    assert "tools/call get_key: error in " in lines[1]
    assert "tools/call revoke_key: confirmation_required in " in lines[2]
    assert all(line.endswith(" ms") for line in lines)
    assert "00000000-0000" not in "\n".join(lines)  # arguments stay out of the log


async def test_log_level_warning_keeps_the_terminal_quiet(tmp_path: Path) -> None:
    stderr = await calls_with_stderr(tmp_path, "--log-level", "WARNING")
    assert "tools/call" not in stderr
    assert "serving MCP over stdio" in stderr  # the banner still says how to connect a host
