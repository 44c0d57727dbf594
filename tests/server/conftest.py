"""Fixtures for driving the real MCP server: in memory, as a stdio process, over HTTP."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from mcp.server.mcpserver import MCPServer
from mcp_types import ElicitResult

from venice_keys_mcp.runtime import Runtime
from venice_keys_mcp.server import build_server
from venice_keys_mcp.settings import Settings

MODES = ["legacy", "2026-07-28"]


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def make_server(tmp_path: Path) -> Callable[..., MCPServer]:
    """A server on a fresh in-process sandbox, with its files under tmp_path."""

    def make(**overrides: Any) -> MCPServer:
        values: dict[str, Any] = {
            "sandbox": True,
            "secrets_dir": tmp_path / "secrets",
            "audit_log": tmp_path / "audit.jsonl",
        }
        values.update(overrides)
        return build_server(Settings(**values))

    return make


@pytest.fixture
def server(make_server: Callable[..., MCPServer]) -> MCPServer:
    return make_server()


def runtime_of(server: MCPServer) -> Runtime:
    return server.runtime  # type: ignore[attr-defined,no-any-return]


def answer(action: str, content: dict[str, Any] | None = None, seen: list[str] | None = None):
    """An elicitation callback that answers every form the same way (and records the messages)."""

    async def cb(ctx: Any, params: Any) -> ElicitResult:
        if seen is not None:
            seen.append(params.message)
        return ElicitResult(action=action, content=content if action == "accept" else None)

    return cb
