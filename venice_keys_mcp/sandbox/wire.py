"""What every route shares: Venice-shaped errors, JSON bodies, timestamps and key auth."""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse

if TYPE_CHECKING:
    from venice_keys_mcp.sandbox.state import SandboxState, StoredKey

API = "/api/v1/api_keys"
BILLING = "/api/v1/billing"
Endpoint = Callable[[Request], Awaitable[Any]]
E = TypeVar("E", bound=Endpoint)
#: Every endpoint by path and method, declared where it is written (`@route`); `app.py` serves them.
ENDPOINTS: dict[str, dict[str, Endpoint]] = {}


def route(path: str, method: str = "GET") -> Callable[[E], E]:
    """Declare the handler of `method` on `path` (Venice's, or a `/_sandbox` control)."""

    def declare(handler: E) -> E:
        methods = ENDPOINTS.setdefault(path, {})
        if method in methods:
            raise ValueError(f"two handlers for {method} {path}")
        methods[method] = handler
        return handler

    return declare


MAX_BODY_BYTES = 1024 * 1024
RATE_HEADERS_SCOPE_KEY = "sandbox.ratelimit"
PAYMENT_REQUIRED = (
    "Payment required: this endpoint needs an API key (send 'Authorization: Bearer <key>') "
    "or an x402 wallet payment (see POST /x402/top-up)."
)


class ApiError(Exception):
    """An error answer in Venice's shape: `{"error": ...}`, plus `details`/`issues` for bad input."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        issues: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details
        self.issues = issues
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        body: dict[str, Any] = {"error": self.message}
        if self.details is not None:
            body["details"] = self.details
        if self.issues is not None:
            body["issues"] = self.issues
        return JSONResponse(body, status_code=self.status, headers=self.headers)


def sandbox_state(request: Request) -> SandboxState:
    return request.app.state.sandbox  # type: ignore[no-any-return]


def iso(moment: datetime | None) -> str | None:
    """Venice's timestamp form: `2026-04-20T10:05:00.000Z`."""
    if moment is None:
        return None
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def unix_ceil(moment: datetime) -> int:
    return math.ceil(moment.timestamp())


def set_rate_headers(request: Request, limit: int, remaining: int, reset: int) -> None:
    """Tell the guard which window this response reports (create has its own)."""
    holder = request.scope.get(RATE_HEADERS_SCOPE_KEY)
    if isinstance(holder, dict):
        holder.update(limit=limit, remaining=max(0, remaining), reset=reset)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


async def read_body(request: Request) -> bytes:
    """The raw body, refused with 413 beyond 1 MiB whatever the declared length says."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise ApiError(413, "Request body is too large (the limit is 1 MiB).")
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > MAX_BODY_BYTES:
            raise ApiError(413, "Request body is too large (the limit is 1 MiB).")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request) -> Any:
    return parse_json(await read_body(request))


def parse_json(raw: bytes) -> Any:
    if not raw.strip():
        raise ApiError(400, "Request body is missing: send a JSON object.")
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "Request body is not valid JSON.") from None


def authenticate(request: Request, *, admin: bool) -> StoredKey:
    """The calling key, or the error Venice gives: 402 no key, 401 bad key or not ADMIN."""
    state = sandbox_state(request)
    header = request.headers.get("authorization")
    if header is None:
        raise ApiError(402, PAYMENT_REQUIRED)
    scheme, _, token = header.strip().partition(" ")
    key = state.key_for_secret(token.strip()) if scheme.lower() == "bearer" and token.strip() else None
    if key is None or state.is_expired(key):
        raise ApiError(401, "Authentication failed")
    if admin and key.api_key_type != "ADMIN":
        raise ApiError(401, "Admin API key required")
    state.touch(key)
    return key
