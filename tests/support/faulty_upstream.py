"""A misbehaving HTTP/1.1 server on loopback, in front of an in-process sandbox, for raw wire faults.

The sandbox's own faults act inside the ASGI app. Some failures only exist on a socket:
a connection reset before any byte of the answer, bytes that are not HTTP, a 10 MB
body, a server that never answers. `FaultyUpstream` listens on 127.0.0.1, forwards each
request to a sandbox app in this process (so a test can look at the state the request
changed) and, when a plan says so, misbehaves instead of answering, or after the sandbox
has applied the request:

    async with FaultyUpstream(create_app(state)) as upstream:
        upstream.plan("POST", "reset_after")       # the create is applied, then the connection resets
        client = VeniceClient(admin_key, upstream.base_url)

Every request received is recorded in `seen` (misbehaved or not), so a test can count
how many times a write reached the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from dataclasses import dataclass
from http import HTTPStatus
from types import TracebackType
from typing import Any, Literal

import httpx2

Action = Literal[
    "forward",  # answer as the sandbox does
    "reset",  # not applied: reset the connection (RST) before any byte of an answer
    "reset_after",  # applied, then reset: the answer is lost
    "garbage",  # not applied: answer with bytes that are not HTTP, then close
    "garbage_after",  # applied, then garbage
    "hang",  # not applied: never answer (until the client gives up and closes)
    "hang_after",  # applied, then never answer
    "error",  # not applied: answer `status` (default 502) with a JSON error body
    "error_after",  # applied, then answer `status`: a gateway that gave up on a finished request
    "huge",  # not applied: a 200 whose body is 10 MB (Content-Length announced)
    "huge_after",  # applied, then the 10 MB body
    "huge_chunked",  # not applied: a 200 with a 10 MB chunked body (no length announced)
]
APPLIES = {"forward", "reset_after", "garbage_after", "hang_after", "error_after", "huge_after"}
HUGE_BYTES = 10 * 1024 * 1024
GARBAGE = b"\x00\x17 this is not HTTP \xff\xfe\r\n\r\n"
_DROPPED_HEADERS = {"host", "content-length", "connection", "transfer-encoding", "keep-alive"}


@dataclass
class Seen:
    """One request as it arrived, and what was done with it."""

    method: str
    path: str
    action: Action


@dataclass
class _Plan:
    method: str
    action: Action
    status: int
    times: int  # -1: forever


class FaultyUpstream:
    """A loopback HTTP server that forwards to a sandbox app unless a plan says to misbehave."""

    def __init__(self, app: Any) -> None:
        self._upstream = httpx2.AsyncClient(
            transport=httpx2.ASGITransport(app=app), base_url="http://sandbox"
        )
        self._plans: list[_Plan] = []
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self.seen: list[Seen] = []
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1"

    def plan(self, method: str, action: Action, *, status: int = 502, times: int = 1) -> None:
        """Misbehave on the next `times` requests with this method (`*`: any); -1 for all."""
        self._plans.append(_Plan(method.upper(), action, status, times))

    def count(self, method: str) -> int:
        """How many requests with this method arrived (whatever was done with them)."""
        return sum(1 for s in self.seen if s.method == method.upper())

    async def __aenter__(self) -> FaultyUpstream:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._handlers):
            task.cancel()
        for task in list(self._handlers):
            with contextlib.suppress(BaseException):
                await task
        if self._server is not None:
            await self._server.wait_closed()
        await self._upstream.aclose()

    # ---- one connection ----------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # the client went away: nothing to answer
        finally:
            self._handlers.discard(task)
            writer.transport.abort()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:  # keep-alive: one request after another until something closes
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                return
            request_line, *lines = head.decode("latin-1").split("\r\n")
            method, target, _ = request_line.split(" ", 2)
            headers = {}
            for line in lines:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length") or 0)
            body = await reader.readexactly(length) if length else b""
            plan = self._take(method)
            action: Action = plan.action if plan else "forward"
            self.seen.append(Seen(method, target.split("?", 1)[0], action))
            answer = await self._forward(method, target, headers, body) if action in APPLIES else None
            if not await self._respond(action, plan, answer, reader, writer):
                return

    def _take(self, method: str) -> _Plan | None:
        for plan in self._plans:
            if plan.method in ("*", method.upper()):
                if plan.times > 0:
                    plan.times -= 1
                    if plan.times == 0:
                        self._plans.remove(plan)
                return plan
        return None

    async def _forward(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> httpx2.Response:
        sent = {k: v for k, v in headers.items() if k not in _DROPPED_HEADERS}
        return await self._upstream.request(method, target, headers=sent, content=body)

    async def _respond(
        self,
        action: Action,
        plan: _Plan | None,
        answer: httpx2.Response | None,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        """Answer (or not) as the action says; False when the connection is finished."""
        if action == "forward":
            assert answer is not None
            headers = [(k, v) for k, v in answer.headers.items() if k.lower() not in _DROPPED_HEADERS]
            await _write(writer, answer.status_code, headers, answer.content)
            return True
        if action in ("reset", "reset_after"):
            _reset(writer)
            return False
        if action in ("garbage", "garbage_after"):
            writer.write(GARBAGE)
            await writer.drain()
            return False
        if action in ("hang", "hang_after"):
            await reader.read()  # returns when the client gives up and closes
            return False
        if action in ("error", "error_after"):
            status = plan.status if plan else 502
            body = b'{"error": "' + HTTPStatus(status).phrase.encode() + b'"}'
            await _write(writer, status, [("content-type", "application/json")], body)
            return True
        if action in ("huge", "huge_after"):
            await _write_huge(writer, chunked=False)
            return False
        await _write_huge(writer, chunked=True)
        return False


async def _write(
    writer: asyncio.StreamWriter, status: int, headers: list[tuple[str, str]], body: bytes
) -> None:
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Status"
    head = [f"HTTP/1.1 {status} {phrase}", *(f"{k}: {v}" for k, v in headers), f"content-length: {len(body)}"]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
    await writer.drain()


async def _write_huge(writer: asyncio.StreamWriter, *, chunked: bool) -> None:
    """10 MB of a JSON-looking body; the client should stop reading long before the end."""
    framing = "transfer-encoding: chunked" if chunked else f"content-length: {HUGE_BYTES}"
    writer.write(f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n{framing}\r\n\r\n".encode())
    piece = b'{"data": [' + b" " * (64 * 1024 - 10)
    for _ in range(HUGE_BYTES // len(piece)):
        writer.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
        await writer.drain()
    if chunked:
        writer.write(b"0\r\n\r\n")
        await writer.drain()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST, not FIN: the peer sees "connection reset by peer"."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
