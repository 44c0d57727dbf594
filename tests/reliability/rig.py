"""The reliability tests' rig: the real MCP server over a sandbox whose every request is counted.

`build_rig` wires `build_server` to a sandbox state the test holds, through a transport
the test chooses: in process (the sandbox's ASGI app behind a request counter) or a real
loopback socket (a `FaultyUpstream`). Counting what reached Venice is how the tests
prove that a write was sent exactly once and that refused input sent nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp_types import ElicitResult

from venice_keys_mcp.runtime import Runtime, build_runtime
from venice_keys_mcp.sandbox import SandboxState, asgi_transport, create_app, seeded_state
from venice_keys_mcp.server import build_server
from venice_keys_mcp.settings import TOOLSETS, Settings

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]
IN_PROCESS_URL = "http://sandbox/api/v1"


@dataclass
class RequestLog:
    """Every request that reached the sandbox app, as (method, path under /api/v1)."""

    seen: list[tuple[str, str]] = field(default_factory=list)

    def wrap(self, app: ASGIApp) -> ASGIApp:
        async def counted(scope: Scope, receive: Any, send: Any) -> None:
            path: str = scope.get("path", "")
            if scope["type"] == "http" and path.startswith("/api/v1/"):
                self.seen.append((scope["method"], path.removeprefix("/api/v1")))
            await app(scope, receive, send)

        return counted

    def count(self, method: str | None = None, path: str | None = None) -> int:
        return sum(1 for m, p in self.seen if (method is None or m == method) and (path is None or p == path))

    def writes(self) -> int:
        return sum(1 for m, _ in self.seen if m in {"POST", "PATCH", "DELETE"})


@dataclass
class Rig:
    server: MCPServer
    state: SandboxState
    log: RequestLog
    runtime: Runtime

    def active_ids(self) -> set[str]:
        return {k.id for k in self.state.active_keys(self.state.demo.account_id)}

    def victim(self) -> str:
        """An INFERENCE key that is not the server's own: safe to revoke or patch."""
        return self.state.demo.inference_key_id


def build_rig(
    tmp_path: Path,
    *,
    state: SandboxState | None = None,
    base_url: str | None = None,
    **overrides: Any,
) -> Rig:
    """The real server on `state` (a fresh seeded one by default).

    Without `base_url` the client talks to the sandbox in process through a counting
    wrapper; with one (a `FaultyUpstream`'s), over a real socket.
    """
    state = state or seeded_state()
    log = RequestLog()
    values: dict[str, Any] = {
        "admin_key": state.demo.admin_key,
        "base_url": base_url or IN_PROCESS_URL,
        "secrets_dir": tmp_path / "secrets",
        "audit_log": tmp_path / "audit.jsonl",
        "state_dir": tmp_path / "state",
        # These rigs relay tokens where no form is shown: the operator chose that (agent) flow.
        "confirm": "agent",
        "toolsets": TOOLSETS,
        "timeout": 2.0,
    }
    values.update(overrides)
    settings = Settings(**values)
    transport = None if base_url else asgi_transport(log.wrap(create_app(state)))
    runtime = build_runtime(settings, transport=transport)
    runtime.sandbox = state
    runtime.policy = runtime.policy.model_copy(update={"own_key_id": state.demo.admin_key_id})
    return Rig(build_server(settings, runtime=runtime), state, log, runtime)


def text(result: Any) -> str:
    return "\n".join(c.text for c in result.content if getattr(c, "text", None))


def approve_all(state: SandboxState) -> Callable[[Any, Any], Awaitable[ElicitResult]]:
    """An elicitation callback that approves every form, typing the right last six for a revoke."""

    async def cb(ctx: Any, params: Any) -> ElicitResult:
        props = (params.requested_schema or {}).get("properties", {})
        if "last6" in props:
            last6 = next(k.last6 for k in state.keys.values() if f"…{k.last6}" in params.message)
            return ElicitResult(action="accept", content={"last6": last6})
        return ElicitResult(action="accept", content={"approve": True})

    return cb
