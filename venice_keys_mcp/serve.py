"""Run the MCP server over stdio or Streamable HTTP, telling a person on stderr what is going on."""

from __future__ import annotations

import logging
import shutil
import sys

from venice_keys_mcp import __version__
from venice_keys_mcp.settings import Settings

log = logging.getLogger("venice_keys_mcp")


def run_server(settings: Settings) -> int:
    from venice_keys_mcp.runtime import build_runtime
    from venice_keys_mcp.safety.secrets import install_log_scrubber
    from venice_keys_mcp.server import build_server

    if settings.admin_key is None and not settings.sandbox:
        print(
            "venice-keys-mcp: no Venice key configured. Set VENICE_ADMIN_KEY to an ADMIN key "
            "(or try the embedded sandbox: venice-keys-mcp --sandbox).",
            file=sys.stderr,
        )
        return 2
    runtime = build_runtime(settings)
    install_log_scrubber(runtime.scrubber)
    server = build_server(runtime.settings, runtime=runtime)
    _banner(runtime.settings, runtime)
    if settings.transport == "http":
        return _run_http(server, runtime.settings)
    server.run()
    return 0


def _command_hint(settings: Settings) -> tuple[str, list[str]]:
    exe = shutil.which("venice-keys-mcp") or sys.argv[0]
    args = ["--sandbox"] if settings.sandbox else []
    return exe, args


def _banner(settings: Settings, runtime) -> None:  # runtime: Runtime
    target = "the embedded sandbox (demo account, no real keys)" if settings.sandbox else settings.base_url
    lines = [
        f"venice-keys-mcp {__version__}: serving MCP over {settings.transport} against {target}.",
        f"  confirmation: {settings.confirm}; read-only: {'yes' if settings.read_only else 'no'}",
        f"  new secrets go to: {runtime.secrets_dir}",
        f"  audit log: {runtime.audit.path}",
    ]
    if settings.confirm == "off":
        lines.append("  WARNING: confirmation is OFF (VENICE_KEYS_CONFIRM=off): revokes happen without asking anyone.")
    lines += [f"  note: {n}" for n in runtime.notes]
    exe, args = _command_hint(settings)
    joined = " ".join([exe, *args])
    if settings.transport == "stdio":
        lines += [
            "This process speaks MCP on stdin/stdout: an MCP host starts it. To connect one:",
            f"  Claude Code:    claude mcp add venice-keys -- {joined}",
            f'  Claude Desktop, Cursor, VS Code: command "{exe}", args {args}',
            f"  MCP Inspector:  npx @modelcontextprotocol/inspector {joined}",
            "Press Ctrl-C to stop.",
        ]
    else:
        url = f"http://{settings.host}:{settings.port}/mcp"
        lines += [
            f"Streamable HTTP endpoint: {url}"
            + (" (bearer token required: VENICE_KEYS_HTTP_TOKEN)" if settings.http_token else ""),
            f"  Claude Code:    claude mcp add --transport http venice-keys {url}",
            "Press Ctrl-C to stop.",
        ]
    print("\n".join(lines), file=sys.stderr, flush=True)


def _run_http(server, settings: Settings) -> int:  # server: MCPServer
    import uvicorn
    from mcp.server.transport_security import TransportSecuritySettings

    app = build_http_app(server, settings, TransportSecuritySettings)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
    return 0


def build_http_app(server, settings: Settings, security_cls=None):  # -> Starlette
    """The Streamable HTTP app: loopback-only Host/Origin checks, bearer auth when a token is set."""
    from mcp.server.transport_security import TransportSecuritySettings

    security_cls = security_cls or TransportSecuritySettings
    port = settings.port
    hosts = list(settings.allowed_hosts) or [f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"]
    if not settings.is_loopback and not settings.allowed_hosts:
        hosts.append(f"{settings.host}:{port}")
    origins = list(settings.allowed_origins) or [f"http://{h}" for h in hosts]
    security = security_cls(enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins)
    return server.streamable_http_app(host=settings.host, transport_security=security)
