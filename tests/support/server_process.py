"""Run `venice-keys-mcp` as a real process for tests: a clean environment, a free port, bounded waits.

    env = server_env(tmp_path)
    result = run_cli("--version", env=env)                      # a one-shot command
    params = stdio_params("--sandbox", env=env)                  # for the SDK's stdio client
    with running_http_server("--sandbox", env=env) as server:   # Streamable HTTP on a free port
        httpx2.post(server.url, headers=server.auth, ...)        # the token it generated (or was given)

Every process is stopped (terminate, then kill) when its block ends, and every wait has a
timeout. Output goes to temporary files, never to pipes nobody reads, so a chatty server
cannot block.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from mcp.client.stdio import StdioServerParameters

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0
RUN_TIMEOUT = 30.0
ENDPOINT_LINE = re.compile(r"Streamable HTTP endpoint: http://[^/\s]+:(\d+)/mcp")


def server_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "venice_keys_mcp", *args]


def server_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The runner's environment without VENICE_* variables, files and state under tmp_path, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VENICE")}
    env.update(
        VENICE_KEYS_SECRETS_DIR=str(tmp_path / "secrets"),
        VENICE_KEYS_AUDIT_LOG=str(tmp_path / "audit.jsonl"),
        # The state folders (pending approvals, the generated HTTP token): never the runner's own.
        VENICE_KEYS_STATE_DIR=str(tmp_path / "state"),
        VENICE_KEYS_TOOLSETS="all",  # every tool; the default selection is tested where it matters
        XDG_STATE_HOME=str(tmp_path / "xdg-state"),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def stdio_params(*args: str, env: Mapping[str, str]) -> StdioServerParameters:
    """`StdioServerParameters` for the SDK client; only the VENICE_* and PYTHON* variables are passed.

    The SDK merges them over its own safe default environment (PATH, HOME...).
    """
    wanted = {k: v for k, v in env.items() if k.startswith(("VENICE", "PYTHON"))}
    return StdioServerParameters(
        command=sys.executable, args=["-m", "venice_keys_mcp", *args], env=wanted, cwd=str(REPO_ROOT)
    )


def run_cli(
    *args: str, env: Mapping[str, str], stdin: bytes = b"", timeout: float = RUN_TIMEOUT
) -> Completed:
    """Run one command to completion (stdin is `stdin`, then closed) and return its output."""
    started = time.monotonic()
    done = subprocess.run(
        server_command(*args), input=stdin, capture_output=True, env=dict(env), cwd=REPO_ROOT, timeout=timeout
    )
    return Completed(
        returncode=done.returncode,
        stdout=done.stdout.decode("utf-8", "replace"),
        stderr=done.stderr.decode("utf-8", "replace"),
        seconds=time.monotonic() - started,
    )


def run_cli_on_terminal(*args: str, env: Mapping[str, str], timeout: float = RUN_TIMEOUT) -> Completed:
    """Run one command with stderr on a pseudo-terminal, as a person at a shell has it.

    stdin is closed at once (a stdio server then stops) and stdout is a pipe; `stderr` is
    what the terminal showed, with its CR LF line ends made plain.
    """
    import pty

    started = time.monotonic()
    primary, secondary = pty.openpty()
    try:
        process = subprocess.Popen(
            server_command(*args),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=secondary,
            env=dict(env),
            cwd=REPO_ROOT,
        )
        os.close(secondary)
        secondary = -1
        shown = bytearray()
        while True:  # read until the child's end of the terminal is closed (EIO on Linux)
            try:
                chunk = os.read(primary, 1 << 16)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
        out, _ = process.communicate(timeout=timeout)
    finally:
        os.close(primary)
        if secondary != -1:
            os.close(secondary)
    return Completed(
        returncode=process.returncode,
        stdout=out.decode("utf-8", "replace"),
        stderr=shown.decode("utf-8", "replace").replace("\r\n", "\n"),
        seconds=time.monotonic() - started,
    )


@dataclass
class Completed:
    returncode: int
    stdout: str
    stderr: str
    seconds: float


def free_port() -> int:
    """A TCP port nobody listens on right now (the OS's pick; closed again before returning)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def token_file(env: Mapping[str, str], *, sandbox: bool = True) -> Path:
    """Where a server started with `env` keeps the HTTP token it made: its state folder."""
    name = "sandbox-http-token" if sandbox else "http-token"
    if env.get("VENICE_KEYS_STATE_DIR"):
        return Path(env["VENICE_KEYS_STATE_DIR"]) / name
    return Path(env["XDG_STATE_HOME"]) / "venice-keys-mcp" / name


@dataclass
class ServerProcess:
    """A running `venice-keys-mcp --transport http` process and the token it wants (None: --no-auth)."""

    process: subprocess.Popen[bytes]
    port: int
    stdout_file: IO[bytes] = field(repr=False)
    stderr_file: IO[bytes] = field(repr=False)
    token: str | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    @property
    def auth(self) -> dict[str, str]:
        """The Authorization header this server accepts ({} with --no-auth)."""
        return {"authorization": f"Bearer {self.token}"} if self.token else {}

    def stdout(self) -> str:
        return _read_all(self.stdout_file)

    def stderr(self) -> str:
        return _read_all(self.stderr_file)


@contextlib.contextmanager
def running_http_server(
    *args: str, env: Mapping[str, str], port: int | None = None, timeout: float = START_TIMEOUT
) -> Iterator[ServerProcess]:
    """Start `venice-keys-mcp <args> --transport http --port P`; yield once it serves on P.

    `port=0` lets the OS pick. The server binds its port before it builds the app, so a
    connect alone would succeed early: readiness is the banner's endpoint line (printed
    just before serving, and naming the port), then a TCP connect to 127.0.0.1:P. Never
    `GET /mcp`, which opens a stream and hangs.
    """
    port = free_port() if port is None else port
    argv = server_command(*args, "--transport", "http", "--port", str(port))
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=dict(env), cwd=REPO_ROOT
        )
        server = ServerProcess(process=process, port=port, stdout_file=out, stderr_file=err)
        try:
            server.port = announced_port(server, timeout)
            if port and server.port != port:
                raise RuntimeError(f"asked for port {port}, the server announced {server.port}")
            wait_for_port(server.port, process, timeout, describe=server.stderr)
            server.token = _expected_token(args, env)
            yield server
        finally:
            stop(process)


