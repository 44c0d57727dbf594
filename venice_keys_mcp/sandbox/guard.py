"""The front door: request budget, abuse block, body size, and rate-limit headers.

Every `/api/v1` response (success or error, including 404 and 405) carries the
`x-ratelimit-*` headers, because clients schedule retries from them. A caller is its
Authorization header value (kept only as a hash) or, without one, its client host.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import MutableMapping
from datetime import datetime, timedelta
from typing import Any

from venice_keys_mcp.sandbox.state import BreachEntry, SandboxState, sha256_hex
from venice_keys_mcp.sandbox.wire import MAX_BODY_BYTES, RATE_HEADERS_SCOPE_KEY, unix_ceil

BUDGET_WINDOW = timedelta(seconds=60)
ABUSE_MESSAGE = (
    "Too many failed attempts (> 20) resulting in a non-success status code. Please wait 30s and try again."
)
_MAX_TRACKED_CALLERS = 10_000
Message = MutableMapping[str, Any]


def _header(scope: Message, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value)
    return None


def caller_of(scope: Message) -> str:
    auth = _header(scope, b"authorization")
    if auth is not None:
        return "auth:" + sha256_hex(auth.decode("latin-1"))
    client = scope.get("client") or ("unknown", 0)
    return f"host:{client[0]}"


def _bearer_token(scope: Message) -> str | None:
    auth = _header(scope, b"authorization")
    if auth is None:
        return None
    scheme, _, token = auth.decode("latin-1").strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def _recent(series: deque[datetime], now: datetime, window: timedelta) -> deque[datetime]:
    while series and series[0] <= now - window:
        series.popleft()
    return series


class RateGuard:
    """ASGI middleware in front of the API routes (the `/_sandbox` controls bypass it)."""

    def __init__(self, app: Any, state: SandboxState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Message, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("path", "").startswith("/_sandbox"):
            await self.app(scope, receive, send)
            return
        state, windows = self.state, self.state.windows
        now = state.now()
        caller = caller_of(scope)
        limit, remaining, reset = self._spend_budget(caller, now)
        blocked = windows.blocked_until.get(caller)
        if blocked is not None and blocked > now:
            await _send_json(send, 429, ABUSE_MESSAGE, (limit, remaining, unix_ceil(blocked)))
            return
        if remaining < 0:
            await _send_json(
                send, 429, "Rate limit exceeded: too many requests. Try again later.", (limit, 0, reset)
            )
            self._record(scope, caller, 429, now)
            return
        length = _header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > MAX_BODY_BYTES:
            await _send_json(
                send, 413, "Request body is too large (the limit is 1 MiB).", (limit, remaining, reset)
            )
            self._record(scope, caller, 413, now)
            return

        # Routes may overwrite these (create reports its own window); the app's 500
        # handler, which answers from outside this middleware, reads them from here too.
        holder: dict[str, int] = {"limit": limit, "remaining": remaining, "reset": reset}
        scope[RATE_HEADERS_SCOPE_KEY] = holder
        status = 0

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = with_rate_headers(list(message.get("headers", [])), rate_values(holder))
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            status = status or 500  # a bug in a route: the app's handler answers 500 on the way out
            raise
        finally:
            failed = status and not 200 <= status < 300
            if failed and not scope.get("sandbox.fault"):
                self._record(scope, caller, status, now)

    def _spend_budget(self, caller: str, now: datetime) -> tuple[int, int, int]:
        windows = self.state.windows
        start, count = windows.budget.get(caller, (now, 0))
        if now - start >= BUDGET_WINDOW:
            start, count = now, 0
        count += 1
        if len(windows.budget) > _MAX_TRACKED_CALLERS:
            windows.budget.clear()
        windows.budget[caller] = (start, count)
        limit = self.state.request_budget
        return limit, limit - count, unix_ceil(start + BUDGET_WINDOW)

    def _record(self, scope: Message, caller: str, status: int, now: datetime) -> None:
        """Count a failed request; too many block the caller, and may enter the breach log."""
        state, windows = self.state, self.state.windows
        if len(windows.failures) > _MAX_TRACKED_CALLERS:
            windows.failures.clear()
        window = timedelta(seconds=state.abuse_window_seconds)
        failures = _recent(windows.failures.setdefault(caller, deque()), now, window)
        failures.append(now)
        if len(failures) > state.abuse_threshold:
            windows.blocked_until[caller] = now + timedelta(seconds=state.abuse_block_seconds)
            failures.clear()
        # Abuse-blocked requests are 429s, which the sheet leaves out of FAILED_REQUESTS, so one
        # caller under the default block (>20 in 30 s) never reaches 50: tests raise abuse_threshold.
        if 400 <= status < 500 and status != 429:
            self._count_client_error(scope, now)

    def _count_client_error(self, scope: Message, now: datetime) -> None:
        token = _bearer_token(scope)
        key = self.state.key_for_secret(token) if token else None
        if key is None:
            return
        errors = self.state.windows.key_client_errors.setdefault(key.id, deque())
        _recent(errors, now, timedelta(seconds=30)).append(now)
        if len(errors) > self.state.failed_requests_threshold:
            errors.clear()
            model_id = "endpoint:" + scope.get("path", "").lstrip("/")
            self.state.log_breach(key.account_id, BreachEntry(key.id, model_id, "FAILED_REQUESTS", now))
            self.state.changed()


def rate_values(holder: dict[str, int]) -> tuple[int, int, int]:
    """`(limit, remaining, reset)` as the guard left them in the request scope."""
    return holder["limit"], holder["remaining"], holder["reset"]


def with_rate_headers(
    headers: list[tuple[bytes, bytes]], values: tuple[int, int, int]
) -> list[tuple[bytes, bytes]]:
    names = (b"x-ratelimit-limit-requests", b"x-ratelimit-remaining-requests", b"x-ratelimit-reset-requests")
    present = {bytes(k).lower() for k, _ in headers}
    for name, value in zip(names, values, strict=True):
        if name not in present:
            headers.append((name, str(max(0, value)).encode()))
    return headers


async def _send_json(send: Any, status: int, message: str, rate: tuple[int, int, int]) -> None:
    body = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send(
        {"type": "http.response.start", "status": status, "headers": with_rate_headers(headers, rate)}
    )
    await send({"type": "http.response.body", "body": body})
