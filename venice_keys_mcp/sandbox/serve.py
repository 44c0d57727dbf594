"""`run()`: serve the sandbox on a socket, for curl, other clients and subprocess tests.

The first stdout line is one JSON object (base URL and demo credentials) so a parent
process can read it and connect; everything meant for people goes to stderr. The
socket is bound here, before uvicorn starts, so `port=0` works and the real port is
known before the line is printed.
"""

from __future__ import annotations

import contextlib
import gc
import ipaddress
import json
import logging
import shlex
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn

from venice_keys_mcp.safety import console
from venice_keys_mcp.sandbox.app import create_app
from venice_keys_mcp.sandbox.persist import StateFileError, load_state_file, save_state
from venice_keys_mcp.sandbox.seed import seeded_state
from venice_keys_mcp.sandbox.state import SandboxState

_PREFIX = "venice-keys-mcp sandbox:"


class _Server(uvicorn.Server):
    """uvicorn, minus re-raising SIGINT/SIGTERM after shutdown, remembering which one stopped it.

    SIGTERM (a supervisor's stop) is a clean exit 0; SIGINT (Ctrl-C) is 130, as for every
    other command of the CLI and as the README's exit-code table says.
    """

    interrupted = False

    def handle_exit(self, sig: int, frame: Any) -> None:
        self.interrupted = self.interrupted or sig == signal.SIGINT
        super().handle_exit(sig, frame)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        originals = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in originals.items():
                signal.signal(sig, handler)


class _QuietDrops(logging.Filter):
    """Dropped-connection faults are deliberate; uvicorn need not report them as errors."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "returned without completing response" not in record.getMessage()


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # so asyncio sets TCP_NODELAY
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _load(state_file: str | None, key_count: int | None) -> SandboxState:
    state = load_state_file(state_file) if state_file else None
    if state is None:
        state = seeded_state(key_count=key_count)
    if state_file:
        path = Path(state_file)

        def persist() -> None:
            try:
                save_state(state, path)
            except OSError as exc:
                print(f"{_PREFIX} could not save state to {path}: {exc}", file=sys.stderr, flush=True)

        state.on_change = persist
        save_state(state, path)
    return state


def _summary(base_url: str, state: SandboxState, host: str, state_file: str | None) -> str:
    from venice_keys_mcp.serve import command_hint

    demo = state.demo
    # The running installation's absolute path: a venv's script is not on PATH in another shell.
    server = shlex.join(command_hint())
    lines = [
        "Venice API keys sandbox: a local emulator of Venice's /api_keys endpoints, with demo data.",
        f"  base URL      {base_url}",
        f"  admin key id  {demo.admin_key_id}",
        f"  state         {state_file or 'in memory (lost on exit)'}",
        "",
        "Point the MCP server at it:",
        f"  VENICE_BASE_URL={base_url} VENICE_ADMIN_KEY={demo.admin_key} {server}",
        "Try it:",
        f'  curl -s -H "Authorization: Bearer {demo.admin_key}" {base_url}/api_keys',
        "Test controls under /_sandbox: faults (GET/POST/DELETE), clock, limits, windows, health.",
        "Stop with Ctrl-C.",
    ]
    if not _is_loopback(host):
        lines.insert(
            0, f"WARNING: serving on {host}, which is not loopback: anyone who can reach it sees demo keys."
        )
    return "\n".join(lines)


def run(
    host: str = "127.0.0.1", port: int = 8787, state_file: str | None = None, key_count: int | None = None
) -> int:
    """Serve until SIGINT/SIGTERM: 130 after Ctrl-C, 0 after SIGTERM, 2 on a bad state file or address."""
    try:
        state = _load(state_file, key_count)
    except StateFileError as exc:
        print(f"{_PREFIX} {exc}", file=sys.stderr, flush=True)
        return 2
    except OSError as exc:
        print(f"{_PREFIX} cannot write state file {state_file}: {exc}", file=sys.stderr, flush=True)
        return 2
    try:
        sock = _bind(host, port)
    except OSError as exc:
        print(f"{_PREFIX} cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr, flush=True)
        return 2
    real_port = sock.getsockname()[1]
    shown_host = f"[{host}]" if ":" in host else host
    base_url = f"http://{shown_host}:{real_port}/api/v1"
    demo = state.demo
    first_line = {
        "base_url": base_url,
        "admin_key": demo.admin_key,
        "inference_key": demo.inference_key,
        "admin_key_id": demo.admin_key_id,
        "wallet_address": demo.wallet_address,
        "wallet_private_key": demo.wallet_private_key,
        "unstaked_wallet_address": demo.unstaked_wallet_address,
        "unstaked_wallet_private_key": demo.unstaked_wallet_private_key,
    }
    # Public demo credentials, printed on purpose; every other secret-shaped text is scrubbed.
    console.allow(demo.admin_key, demo.inference_key)
    print(json.dumps(first_line), flush=True)
    print(_summary(base_url, state, host, state_file), file=sys.stderr, flush=True)

    config = uvicorn.Config(create_app(state), log_level="warning", access_log=False, lifespan="off")
    logging.getLogger("uvicorn.error").addFilter(_QuietDrops())
    server = _Server(config)
    # The seeded account and the app live as long as the process: out of the collector's
    # sight, as in the server (`venice_keys_mcp.serve.settle_heap`), so a full collection set
    # off by a large listing does not walk them again.
    gc.freeze()
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        if state_file:
            state.changed()  # keeps lastUsedAt updates made since the last change
    return 130 if server.interrupted else 0
