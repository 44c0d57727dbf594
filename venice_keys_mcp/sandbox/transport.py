"""An in-process transport that fails the way a socket would.

httpx2's ASGITransport never loses a connection, so a "dropped connection" fault would
otherwise reach the client as a truncated 200. This wrapper turns the sandbox's drop
marker into the exception a real socket gives: `ConnectError` when the request was
never handled, `RemoteProtocolError` when it was applied and the answer was cut off.
It also honours the client's read timeout, which ASGITransport ignores, so latency
faults can produce `ReadTimeout` in process as they would over a socket.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import anyio
import httpx2

from venice_keys_mcp.sandbox.faults import DROP_HEADER

Message = MutableMapping[str, Any]


class _Dropped(Exception):
    def __init__(self, mode: str) -> None:
        super().__init__(mode)
        self.mode = mode


class _DropDetector:
    """Watches the app's answer for the drop marker; swallows errors after a full answer."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Message, receive: Any, send: Any) -> None:
        drop: str | None = None
        complete = False

        async def watch(message: Message) -> None:
            nonlocal drop, complete
            if drop is not None:
                return
            if message["type"] == "http.response.start":
                marker = dict(message.get("headers", [])).get(DROP_HEADER)
                if marker is not None:
                    drop = bytes(marker).decode()
                    return
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                complete = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception:
            # Starlette re-raises after sending its 500; the client already has its answer.
            if drop is None and not complete:
                raise
        if drop is not None:
            raise _Dropped(drop)


class SandboxTransport(httpx2.AsyncBaseTransport):
    """`httpx2.ASGITransport` over the sandbox app, with socket-like connection drops."""

    def __init__(self, app: Any, client: tuple[str, int] = ("127.0.0.1", 123)) -> None:
        self._asgi = httpx2.ASGITransport(app=_DropDetector(app), client=client)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        read_timeout = (request.extensions.get("timeout") or {}).get("read")
        try:
            if read_timeout is None:
                return await self._asgi.handle_async_request(request)
            with anyio.fail_after(read_timeout):
                return await self._asgi.handle_async_request(request)
        except TimeoutError:
            # Unlike a real server, the cancelled request is not finished in the background:
            # a timeout here means "not applied". Use drop="after" for "applied, no answer".
            raise httpx2.ReadTimeout(
                "Timed out waiting for the sandbox (latency fault)", request=request
            ) from None
        except _Dropped as dropped:
            if dropped.mode == "before":
                raise httpx2.ConnectError(
                    "Connection lost before the request was handled (sandbox fault)", request=request
                ) from None
            raise httpx2.RemoteProtocolError(
                "peer closed connection without sending complete message body (sandbox fault)",
                request=request,
            ) from None

    async def aclose(self) -> None:
        await self._asgi.aclose()


def asgi_transport(app: Any, *, client: tuple[str, int] = ("127.0.0.1", 123)) -> httpx2.AsyncBaseTransport:
    """An in-process transport for `httpx2.AsyncClient(transport=..., base_url=".../api/v1")`."""
    return SandboxTransport(app, client=client)
