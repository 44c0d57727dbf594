"""The processes a benchmark starts: our server, the baseline server, a loopback sandbox.

Everything runs with the interpreter running the benchmark (`sys.executable`), so both
sides of a ratio pay for the same Python and the same installed packages.
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
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MINIMAL_SERVER = Path(__file__).with_name("minimal_server.py")
CONSOLE_SCRIPT = "venice-keys-mcp"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0
#: Environment variables a measured server does not inherit (see `server_env`).
LEFT_OUT = ("VENICE_", "PYTHONPROFILE", "PYTHONDONTWRITEBYTECODE")


def server_command(*args: str) -> tuple[list[str], str]:
    """Our server as a host starts it: the installed console script, if it runs this interpreter.

    Returns the command and how it is described in the report. Falls back to
    `python -m venice_keys_mcp` when the script is missing or belongs to another Python.
    """
    script = Path(sys.executable).with_name(CONSOLE_SCRIPT)
    if _runs_this_python(script):
        return [str(script), *args], " ".join([CONSOLE_SCRIPT, *args]) + " (console script)"
    return [sys.executable, "-m", "venice_keys_mcp", *args], " ".join(["python -m venice_keys_mcp", *args])


def _runs_this_python(script: Path) -> bool:
    """Whether `script`'s shebang names this environment's interpreter (python, python3, ...)."""
    try:
        first = script.read_bytes()[:1024].split(b"\n", 1)[0]
    except OSError:
        return False
    if not first.startswith(b"#!"):
        return False
    interpreter = Path(os.fsdecode(first[2:].strip().split()[0]))
    here = Path(sys.executable)
    return interpreter.parent == here.parent and interpreter.resolve() == here.resolve()


def minimal_command() -> list[str]:
    """The baseline one-tool `MCPServer`, run as a plain script."""
    return [sys.executable, str(MINIMAL_SERVER)]


def server_env(workdir: Path, **extra: str) -> dict[str, str]:
    """The environment for a server under test: its files in `workdir`, never in the user's dirs.

    Every other `VENICE_*` variable of the calling shell is left out, so a developer's
    configuration (a real key, read-only mode, a log level) cannot change what is measured.
    So is `PYTHONDONTWRITEBYTECODE`: a host's server finds its bytecode cached (written at
    install, or by its first start), and with the variable set every start of an editable
    install compiled all of our modules again (about 30 ms) while the SDK's stayed cached.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(LEFT_OUT)}
    env.update(
        VENICE_KEYS_SECRETS_DIR=str(workdir / "secrets"),
        VENICE_KEYS_AUDIT_LOG=str(workdir / "audit.jsonl"),
    )
    env.update(extra)
    return env


@dataclass
class Sandbox:
    """A loopback sandbox process and the demo credentials it printed."""

    base_url: str
    admin_key: str
    info: dict[str, Any]

    @property
    def origin(self) -> str:
        return self.base_url.rsplit("/api/", 1)[0]

    def control(self, path: str, body: Mapping[str, Any] | None = None, *, method: str = "POST") -> Any:
        import httpx2

        response = httpx2.request(method, self.origin + path, json=dict(body or {}), timeout=10.0)
        response.raise_for_status()
        return response.json()

    def server_env(self, workdir: Path) -> dict[str, str]:
        """Environment pointing our server at this sandbox."""
        return server_env(workdir, VENICE_BASE_URL=self.base_url, VENICE_ADMIN_KEY=self.admin_key)


@contextlib.contextmanager
def loopback_sandbox(keys: int | None = None) -> Iterator[Sandbox]:
    """`venice-keys-mcp sandbox --port 0 [--keys N]`, with its request budget lifted for load."""
    argv = [sys.executable, "-m", "venice_keys_mcp", "sandbox", "--port", "0"]
    if keys is not None:
        argv += ["--keys", str(keys)]
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr)
        drainer: threading.Thread | None = None
        try:
            info = _first_line(process, stderr)
            drainer = threading.Thread(target=_drain, args=(process,), daemon=True)
            drainer.start()
            sandbox = Sandbox(base_url=str(info["base_url"]), admin_key=str(info["admin_key"]), info=info)
            # The benchmark sends thousands of requests a minute from one key: not what is measured.
            sandbox.control("/_sandbox/limits", {"request_budget": 10**9})
            yield sandbox
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(STOP_TIMEOUT)
            if drainer is not None:
                drainer.join(STOP_TIMEOUT)
            if process.stdout is not None:
                process.stdout.close()


def _first_line(process: subprocess.Popen[bytes], stderr: Any) -> dict[str, Any]:
    assert process.stdout is not None
    fd = process.stdout.fileno()
    deadline = time.monotonic() + START_TIMEOUT
    buffer = b""
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while b"\n" not in buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"the sandbox printed nothing in {START_TIMEOUT:g} s{_tail(stderr)}")
            if not selector.select(left):
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                raise RuntimeError(f"the sandbox exited with {process.wait(STOP_TIMEOUT)}{_tail(stderr)}")
            buffer += chunk
    info: dict[str, Any] = json.loads(buffer.split(b"\n", 1)[0])
    return info


def _tail(stderr: Any) -> str:
    stderr.seek(0)
    return ": " + stderr.read()[-1500:].decode("utf-8", "replace").strip()


def _drain(process: subprocess.Popen[bytes]) -> None:
    assert process.stdout is not None
    with contextlib.suppress(OSError, ValueError):
        while os.read(process.stdout.fileno(), 65536):
            pass
