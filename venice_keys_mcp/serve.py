"""Run the MCP server over stdio or Streamable HTTP, telling a person on stderr what is going on.

In stdio mode stdout belongs to the protocol: everything human (the banner, logs, errors)
goes to stderr. Configuration problems end in one line and exit code 2, never a traceback.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from venice_keys_mcp import __version__
from venice_keys_mcp.settings import Settings, env_name

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer
    from starlette.types import ASGIApp

    from venice_keys_mcp.runtime import Runtime

log = logging.getLogger("venice_keys_mcp")
#: The Inspector version CI drives the server with (.ci/run), so the hint is one that was tested.
INSPECTOR = "@modelcontextprotocol/inspector@2.12.0"

EXIT_OK, EXIT_USAGE = 0, 2
SCRIPT = "venice-keys-mcp"


def run_server(settings: Settings) -> int:
    if settings.admin_key is None and not settings.sandbox:
        return _refuse(
            "no Venice key configured. Set VENICE_ADMIN_KEY to an ADMIN key "
            f"(or try the embedded sandbox: {shlex.join([*command_hint(), '--sandbox'])}, "
            "or VENICE_KEYS_SANDBOX=1; in the app bundle, turn on Try the sandbox)."
        )
    if settings.transport == "stdio":
        return _serve(settings, None)
    from pydantic import SecretStr

    from venice_keys_mcp.http_token import TokenFileError, resolve_token

    # Before binding: a token file that cannot be trusted is one line and exit 2, the port untouched.
    try:
        token = resolve_token(settings)
    except TokenFileError as exc:
        return _refuse(str(exc))
    if token is not None:
        settings = settings.model_copy(update={"http_token": SecretStr(token.value)})
    # Bind first: a busy port or a bad address fails in a moment, before the heavy imports, and with
    # --port 0 the allowed Hosts, the banner and auth all get the port the OS picked.
    try:
        listener = _listen(settings.host, settings.port)
    except OSError as exc:
        return _refuse(
            f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}; "
            "choose another address or port with --host / --port."
        )
    with listener:
        served = settings.model_copy(update={"port": listener.getsockname()[1]})
        return _serve(served, listener, token_file=token.file if token else None)


def _serve(settings: Settings, listener: socket.socket | None, token_file: Path | None = None) -> int:
    from venice_keys_mcp.runtime import build_runtime
    from venice_keys_mcp.safety import console
    from venice_keys_mcp.safety.secrets import install_log_scrubber
    from venice_keys_mcp.server import build_server

    try:
        runtime = build_runtime(settings)
    except ValueError as exc:  # settings validation should have caught it; still one line, not a traceback
        return _refuse(str(exc))
    if settings.http_token is not None:
        runtime.scrubber.add(settings.http_token.get_secret_value())
    install_log_scrubber(runtime.scrubber)
    console.use(runtime.scrubber)  # printed lines, too, are scrubbed of every secret the server sees
    server = build_server(runtime.settings, runtime=runtime)
    banner(runtime.settings, runtime, token_file=token_file)
    if runtime.settings.confirm == "off":
        audit_confirm_off(runtime)
    if runtime.settings.no_auth:
        audit_auth_off(runtime)
    settle_heap()
    if listener is not None:
        return _run_http(server, runtime.settings, listener)
    import anyio

    from venice_keys_mcp.stdio import serve_stdio

    anyio.run(serve_stdio, server)  # stdio: returns when the host closes stdin
    return EXIT_OK


def settle_heap() -> None:
    """Move everything start-up made out of the garbage collector's sight (`gc.freeze`).

    The modules, schemas and models built at start-up live as long as the process, yet
    each full collection walked all of them again: a call that allocates a lot (listing a
    500-key account) set one off every ten calls or so, and that pause was most of the
    p99 (figures in docs/benchmarks.md). Frozen objects are never collected, so this runs
    once, when start-up is done; no collection first, since that would cost the cold start
    more than the little cyclic garbage start-up leaves is worth.
    """
    import gc

    gc.freeze()


def audit_confirm_off(runtime: Runtime) -> None:
    """Once per process start: the audit log, not only stderr, shows confirmation was off."""
    from venice_keys_mcp.safety.audit import AuditError

    try:
        runtime.audit.append(
            tool="server",
            key_id=None,
            args={"confirm": "off"},
            confirmation="off",
            outcome="confirmation_off",
            detail="started with VENICE_KEYS_CONFIRM=off: revokes, ADMIN keys and widening patches "
            "happen without asking anyone",
        )
    except AuditError as exc:  # the write tools will refuse until the log is fixed (AuditGuard)
        log.error("could not record VENICE_KEYS_CONFIRM=off in the audit log: %s", exc)


def audit_auth_off(runtime: Runtime) -> None:
    """Once per process start: the log and the audit log show that HTTP ran without its token."""
    from venice_keys_mcp.safety.audit import AuditError

    where = f"{runtime.settings.connect_host}:{runtime.settings.port}"
    detail = (
        f"started with --no-auth: anyone on this machine who can reach {where} "
        "can call every tool, and answer its confirmation forms"
    )
    log.warning("HTTP authentication is OFF (--no-auth): %s", detail.split(": ", 1)[1])
    try:
        runtime.audit.append(
            tool="server",
            key_id=None,
            args={"no_auth": True},
            confirmation="n/a",
            outcome="http_auth_off",
            detail=detail,
        )
    except AuditError as exc:  # the write tools will refuse until the log is fixed (AuditGuard)
        log.error("could not record --no-auth in the audit log: %s", exc)


def _refuse(message: str) -> int:
    print(f"venice-keys-mcp: {message}", file=sys.stderr, flush=True)
    return EXIT_USAGE


def command_hint() -> list[str]:
    """A command that starts this very installation, whatever the host's PATH is.

    MCP hosts (Claude Desktop, IDEs) often start servers with a PATH that lacks the
    virtualenv, so the hint names an absolute path: the console script that is running,
    else the one beside this interpreter, else `python -m venice_keys_mcp`.
    """
    argv0 = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if argv0 is not None and argv0.name in {SCRIPT, f"{SCRIPT}.exe"} and argv0.is_file():
        return [os.path.abspath(argv0)]
    bindir = Path(os.path.abspath(sys.executable)).parent  # not resolved: a venv's python is a symlink
    for name in (SCRIPT, f"{SCRIPT}.exe"):
        script = bindir / name
        if script.is_file() and os.access(script, os.X_OK):
            return [str(script)]
    return [os.path.abspath(sys.executable), "-m", "venice_keys_mcp"]


def banner(settings: Settings, runtime: Runtime, *, token_file: Path | None = None) -> None:
    """What a person who started the server by hand needs: what it serves, where files go, how to connect.

    Only on a terminal. A host that starts the stdio server reads stderr as its log, and
    some show each line as an error (Claude Code's `Server stderr: ...`), so there the
    banner is one INFO log line (a WARNING when confirmation is off), which
    `--log-level WARNING` silences like any other. The HTTP server is started by a person
    (or a service manager reading its log), so it always prints how to connect.

    `token_file` is where the generated HTTP token lives (None when it came from the
    environment, or with --no-auth): the connect commands then carry the token itself when
    stderr is a terminal (a person reads it), else a `$(cat FILE)` that reads it.
    """
    from venice_keys_mcp.safety.console import display_url

    target = (
        "the embedded sandbox (demo account, no real keys)"
        if settings.sandbox
        else display_url(settings.base_url)
    )
    serving = f"venice-keys-mcp {__version__}: serving MCP over {settings.transport} against {target}"
    on_terminal = _on_terminal(sys.stderr)
    if settings.transport == "stdio" and not on_terminal:
        summary = (
            f"{serving}; confirmation {settings.confirm}; read-only {'yes' if settings.read_only else 'no'}; "
            f"audit log {runtime.audit.path}; new secrets go to {runtime.secrets_dir}"
        )
        if settings.confirm == "off":
            log.warning("%s; confirmation is OFF (VENICE_KEYS_CONFIRM=off): nobody is asked", summary)
        else:
            log.info("%s", summary)
        return
    lines = [
        f"{serving}.",
        f"  confirmation: {settings.confirm}; read-only: {'yes' if settings.read_only else 'no'}",
        f"  new secrets go to: {runtime.secrets_dir}",
        f"  audit log: {runtime.audit.path}",
    ]
    if settings.confirm == "off":
        lines.append(
            "  WARNING: confirmation is OFF (VENICE_KEYS_CONFIRM=off): revokes happen without asking anyone."
        )
    lines += [f"  note: {n}" for n in runtime.notes]
    if settings.transport == "stdio":
        lines += _stdio_hints(settings)
    else:
        lines += _http_hints(settings, token_file, show_token=on_terminal)
    print("\n".join(lines), file=sys.stderr, flush=True)


def _on_terminal(stream: object) -> bool:
    """True if `stream` is a terminal (a closed or replaced stream is not)."""
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError, OSError):
        return False


def _stdio_hints(settings: Settings) -> list[str]:
    command = command_hint()
    args = _replay_flags(settings)
    env_flags = [] if settings.sandbox else ["-e", "VENICE_ADMIN_KEY=<your ADMIN key>"]
    claude = ["claude", "mcp", "add", *env_flags, "venice-keys", "--", *command, *args]
    config: dict[str, object] = {"command": command[0], "args": [*command[1:], *args]}
    if not settings.sandbox:
        config["env"] = {env_name("admin_key"): "<your ADMIN key>"}
    return [
        "This process speaks MCP on stdin/stdout: an MCP host starts it. To connect one:",
        f"  Claude Code:    {shlex.join(claude)}",
        f'  Claude Desktop, Cursor, VS Code ("mcpServers"/"servers" entry): '
        f'"venice-keys": {json.dumps(config)}',
        f"  MCP Inspector:  {shlex.join(['npx', '-y', INSPECTOR, *command, *args])}",
        "Press Ctrl-C (or close stdin) to stop.",
    ]


def _http_hints(settings: Settings, token_file: Path | None, *, show_token: bool) -> list[str]:
    """The endpoint and ready-made host commands; only those carry the token, and only on a terminal."""
    from venice_keys_mcp.http_auth import allowed_hosts

    url = settings.http_url
    claude = shlex.join(["claude", "mcp", "add", "--transport", "http", "venice-keys", url])
    vscode: dict[str, object] = {"type": "http", "url": url}
    inputs: list[dict[str, object]] = []
    lines = [f"Streamable HTTP endpoint: {url}"]
    if settings.connect_host.strip("[]") != settings.host.strip("[]"):
        lines[0] += f" (listening on {settings.host}:{settings.port})"
    if settings.no_auth:
        lines += [
            "  WARNING: authentication is OFF (--no-auth): any program or user on this machine can",
            "  call every tool, revoke keys and answer the confirmation forms. Drop --no-auth for a token.",
        ]
    else:
        if token_file is None:
            lines.append("  every request needs: Authorization: Bearer <the value of VENICE_KEYS_HTTP_TOKEN>")
            shell_value = "$VENICE_KEYS_HTTP_TOKEN"
        else:
            lines.append(f"  every request needs: Authorization: Bearer <the token in {token_file}>")
            lines.append("  (kept across restarts; delete the file to get a new token)")
            shell_value = f"$(cat {shlex.quote(str(token_file))})"
        if show_token and token_file is not None and settings.http_token is not None:
            literal = settings.http_token.get_secret_value()
            from venice_keys_mcp.safety import console

            console.allow(literal)  # a person at this terminal asked for the command that carries it
            claude += f' --header "Authorization: Bearer {literal}"'
            vscode["headers"] = {"Authorization": f"Bearer {literal}"}
        else:
            claude += f' --header "Authorization: Bearer {shell_value}"'
            vscode["headers"] = {"Authorization": "Bearer ${input:venice-keys-token}"}
            inputs.append(
                {
                    "id": "venice-keys-token",
                    "type": "promptString",
                    "password": True,
                    "description": "venice-keys-mcp HTTP token",
                }
            )
    hosts = ", ".join(allowed_hosts(settings))
    lines.append(f"  accepted Host headers: {hosts} (add names with VENICE_KEYS_ALLOWED_HOSTS)")
    mcp_json: dict[str, object] = {"servers": {"venice-keys": vscode}}
    if inputs:
        mcp_json["inputs"] = inputs
    lines += [
        f"  Claude Code:    {claude}",
        f"  VS Code (.vscode/mcp.json): {json.dumps(mcp_json)}",
        "Press Ctrl-C to stop.",
    ]
    return lines


def _replay_flags(settings: Settings) -> list[str]:
    """The flags that make a host-started server behave like this one."""
    flags = ["--sandbox"] if settings.sandbox else []
    if settings.sandbox and settings.sandbox_keys:
        flags += ["--sandbox-keys", str(settings.sandbox_keys)]
    if settings.read_only:
        flags.append("--read-only")
    if settings.confirm != "auto":
        flags += ["--confirm", settings.confirm]
    return flags


def _listen(host: str, port: int) -> socket.socket:
    """Bind before serving, so a busy port or bad address is one clear line and --port 0 works.

    The socket names its protocol (`IPPROTO_TCP`): asyncio sets TCP_NODELAY only on sockets
    that do, and `socket.create_server` leaves it 0. Without TCP_NODELAY every request on a
    kept-alive connection waited about 40 ms for the client's delayed ACK.
    """
    bind_host = host.strip("[]")
    family = socket.getaddrinfo(bind_host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][
        0
    ]
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        # What socket.create_server does: reuse a port in TIME_WAIT, and IPv6 means IPv6 only.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((bind_host, port))
        sock.listen()
    except OSError:
        sock.close()
        raise
    return sock


def build_http_app(server: MCPServer, settings: Settings) -> ASGIApp:
    """The Streamable HTTP app: Host/Origin checks first, then the bearer token, bounded sessions.

    Stateful (SSE) mode, the SDK default: 2025-11-25 clients need it for elicitation. Each
    session holds a server task and its streams until the client deletes it, so the SDK's
    own bounds are set from settings: a session with no request in flight for
    `http_session_idle` seconds is ended (its id then answers 404 and the client starts a
    new one), and while `http_max_sessions` are open a new one is refused with 503.
    """
    from venice_keys_mcp.http_auth import HostOriginGuard, transport_security

    if settings.http_token is None and not settings.no_auth:
        # run_server resolves the token first; an app without one would serve anyone on the machine.
        raise ValueError("HTTP without a bearer token needs --no-auth")
    security = transport_security(settings)
    app = server.streamable_http_app(
        host=settings.host,
        transport_security=security,
        session_idle_timeout=settings.http_session_idle,
        max_sessions=settings.http_max_sessions,
    )
    return HostOriginGuard(app, security)


def _run_http(server: MCPServer, settings: Settings, listener: socket.socket) -> int:
    import uvicorn

    debug = settings.log_level == "DEBUG"
    config = uvicorn.Config(
        build_http_app(server, settings),
        log_config=None,  # uvicorn's own config would send its access log to stdout
        log_level="debug" if debug else "warning",
        access_log=debug,
    )
    # Server.run, unlike uvicorn.run, lets Ctrl-C surface as KeyboardInterrupt (exit 130).
    uvicorn.Server(config).run(sockets=[listener])
    return EXIT_OK
