"""MCP over stdin/stdout on the event loop itself, when both are pipes or sockets.

The SDK's `stdio_server` reads each line and writes (then flushes) each answer in a
worker thread: three thread hand-offs a call, about 0.7 ms of a 1.7 ms round trip on
the 2-core machines here. MCP hosts start servers with pipes (or, from Node, socket
pairs), which asyncio can watch directly, so this transport reads and writes them with
no thread at all. Anything else (a file, one socket serving as both stdin and stdout, a
platform without `fcntl`) takes the SDK's transport unchanged.

A terminal is served here too, and must be: the SDK reads stdin in a worker thread, and
a thread blocked in `read()` on a terminal cannot be cancelled, so Ctrl-C there cancelled
the server but left the process waiting for that read, until the next Enter. asyncio
watches a terminal like a pipe, so Ctrl-C ends the server at once (exit 130).

Like the SDK, it moves the wire off fds 0 and 1 while serving (stdin reads the null
device, stdout goes to stderr), so a stray `print` cannot corrupt the protocol, and puts
both back afterwards. Every answer is written out in full before the next one, and the
last before the process exits, as the SDK's flush after each message does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
from collections.abc import AsyncIterator
from typing import Any

import anyio
import mcp_types as types
from mcp.server.mcpserver import MCPServer
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage

from venice_keys_mcp.call_log import held_lines
from venice_keys_mcp.sdk_adapter import context_streams, lowlevel_server

log = logging.getLogger("venice_keys_mcp.stdio")

#: Longest line read as one message; a longer one is answered as parse errors and skipped.
MAX_LINE = 64 * 1024 * 1024


async def serve_stdio(server: MCPServer) -> None:
    """What `MCPServer.run("stdio")` does, over the faster transport where it applies."""
    low = lowlevel_server(server)
    async with _streams() as (read_stream, write_stream):
        await low.run(read_stream, write_stream, low.create_initialization_options())


def loop_can_serve(fd: int) -> bool:
    """Whether asyncio can watch `fd` without blocking anyone: a pipe, a socket or a terminal."""
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or (stat.S_ISCHR(mode) and os.isatty(fd))


def _one_stream_each_way() -> bool:
    """Pipes, sockets or terminals on 0 and 1, and not one socket for both (inetd, `socat EXEC`).

    asyncio's write transport treats its fd turning readable as the peer hanging up, which
    on a shared socket is just the next request. One terminal for both is fine: asyncio
    never watches a terminal it writes to for reading.
    """
    if not (loop_can_serve(0) and loop_can_serve(1)):
        return False
    a, b = os.fstat(0), os.fstat(1)
    return not (stat.S_ISSOCK(a.st_mode) and (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino))


@contextlib.asynccontextmanager
async def _streams() -> AsyncIterator[tuple[Any, Any]]:
    try:
        import fcntl
    except ImportError:  # no fcntl (Windows): the SDK's transport
        fcntl = None  # type: ignore[assignment]
    create_context_streams = context_streams()  # None in another SDK layout: the SDK's transport
    claimed: list[_Claim] = []
    if fcntl is not None and create_context_streams is not None and _one_stream_each_way():
        try:
            claimed.append(_Claim(0, lambda: os.open(os.devnull, os.O_RDONLY), fcntl))
            claimed.append(_Claim(1, lambda: os.dup(2), fcntl))
        except OSError as exc:  # descriptors to spare are the exception, not the rule
            log.debug("stdio on the event loop unavailable (%s); using the SDK's transport", exc)
            _release(claimed)
            claimed = []
    if not claimed:
        async with stdio_server() as streams:
            yield streams
        return

    loop = asyncio.get_running_loop()
    try:
        reader = asyncio.StreamReader(limit=MAX_LINE)
        read_transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(claimed[0].wire, "rb", buffering=0)
        )
        transport, protocol = await loop.connect_write_pipe(
            asyncio.streams.FlowControlMixin, os.fdopen(claimed[1].wire, "wb", buffering=0)
        )
        transport.set_write_buffer_limits(high=0)  # drain() returns once the answer is all out
        writer = asyncio.StreamWriter(transport, protocol, None, loop)
        read_send, read_stream = create_context_streams[SessionMessage | Exception](0)
        write_stream, write_receive = create_context_streams[SessionMessage](0)

        async def read_lines() -> None:
            async with read_send:
                while True:
                    try:
                        line = await reader.readline()
                    except ValueError as exc:  # longer than MAX_LINE: what is read of it is dropped,
                        await read_send.send(exc)  # and its rest comes as lines that do not parse
                        continue
                    if not line:
                        return  # the host closed stdin
                    try:  # decoded as the SDK's transport decodes: bad UTF-8 is replaced, not refused
                        text = line.decode("utf-8", errors="replace")
                        message = types.jsonrpc_message_adapter.validate_json(text, by_name=False)
                    except Exception as exc:
                        await read_send.send(exc)
                        continue
                    await read_send.send(SessionMessage(message))

        async def write_lines(stop: anyio.CancelScope) -> None:
            async with write_receive:
                async for session_message in write_receive:
                    data = session_message.message.model_dump_json(by_alias=True, exclude_unset=True)
                    writer.write(data.encode() + b"\n")
                    try:
                        await writer.drain()
                    except ConnectionError:  # the host closed our stdout: nobody hears answers now
                        log.info("the host closed stdout; stopping")
                        stop.cancel()  # writes already sent still finish (tools.write.to_the_end)
                        return
                    call_lines.flush()  # the call's log line, now that its answer is out

        try:
            # As the SDK's transport: both tasks end on their own, the reader at EOF and the
            # writer once the server closes its stream, so no answer is cut off.
            with held_lines() as call_lines:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(read_lines)
                    tg.start_soon(write_lines, tg.cancel_scope)
                    yield read_stream, write_stream
        finally:
            read_transport.close()
            writer.close()  # nothing is buffered: the writer drained each answer to the last byte
    finally:
        _release(claimed)


def _release(claimed: list[_Claim]) -> None:
    for claim in reversed(claimed):
        claim.release()


def _private_wire(fd: int, fcntl: Any) -> int:
    """A descriptor for asyncio to own and make non-blocking.

    A duplicate shares its open file description, and so its O_NONBLOCK flag, with `fd`. For
    a pipe that is only ours; a terminal's description is shared with stderr and with the
    shell that started us, whose writes and reads must not start failing with EAGAIN. So a
    terminal is opened afresh: the same device, a description of our own.
    """
    if os.isatty(fd):
        mode = os.O_RDONLY if fd == 0 else os.O_WRONLY
        return os.open(os.ttyname(fd), mode | os.O_NOCTTY | os.O_CLOEXEC)
    return int(fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3))


class _Claim:
    """fd 0 or 1 while serving: the wire moved to a private descriptor, a diversion in its place."""

    def __init__(self, fd: int, open_diversion: Any, fcntl: Any) -> None:
        self.fd, self._fcntl = fd, fcntl
        self._saved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)  # to put the wire back
        try:
            self.wire = _private_wire(fd, fcntl)  # for asyncio, which closes it
            try:
                divert = open_diversion()
                try:
                    os.dup2(divert, fd)
                finally:
                    os.close(divert)
            except OSError:
                os.close(self.wire)
                raise
        except OSError:
            os.close(self._saved)
            raise

    def release(self) -> None:
        """The wire back on its fd, blocking again (asyncio made the shared description non-blocking)."""
        flags = self._fcntl.fcntl(self._saved, self._fcntl.F_GETFL)
        with contextlib.suppress(OSError):
            self._fcntl.fcntl(self._saved, self._fcntl.F_SETFL, flags & ~os.O_NONBLOCK)
            os.dup2(self._saved, self.fd)
        os.close(self._saved)
