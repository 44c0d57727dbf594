"""The MCP server as a real process for load and soak tests: start it, find it, watch its resources.

`http_server()` runs `python -m venice_keys_mcp --sandbox --transport http` on a free
loopback port and stops it however the test ends; `Usage.of(pid)` reads the figures a
leak would move (resident memory, open file descriptors, TCP connections).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import psutil

START_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0
FIGURES = Path(tempfile.gettempdir()) / "venice-keys-mcp-reliability.json"


@dataclass(frozen=True)
class Usage:
    rss_mb: float
    fds: int
    connections: int

    @classmethod
    def of(cls, pid: int) -> Usage:
        p = psutil.Process(pid)
        return cls(
            rss_mb=round(p.memory_info().rss / 2**20, 1),
            fds=p.num_fds(),
            connections=len(p.net_connections(kind="tcp")),
        )


def server_env(tmp_path: Path) -> dict[str, str]:
    """The server's files and state under tmp_path; nothing from the developer's own setup leaks in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VENICE_", "VENICE_KEYS_"))}
    env.update(
        PYTHONUNBUFFERED="1",
        VENICE_KEYS_SECRETS_DIR=str(tmp_path / "secrets"),
        VENICE_KEYS_AUDIT_LOG=str(tmp_path / "audit.jsonl"),
        XDG_STATE_HOME=str(tmp_path / "state"),
    )
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class HttpServer:
    url: str
    process: subprocess.Popen[bytes]
    token: str = field(repr=False)

    @property
    def auth(self) -> dict[str, str]:
        """The header every request needs: the bearer token the server requires."""
        return {"authorization": f"Bearer {self.token}"}


@contextlib.contextmanager
def http_server(tmp_path: Path) -> Iterator[HttpServer]:
    port = free_port()
    token = secrets.token_urlsafe(32)  # made at run time: the server requires a bearer token
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "venice_keys_mcp",
                "--sandbox",
                "--transport",
                "http",
                "--port",
                str(port),
                "--log-level",
                "WARNING",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env={**server_env(tmp_path), "VENICE_KEYS_HTTP_TOKEN": token},
        )
        try:
            _wait_until_serving(process, port, stderr)
            yield HttpServer(f"http://127.0.0.1:{port}/mcp", process, token)
        finally:
            stop(process)


def _wait_until_serving(process: subprocess.Popen[bytes], port: int, stderr: Any) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            stderr.seek(0)
            raise RuntimeError(f"server exited with {process.returncode}: {stderr.read()[-2000:]!r}")
        try:
            httpx2.get(f"http://127.0.0.1:{port}/mcp", timeout=1.0)
            return  # any HTTP answer: it is serving
        except httpx2.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"server did not serve on port {port} within {START_TIMEOUT:g} s")


def stop(process: subprocess.Popen[bytes] | psutil.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def record_figures(name: str, figures: dict[str, Any]) -> None:
    """Print the figures (`pytest -s` shows them) and keep them in FIGURES, by test name."""
    print(f"\n{name}: {json.dumps(figures, indent=1)}")
    try:
        everything = json.loads(FIGURES.read_text())
    except (OSError, ValueError):
        everything = {}
    everything[name] = figures
    FIGURES.write_text(json.dumps(everything, indent=1))


def usage_dict(u: Usage) -> dict[str, Any]:
    return asdict(u)
