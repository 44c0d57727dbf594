"""A scripted Venice behind `httpx2.MockTransport`: canned happy answers plus queued replies.

Unit tests use it to pin exact statuses, bodies and transport errors, and to count the
requests that really left the client.
"""

from __future__ import annotations

import inspect
import json
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import httpx2

from venice_keys_mcp.venice import RetryClock, RetryPolicy, VeniceClient

BASE_URL = "https://venice.test/api/v1"
#: Canaries made at run time (a secret-shaped literal in the tree would look like a leak).
ADMIN_SECRET = "VENICE_ADMIN_KEY_" + secrets.token_urlsafe(24)
NEW_SECRET = "VENICE_INFERENCE_KEY_" + secrets.token_urlsafe(24)
KEY_ID = "e28e82dc-9df2-4b47-b726-d0a222ef2ab5"
FAST = RetryPolicy(max_attempts=4, base_delay=0.001, max_delay=0.004, total_budget=2.0)

KEY_JSON: dict[str, Any] = {
    "id": KEY_ID,
    "apiKeyType": "INFERENCE",
    "description": "ci runner",
    "createdAt": "2026-04-20T10:05:00.000Z",
    "expiresAt": None,
    "lastUsedAt": None,
    "last6Chars": "2V2jNW",
    "consumptionLimits": {"usd": 50, "diem": None, "vcu": None},
    "limitPeriod": "EPOCH",
    "modelPrivacy": "ALL",
    "usage": {"trailingSevenDays": {"usd": "1.0000", "vcu": "0.0000", "diem": "0.5000"}},
    "currentPeriodUsage": {"usd": "0.2500", "diem": "0.0000"},
}
CREATED_JSON: dict[str, Any] = {
    "id": "0f6c3a52-8f0e-4c55-9a43-5d1f0c7d9e11",
    "apiKey": NEW_SECRET,
    "apiKeyType": "INFERENCE",
    "description": "new key",
    "expiresAt": None,
    "consumptionLimit": {"usd": 10, "diem": None, "vcu": None},
    "limitPeriod": "EPOCH",
    "modelPrivacy": "ALL",
}
RATE_LIMITS_JSON: dict[str, Any] = {
    "accessPermitted": True,
    "apiTier": {"id": "paid", "isCharged": True},
    "balances": {"USD": 12.5, "DIEM": 3},
    "keyExpiration": None,
    "nextEpochBegins": "2026-04-21T00:00:00.000Z",
    "rateLimits": [{"apiModelId": "llama-3.3-70b", "rateLimits": [{"type": "RPM", "amount": 50}]}],
}
BREACH_JSON: dict[str, Any] = {
    "apiKeyId": KEY_ID,
    "modelId": "llama-3.3-70b",
    "rateLimitTier": "paid",
    "rateLimitType": "RPM",
    "timestamp": "2026-04-20T10:05:00.000Z",
}

class FakeClock(RetryClock):
    """A retry clock that jumps instead of waiting, and remembers every wait it was asked for.

    Time moves only when the client sleeps or a test calls `advance` (an attempt that
    "took" some time), so a budget is checked exactly, whatever the machine's load.
    """

    def __init__(self, start: datetime = datetime(2026, 4, 20, 10, 5, tzinfo=UTC)) -> None:
        self.seconds = 0.0
        self.start = start
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.seconds

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.seconds)

    def advance(self, seconds: float) -> None:
        self.seconds += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.seconds += seconds
        await anyio.lowlevel.checkpoint()


Reply = httpx2.Response | BaseException | Callable[[httpx2.Request], Any]


def answer(status: int = 200, body: Any = None, *, headers: dict[str, str] | None = None) -> httpx2.Response:
    """A JSON response (`body` None gives an empty body)."""
    content = b"" if body is None else json.dumps(body).encode()
    all_headers = {"content-type": "application/json", **(headers or {})}
    return httpx2.Response(status, content=content, headers=all_headers)


def error(status: int, message: str, **extra: Any) -> httpx2.Response:
    headers = extra.pop("headers", None)
    return answer(status, {"error": message, **extra}, headers=headers)


class FakeVenice:
    """Queued replies first (a response, an exception to raise, or a handler), then the canned API."""

    def __init__(self) -> None:
        self.requests: list[httpx2.Request] = []
        self.replies: list[Reply] = []

    def reply(self, *items: Reply) -> FakeVenice:
        self.replies.extend(items)
        return self

    def client(self, api_key: str | None = ADMIN_SECRET, **kwargs: Any) -> VeniceClient:
        kwargs.setdefault("retry", FAST)
        return VeniceClient(api_key, BASE_URL, transport=httpx2.MockTransport(self.handle), **kwargs)

    def count(self, method: str | None = None) -> int:
        return sum(1 for r in self.requests if method is None or r.method == method)

    async def handle(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        if not self.replies:
            return self.canned(request)
        item = self.replies.pop(0)
        if isinstance(item, BaseException):
            raise item
        if isinstance(item, httpx2.Response):
            return item
        result = item(request)
        if inspect.isawaitable(result):
            result = await result  # type: ignore[assignment]
        return result if isinstance(result, httpx2.Response) else self.canned(request)

    def canned(self, request: httpx2.Request) -> httpx2.Response:
        path = request.url.path.removeprefix("/api/v1")
        method = request.method
        if path == "/api_keys" and method == "GET":
            return answer(200, {"object": "list", "data": [KEY_JSON]})
        if path == "/api_keys" and method == "POST":
            return answer(200, {"success": True, "data": CREATED_JSON})
        if path == "/api_keys" and method == "PATCH":
            return answer(200, {"success": True, "data": KEY_JSON})
        if path == "/api_keys" and method == "DELETE":
            return answer(200, {"success": True})
        if path == "/api_keys/rate_limits":
            return answer(200, {"data": RATE_LIMITS_JSON})
        if path == "/api_keys/rate_limits/log":
            return answer(200, {"object": "list", "data": [BREACH_JSON]})
        if path == "/api_keys/generate_web3_key" and method == "GET":
            return answer(200, {"success": True, "data": {"token": "header.payload.sig"}})
        if path == "/api_keys/generate_web3_key" and method == "POST":
            return answer(200, {"success": True, "data": CREATED_JSON})
        if path.startswith("/api_keys/") and method == "GET":
            return answer(200, {"data": KEY_JSON})
        return answer(404, {"error": "Not found"})


def slow(seconds: float) -> Callable[[httpx2.Request], Awaitable[None]]:
    """A reply that stalls (MockTransport enforces no timeouts; the client's own cap must)."""

    async def stall(_: httpx2.Request) -> None:
        await anyio.sleep(seconds)

    return stall


class CountingTransport(httpx2.AsyncBaseTransport):
    """Wraps a real transport and records every request that reaches it."""

    def __init__(self, inner: httpx2.AsyncBaseTransport | None = None) -> None:
        self.inner = inner or httpx2.AsyncHTTPTransport()
        self.sent: list[tuple[str, str]] = []

    def count(self, method: str | None = None) -> int:
        return sum(1 for m, _ in self.sent if method is None or m == method)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        self.sent.append((request.method, request.url.path))
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()