def _expected_token(args: tuple[str, ...], env: Mapping[str, str]) -> str | None:
    """The configured token, else the one the server generated (it exists once the banner is out)."""
    if "--no-auth" in args:
        return None
    if env.get("VENICE_KEYS_HTTP_TOKEN"):
        return env["VENICE_KEYS_HTTP_TOKEN"]
    return token_file(env, sandbox="--sandbox" in args).read_text().strip()


def announced_port(server: ServerProcess, timeout: float) -> int:
    """The port in the banner's `Streamable HTTP endpoint: http://host:PORT/mcp` line."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = ENDPOINT_LINE.search(server.stderr())
        if found:
            return int(found.group(1))
        if server.process.poll() is not None:
            break
        time.sleep(0.05)
    raise RuntimeError(f"the server announced no endpoint: {server.stderr()}")


def wait_for_port(port: int, process: subprocess.Popen[Any], timeout: float, describe: Any = None) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(
                f"the server exited with {process.returncode}: {describe() if describe else ''}"
            )
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"nothing listened on port {port} after {timeout:g} s: {describe() if describe else ''}"
            )
        time.sleep(0.05)


def stop(process: subprocess.Popen[Any]) -> int:
    """Terminate (then kill) the process; returns its exit code."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT)
    return int(process.returncode)


def _read_all(file: IO[bytes]) -> str:
    # pread leaves the offset alone: the child shares it, and moving it would misplace its next write.
    fd = file.fileno()
    return os.pread(fd, os.fstat(fd).st_size, 0).decode("utf-8", "replace")
