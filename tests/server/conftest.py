"""Fixtures for driving the real MCP server: in memory, as a stdio process, over HTTP."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any, get_args

import pytest
from mcp.server.mcpserver import MCPServer
from mcp_types import ElicitResult

from tests.support.eras import ERAS as MODES  # noqa: F401  (the name tests here import)
from venice_keys_mcp.runtime import Runtime
from venice_keys_mcp.sdk_adapter import registered_tool
from venice_keys_mcp.server import build_server
from venice_keys_mcp.settings import TOOLSETS, Settings

# `mode` comes from tests/conftest.py: one era, or each era for tests marked `eras`.


@pytest.fixture
def make_server(tmp_path: Path) -> Callable[..., MCPServer]:
    """A server on a fresh in-process sandbox, with its files under tmp_path."""

    def make(**overrides: Any) -> MCPServer:
        values: dict[str, Any] = {
            "sandbox": True,
            "secrets_dir": tmp_path / "secrets",
            "audit_log": tmp_path / "audit.jsonl",
            "state_dir": tmp_path / "state",
            "toolsets": TOOLSETS,  # every tool; the default selection is tested where it matters
        }
        values.update(overrides)
        server = build_server(Settings(**values))
        server.middleware.insert(0, CheckOutputs(server))
        return server

    return make


class CheckOutputs:
    """Every tool result these tests see is checked against the tool's declared output model.

    The server does not validate results a second time (see `tools/kit.py`); the
    client checks each against the tool's output schema, and this checks it against
    the model itself, so a tool that answers with the wrong model, or a field its model
    lacks, is caught.
    """

    def __init__(self, server: MCPServer) -> None:
        self.server = server

    async def __call__(self, ctx: Any, call_next: Any) -> Any:
        out = await call_next(ctx)
        if getattr(ctx, "method", None) != "tools/call" or not isinstance(out, dict) or out.get("isError"):
            return out  # at this depth a result is the wire's dict
        tool = registered_tool(self.server, (getattr(ctx, "params", None) or {}).get("name"))
        structured = out.get("structuredContent")
        if tool is not None and out.get("resultType") != "input_required":
            assert structured is not None, f"{tool.name} answered without structuredContent"
            declared = inspect.signature(tool.fn, eval_str=True).return_annotation
            model = get_args(declared)[1]  # Annotated[CallToolResult, Model]
            model.model_validate(structured)
            extra = set(structured) - {f.alias or name for name, f in model.model_fields.items()}
            assert not extra, f"{tool.name} answered fields its model {model.__name__} lacks: {extra}"
        return out


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
