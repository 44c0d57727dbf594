"""Every private name of the MCP SDK this package uses, in one place.

Checked against mcp 2.3.0 (pyproject pins `mcp>=2.3,<2.4`). The SDK gives no public way
to do the three things below; when the pin moves, read this module against the new SDK
first, and nothing else. `tests/test_layout.py` fails if another module of the package
imports a private SDK module or name, or reaches into an SDK object's private attributes.

- Our stdio transport (`stdio.py`): the low-level server's `run` with our streams, and
  the SDK's context-carrying memory streams that `run` expects.
- Leaving out the prompt handlers when there are no prompts (`server.offer_only_what_exists`):
  the SDK derives advertised capabilities from the handlers registered.
- The tests' view of registered `Tool` objects (their functions and argument models):
  `registered_tools` / `registered_tool`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.tools import Tool

__all__ = [
    "SDK_CHECKED_VERSION",
    "context_streams",
    "drop_request_handlers",
    "has_prompts",
    "lowlevel_server",
    "registered_tool",
    "registered_tools",
]

#: The SDK release every name here was read against.
SDK_CHECKED_VERSION = "2.3.0"


def lowlevel_server(server: MCPServer) -> Any:
    """The low-level `Server` under `server`, whose `run(read, write, options)` serves given streams."""
    return server._lowlevel_server


def context_streams() -> Callable[..., Any] | None:
    """The SDK's `create_context_streams` (memory streams that carry the request context), or
    None if this SDK has no such module (then the caller uses the SDK's own transport)."""
    try:
        from mcp.shared._context_streams import create_context_streams
    except ImportError:
        return None
    return create_context_streams


def has_prompts(server: MCPServer) -> bool:
    """Whether any prompt is registered (read without the async `list_prompts` round)."""
    return bool(server._prompt_manager.list_prompts())


def drop_request_handlers(server: MCPServer, methods: tuple[str, ...]) -> None:
    """Unregister the low-level handlers of `methods`, so their capability is not advertised."""
    handlers = server._lowlevel_server._request_handlers
    for method in methods:
        handlers.pop(method, None)


def registered_tools(server: MCPServer) -> list[Tool]:
    """The registered `Tool` objects (with their functions and argument models)."""
    return server._tool_manager.list_tools()


def registered_tool(server: MCPServer, name: str | None) -> Tool | None:
    """One registered `Tool` by name, or None."""
    return server._tool_manager.get_tool(name) if name else None
