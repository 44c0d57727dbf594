"""A raw JSON-RPC client over a child process's stdin/stdout, with bounded waits.

The benchmark talks to servers this way rather than through the SDK's `Client`: a line
written, a line read, no client-side models or task groups, so what is timed is the
server (and the pipe), not our client. Every wait has a deadline, and `close()` always
ends the process (stdin closed, then terminate, then kill).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import selectors
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

PROTOCOL_VERSION = "2025-11-25"
DEFAULT_TIMEOUT = 60.0
STOP_TIMEOUT = 5.0


class RpcError(RuntimeError):
    """The server answered with a JSON-RPC error, died, or stayed silent past the deadline."""


class RpcProcess:
    """One child process speaking newline-delimited JSON-RPC on stdio."""

    def __init__(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None) -> None:
        self.argv = list(argv)
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115  (closed in close())
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            self.argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=dict(env) if env is not None else None,
            bufsize=0,
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self._in = self.process.stdin
        self._out = self.process.stdout.fileno()
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._out, selectors.EVENT_READ)
        self._buffer = b""
        self._ids = itertools.count(1)

    @property
    def pid(self) -> int:
        return self.process.pid

    # -- messages ------------------------------------------------------------------------

    def send(self, method: str, params: Mapping[str, Any] | None = None, *, notify: bool = False) -> int:
        """Write one request (or notification) line; returns the request id (0 for notifications)."""
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        rid = 0 if notify else next(self._ids)
        if not notify:
            message["id"] = rid
        if params is not None:
            message["params"] = params
        self._in.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")
        return rid

    def wait(self, rid: int, *, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        """Read lines until the response to `rid`; returns its `result` object."""
        deadline = time.monotonic() + timeout
        while True:
            line = self._line(deadline)
            try:
                message = json.loads(line)
            except ValueError:
                raise RpcError(
                    f"{self.argv[-1]}: wrote a line that is not JSON-RPC on stdout: {line[:200]!r}"
                ) from None
            if message.get("id") != rid or "method" in message:
                continue  # a notification or a server-to-client request: not ours to time
            if "error" in message:
                raise RpcError(f"{self.argv[-1]}: JSON-RPC error {message['error']}")
            result: dict[str, Any] = message["result"]
            return result

    def request(
        self, method: str, params: Mapping[str, Any] | None = None, *, timeout: float = DEFAULT_TIMEOUT
    ) -> dict[str, Any]:
        return self.wait(self.send(method, params), timeout=timeout)

    def call_tool(self, name: str, arguments: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """`tools/call`; a result with `isError` raises, so a benchmark never times failures."""
        result = self.request("tools/call", {"name": name, "arguments": dict(arguments or {})})
        if result.get("isError"):
            raise RpcError(f"{name} failed: {json.dumps(result)[:500]}")
        return result

    def handshake(self, *, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        """`initialize`, wait, then `notifications/initialized` (the 2025-11-25 handshake)."""
        init = self.request(
            "initialize",
            {
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "venice-keys-mcp-bench", "version": "0"},
            },
            timeout=timeout,
        )
        self.send("notifications/initialized", notify=True)
        return init

    def _line(self, deadline: float) -> bytes:
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RpcError(f"{self.argv[-1]}: no answer in time{self.stderr_tail()}")
            if not self._selector.select(left):
                continue
            chunk = os.read(self._out, 1 << 20)
            if not chunk:
                raise RpcError(f"{self.argv[-1]}: exited with {self.process.poll()}{self.stderr_tail()}")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line

    # -- the process ---------------------------------------------------------------------

    def peak_rss(self) -> int:
        """The process's peak resident set size in bytes (Linux `VmHWM`; psutil's RSS elsewhere)."""
        with contextlib.suppress(OSError), open(f"/proc/{self.pid}/status") as status:
            for row in status:
                if row.startswith("VmHWM:"):
                    return int(row.split()[1]) * 1024
        import psutil

        return int(psutil.Process(self.pid).memory_info().rss)

    def cpu_seconds(self) -> float | None:
        """User plus system CPU time the process has used so far (Linux; None elsewhere).

        Unlike wall time, it does not grow while the process waits for a CPU, so on a busy
        machine it shows how much work start-up is, next to how long it took.
        """
        try:
            with open(f"/proc/{self.pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stderr_tail(self) -> str:
        with contextlib.suppress(OSError, ValueError):
            self._stderr.seek(0)
            text = self._stderr.read()[-2000:].decode("utf-8", "replace").strip()
            return f"; its stderr ends with:\n{text}" if text else ""
        return ""

    def close(self) -> None:
        """End the process: closing stdin asks a stdio server to stop; then terminate, then kill."""
        with contextlib.suppress(OSError):
            self._in.close()
        try:
            self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT)
        self._selector.close()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._stderr.close()


@contextlib.contextmanager
def rpc_process(argv: Sequence[str], *, env: Mapping[str, str] | None = None) -> Iterator[RpcProcess]:
    """Start `argv`, yield it, and always stop it."""
    proc = RpcProcess(argv, env=env)
    try:
        yield proc
    finally:
        proc.close()
