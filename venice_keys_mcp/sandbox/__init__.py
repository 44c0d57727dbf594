"""A faithful emulator of Venice's `/api_keys` endpoints, for demos and tests.

It is the other side of the wire: it shares no code with `venice_keys_mcp.venice`, so
a mismatch between the client and Venice's documented behaviour shows up as a failing
test instead of being hidden by shared models.

Names are imported on first use (PEP 562): `venice-keys-mcp --sandbox` needs the seeded
state at start-up, but the Starlette app and its routes only when the first tool call
reaches the sandbox, and an MCP host often starts the server just to list its tools.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from venice_keys_mcp.sandbox.app import create_app
    from venice_keys_mcp.sandbox.seed import seeded_state
    from venice_keys_mcp.sandbox.state import DemoAccount, SandboxState
    from venice_keys_mcp.sandbox.transport import asgi_transport

#: name -> the submodule that defines it
_HOME = {
    "create_app": "app",
    "seeded_state": "seed",
    "DemoAccount": "state",
    "SandboxState": "state",
    "asgi_transport": "transport",
}

__all__ = ["DemoAccount", "SandboxState", "asgi_transport", "create_app", "seeded_state"]


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:  # AttributeError also lets `from venice_keys_mcp.sandbox import <submodule>` work
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
