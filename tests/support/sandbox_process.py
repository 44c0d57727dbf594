"""Run the Venice sandbox as a real process on a loopback port, for tests over a socket.

    with running_sandbox() as sandbox:
        client = VeniceClient(sandbox.admin_key, sandbox.base_url)
        sandbox.control("/_sandbox/faults", {"method": "GET", "path": "/api_keys", "status": 503})

The process is `venice-keys-mcp sandbox --port 0`, run as `python -m venice_keys_mcp` by
default or, with `program=console_script()`, as the installed console script a user runs.
Its first stdout line is a JSON object with the base URL and the demo credentials. Its
stderr is kept in a temporary file and shown if it fails to start.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import httpx2

START_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0


class SandboxStartError(RuntimeError):
    """The sandbox process exited or stayed silent instead of printing its first line."""


@dataclass
class SandboxProcess:
    """A running sandbox: where it listens, its demo credentials, and its test controls."""

    base_url: str
    admin_key: str
    inference_key: str
    admin_key_id: str
    wallet_address: str
    wallet_private_key: str
    unstaked_wallet_address: str
    unstaked_wallet_private_key: str
    process: subprocess.Popen[bytes] = field(repr=False)
    info: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def origin(self) -> str:
        """`http://127.0.0.1:<port>`: where the `/_sandbox/...` controls live."""
        parts = urlsplit(self.base_url)
        return f"{parts.scheme}://{parts.netloc}"

    def control(self, path: str, json: dict[str, Any] | None = None, *, method: str = "POST") -> Any:
        """Call a test control, e.g. `control("/_sandbox/faults", {...})`; returns its JSON."""
        response = httpx2.request(method, self.origin + path, json=json, timeout=10.0)
        response.raise_for_status()
        return response.json()

    def add_fault(self, method: str, path: str, **fields: Any) -> Any:
        """Plan a fault (`status`, `drop`, `latency`, `malformed`, `content_type`, `body`, `times`...)."""
        return self.control("/_sandbox/faults", {"method": method, "path": path, **fields})

    def clear_faults(self) -> Any:
        return self.control("/_sandbox/faults", method="DELETE")

    def advance(self, seconds: float) -> Any:
        """Move the sandbox clock forward (rate-limit windows, expiries, tokens)."""
        return self.control("/_sandbox/clock", {"advance": seconds})

    def health(self) -> Any:
        return self.control("/_sandbox/health", method="GET")


MODULE_PROGRAM = (sys.executable, "-m", "venice_keys_mcp")


def console_script() -> list[str]:
    """The installed `venice-keys-mcp` script beside the running interpreter (the venv's bin/)."""
    script = Path(sys.executable).parent / "venice-keys-mcp"
    if not os.access(script, os.X_OK):
        raise SandboxStartError(f"no console script at {script}; run `pip install -e .` in the venv")
    return [str(script)]


def sandbox_command(*extra_args: str, program: Sequence[str] = MODULE_PROGRAM) -> list[str]:
    return [*program, "sandbox", "--port", "0", *extra_args]


@contextlib.contextmanager
def running_sandbox(
    *extra_args: str, timeout: float = START_TIMEOUT, program: Sequence[str] | None = None
) -> Iterator[SandboxProcess]:
    """Start the sandbox (extra CLI args, e.g. `--keys 500`), yield it, and stop it.

    `program` is what runs `venice-keys-mcp` (default `python -m venice_keys_mcp`).
    """
    # Without `program`, call sandbox_command as before: tests/ecosystem monkeypatches it.
    argv = sandbox_command(*extra_args) if program is None else sandbox_command(*extra_args, program=program)
    with tempfile.TemporaryFile() as stderr:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        process = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
            env=env,
        )
        drainer = threading.Thread(target=_drain, args=(process,), daemon=True)
        try:
            info = _first_line(process, stderr, timeout)
            drainer.start()
            fields = {name: str(info[name]) for name in SandboxProcess.__dataclass_fields__ if name in info}
            yield SandboxProcess(**fields, process=process, info=info)  # type: ignore[arg-type]
        finally:
            _stop(process, drainer)


def _first_line(process: subprocess.Popen[bytes], stderr: Any, timeout: float) -> dict[str, Any]:
    stdout = cast(Any, process.stdout)
    deadline = time.monotonic() + timeout
    buffer = b""
    with selectors.DefaultSelector() as selector:
        selector.register(stdout, selectors.EVENT_READ)
        while b"\n" not in buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise SandboxStartError(f"the sandbox printed nothing in {timeout:g} s{_tail(stderr)}")
            if not selector.select(left):
                continue
            chunk = os.read(stdout.fileno(), 65536)
            if not chunk:
                process.wait(STOP_TIMEOUT)
                raise SandboxStartError(f"the sandbox exited with code {process.returncode}{_tail(stderr)}")
            buffer += chunk
    line = buffer.split(b"\n", 1)[0]
    try:
        info = json.loads(line)
    except ValueError:
        raise SandboxStartError(
            f"the sandbox's first line is not JSON: {line[:200]!r}{_tail(stderr)}"
        ) from None
    if not isinstance(info, dict) or "base_url" not in info:
        raise SandboxStartError(f"the sandbox's first line has no base_url: {line[:200]!r}")
    return info


def _drain(process: subprocess.Popen[bytes]) -> None:
    """Keep reading stdout so a chatty sandbox never blocks on a full pipe."""
    stdout = process.stdout
    if stdout is None:
        return
    with contextlib.suppress(OSError, ValueError):
        while os.read(stdout.fileno(), 65536):
            pass


def _stop(process: subprocess.Popen[bytes], drainer: threading.Thread) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT)
    if drainer.is_alive():
        drainer.join(STOP_TIMEOUT)  # it sees end-of-file once the process is gone
    if process.stdout is not None:
        process.stdout.close()


def _tail(stderr: Any) -> str:
    stderr.seek(0)
    text = stderr.read()[-2000:].decode("utf-8", "replace").strip()
    return f"; its stderr ends with:\n{text}" if text else ""
