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
            asked = await c.call_tool("revoke_key", {"key_id": victim})  # no forms, no card: the terminal
            assert asked.structured_content["status"] == "awaiting_approval"
    return stderr_path.read_text()


async def test_each_call_is_one_info_line_with_its_outcome(tmp_path: Path) -> None:
    stderr = await calls_with_stderr(tmp_path)
    lines = [line for line in stderr.splitlines() if "tools/call" in line]
    assert len(lines) == 3, stderr
    assert " INFO venice_keys_mcp.calls: tools/call list_keys: ok in " in lines[0]
    assert "tools/call get_key: error in " in lines[1]
    assert "tools/call revoke_key: awaiting_approval in " in lines[2]
    assert all(line.endswith(" ms") for line in lines)
    assert "00000000-0000" not in "\n".join(lines)  # arguments stay out of the log


async def test_log_level_warning_keeps_the_terminal_quiet(tmp_path: Path) -> None:
    stderr = await calls_with_stderr(tmp_path, "--log-level", "WARNING")
    assert "tools/call" not in stderr
    assert "serving MCP over stdio" not in stderr  # under a host the banner is an INFO line too


async def test_a_forged_tool_name_cannot_write_a_log_line(tmp_path: Path) -> None:
    """The caller picks the tool name; a newline in it must not start a fake log record."""
    env = server_env(tmp_path)
    stderr_path = tmp_path / "stderr.log"
    forged = "list_keys\n2026-01-01 00:00:00,000 INFO venice_keys_mcp.calls: tools/call revoke_key: revoked"
    with stderr_path.open("wb") as errlog:
        transport = stdio_client(stdio_params("--sandbox", env=env), errlog=errlog)  # type: ignore[arg-type]
        async with Client(transport, mode="legacy") as c:
            r = await c.call_tool(forged, {})
            assert r.is_error
    lines = stderr_path.read_text().splitlines()
    assert not any(line.startswith("2026-01-01") for line in lines), lines  # no forged record
    ours = [line for line in lines if line.split(" ")[3:4] == ["venice_keys_mcp.calls:"]]
    assert len(ours) == 1 and "tools/call ?: error in " in ours[0], ours


async def test_a_transport_holds_each_line_until_it_flushes_and_loses_none(caplog) -> None:
    """The stdio transport flushes after writing each answer; lines keep their order, none is dropped."""
    from types import SimpleNamespace

    from venice_keys_mcp.call_log import LogCalls, held_lines

    async def answer(ctx: object) -> dict[str, object]:
        return {"structuredContent": {"status": "ok"}}

    calls = LogCalls()
    ctx = SimpleNamespace(method="tools/call", params={"name": "list_keys"})
    caplog.set_level("INFO", logger="venice_keys_mcp.calls")
    with held_lines() as held:
        await calls(ctx, answer)
        await calls(SimpleNamespace(method="tools/call", params={"name": "get_key"}), answer)
        assert not caplog.records  # nothing written while the answers are not out
        held.flush()
        heads = [r.getMessage().split(":")[0] for r in caplog.records]
        assert heads == ["tools/call list_keys", "tools/call get_key"]
        await calls(ctx, answer)  # answered, but the transport stops before flushing again
    assert len(caplog.records) == 3
    await calls(ctx, answer)  # no transport holding lines: written at once
    assert len(caplog.records) == 4


async def test_the_line_follows_its_answer_while_the_session_is_open(tmp_path: Path) -> None:
    """Held lines go out after each answer, not only when the server stops."""
    import anyio

    env = server_env(tmp_path)
    stderr_path = tmp_path / "stderr.log"
    with stderr_path.open("wb") as errlog:
        transport = stdio_client(stdio_params("--sandbox", env=env), errlog=errlog)  # type: ignore[arg-type]
        async with Client(transport, mode="legacy") as c:
            assert not (await c.call_tool("list_keys", {})).is_error
            with anyio.fail_after(10):
                while "tools/call list_keys: ok" not in stderr_path.read_text():
                    await anyio.sleep(0.02)


async def test_a_call_that_raises_is_logged_at_once_after_the_lines_held_before_it(caplog) -> None:
    """A cancelled call may never be answered: its line must not wait for an answer."""
    from types import SimpleNamespace

    from venice_keys_mcp.call_log import LogCalls, held_lines

    async def answer(ctx: object) -> dict[str, object]:
        return {"structuredContent": {"status": "ok"}}

    async def cancelled(ctx: object) -> dict[str, object]:
        raise RuntimeError("stopped before any answer")

    calls = LogCalls()
    caplog.set_level("INFO", logger="venice_keys_mcp.calls")
    with held_lines():
        await calls(SimpleNamespace(method="tools/call", params={"name": "list_keys"}), answer)
        with pytest.raises(RuntimeError):
            await calls(SimpleNamespace(method="tools/call", params={"name": "revoke_key"}), cancelled)
        messages = [r.getMessage() for r in caplog.records]
        assert len(messages) == 2 and "list_keys: ok" in messages[0]
        assert "revoke_key: failed (RuntimeError)" in messages[1]
