"""`Transport`: one exchange with Venice, the part every endpoint of `VeniceClient` shares.

Reads (GET) are retried with jittered backoff on network errors, 429 and 500/502/503/504,
within a `RetryPolicy`'s attempts and time budget. Writes are sent once: when the
connection fails after the request may have left, the caller gets `OutcomeUnknown` and
must reconcile (look for the key) instead of resending.

What a write raises when things go wrong, and why:

- nothing was sent (connect error or timeout, pool timeout): `NetworkError`, nothing changed;
- sent, no answer (read error or timeout, dropped connection, write error): `OutcomeUnknown`;
- a 500, 502 or 504 answer: `OutcomeUnknown` (the change may have been applied before the
  server or a gateway failed); a 503 or a 4xx: the mapped `VeniceAPIError`, nothing changed;
- a 2xx whose body cannot be read: for create and mint the key exists but its secret
  would be lost, so the client first salvages `id` and `apiKey` from whatever JSON came
  back (logging a warning) and otherwise raises `OutcomeUnknown`; for update and delete
  the change was most likely applied, so `MalformedResponse` with `operation`/`key_id`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from types import TracebackType
from typing import Any, Self, TypeVar

import anyio
import httpx2

from venice_keys_mcp import __version__
from venice_keys_mcp.safety.console import display_url
from venice_keys_mcp.settings import DEFAULT_BASE_URL, header_safe  # one of each, with every setting
from venice_keys_mcp.venice import _wire
from venice_keys_mcp.venice._redact import SECRET_PATTERN, redact
from venice_keys_mcp.venice._retry import (
    NOT_SENT,
    RETRYABLE_STATUSES,
    TRANSIENT_ERRORS,
    WRITE_UNKNOWN_STATUSES,
    Budget,
    RetryClock,
    RetryPolicy,
)
from venice_keys_mcp.venice.errors import (
    AbuseBlocked,
    MalformedResponse,
    NetworkError,
    NotConfigured,
    OutcomeUnknown,
    RateLimited,
    VeniceAPIError,
    VeniceError,
)
from venice_keys_mcp.venice.models import (
    KEY_ID_RULE,
    RateLimitHeaders,
    is_key_id,
)

log = logging.getLogger("venice_keys_mcp.venice")

T = TypeVar("T")


class Auth(Enum):
    """Which key an endpoint needs."""

    ADMIN = "an ADMIN key"
    ANY = "an API key"
    NONE = "no key"


class InvalidKeyId(VeniceError, ValueError):
    """An id that cannot be a Venice key id: refused before sending, a `VeniceError` so that a
    tool's clean-up path (which catches `VeniceError`) records it instead of crashing."""


@dataclass(frozen=True)
class Write:
    """What a write was, for `OutcomeUnknown`: the body minus anything secret."""

    operation: str
    key_id: str | None
    request: dict[str, object]


@dataclass(frozen=True)
class Answer:
    status: int
    headers: httpx2.Headers
    body: bytes
    problem: str | None  # why the body could not be read (too large, undecodable), if so
    sent_at: datetime
    route: str  # as messages name it: "GET /api_keys/{id}"


class Transport:
    """One exchange with Venice's API, read or write. Knows nothing of MCP.

    The endpoints are methods of `VeniceClient` and its endpoint groups (`limits.py`,
    `billing.py`), each beside the models of its answers.

    `transport` picks where requests go (the real API, the in-process sandbox, a mock);
    `timeout` bounds each phase of each attempt (connect, write, read, pool), and an
    attempt as a whole never takes more than twice that.
    """

    def __init__(
        self,
        api_key: str | None,
        base_url: str = DEFAULT_BASE_URL,
        *,
        transport: httpx2.AsyncBaseTransport | None = None,
        timeout: float = 15.0,
        retry: RetryPolicy | None = None,
        user_agent: str | None = None,
        clock: RetryClock | None = None,
    ) -> None:
        self._api_key = (api_key or "").strip() or None
        if self._api_key is not None and not header_safe(self._api_key):
            raise ValueError("The API key contains spaces or control characters; check how it was pasted.")
        if not timeout > 0:
            raise ValueError("timeout must be a positive number of seconds")
        self.base_url = _wire.checked_base_url(base_url)
        self._shown_url = display_url(self.base_url)
        self._timeout = float(timeout)
        self._retry = retry or RetryPolicy()
        self._clock = clock or RetryClock()
        self.last_rate_limit: RateLimitHeaders | None = None
        self._http = httpx2.AsyncClient(
            base_url=self.base_url,
            transport=transport,
            timeout=httpx2.Timeout(self._timeout),
            follow_redirects=False,
            headers={
                "User-Agent": user_agent or f"venice-keys-mcp/{__version__}",
                "Accept": "application/json",
            },
        )

    def __repr__(self) -> str:
        key = "configured" if self._api_key else "none"
        return f"VeniceClient(base_url={self._shown_url!r}, api_key={key})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # ---- one exchange ------------------------------------------------------------------

    def _auth_headers(self, auth: Auth, route: str) -> dict[str, str]:
        if auth is Auth.NONE:
            return {}
        if self._api_key is None:
            raise NotConfigured(f"No Venice API key is configured, and {route} needs {auth.value}.")
        return {"Authorization": f"Bearer {self._api_key}"}

    async def _send_once(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        *,
        route: str,
        attempt: int,
        timeout: float,
        params: dict[str, str] | None = None,
        json: dict[str, object] | None = None,
    ) -> Answer:
        """One HTTP exchange, body read (bounded). Raises httpx2 transport errors as they come."""
        request = self._http.build_request(
            method, path, params=params, json=json, headers=headers, timeout=httpx2.Timeout(timeout)
        )
        sent_at = datetime.now(UTC)
        started = time.monotonic()
        shown_path = redact(path, *self._secrets())
        try:
            # httpx2 bounds each phase; this bounds the whole attempt against a server
            # that trickles bytes just fast enough to dodge the read timeout.
            with anyio.fail_after(2 * timeout):
                response = await self._http.send(request, stream=True)
                try:
                    try:
                        body, problem = await _wire.read_capped(response), None
                    except _wire.WireError as exc:
                        body, problem = b"", exc.reason
                finally:
                    await response.aclose()
        except TimeoutError:
            log.debug("%s %s -> stalled after %d ms (attempt %d)", method, shown_path, _ms(started), attempt)
            raise httpx2.ReadTimeout(f"the exchange took longer than {2 * timeout:g} s") from None
        except httpx2.HTTPError as exc:
            log.debug(
                "%s %s -> %s after %d ms (attempt %d)",
                method, shown_path, type(exc).__name__, _ms(started), attempt,
            )  # fmt: skip
            raise
        log.debug(
            "%s %s -> %d in %d ms (attempt %d)",
            method,
            shown_path,
            response.status_code,
            _ms(started),
            attempt,
        )
        self.last_rate_limit = _wire.rate_limit_headers(response.headers)
        return Answer(response.status_code, response.headers, body, problem, sent_at, route)

    async def _read(
        self,
        path: str,
        auth: Auth,
        *,
        key_id: str | None = None,
        web3: bool = False,
        params: dict[str, str] | None = None,
    ) -> Answer:
        """A GET with retries on transient failures, inside the retry budget; returns a 2xx."""
        route = f"GET {_template(path, key_id)}"
        headers = self._auth_headers(auth, route)
        budget = Budget(self._retry, self._clock)
        attempt = 0
        while True:
            attempt += 1
            timeout = self._timeout if attempt == 1 else max(min(self._timeout, budget.remaining()), 0.01)
            wait = self._retry.backoff(attempt)
            failure: Exception
            try:
                answer = await self._send_once(
                    "GET", path, headers, route=route, attempt=attempt, timeout=timeout, params=params
                )
            except httpx2.HTTPError as exc:
                failure = self._network_error(exc, route)
                if not isinstance(exc, TRANSIENT_ERRORS):
                    raise failure from None
            else:
                if 200 <= answer.status < 300:
                    return answer
                failure = self._status_error(answer, key_id=key_id, web3=web3)
                if answer.status not in RETRYABLE_STATUSES or isinstance(failure, AbuseBlocked):
                    raise failure
                if isinstance(failure, RateLimited) and failure.reset_at is not None:
                    until = (failure.reset_at - self._clock.now()).total_seconds()
                    if until >= budget.remaining():
                        raise failure  # the window outlasts the budget: say when to come back
                    wait = max(wait, until)
            if not budget.allows(attempt, wait):
                raise failure from None
            log.debug("retrying %s in %.2f s after %s (attempt %d)", route, wait, _why(failure), attempt)
            await self._clock.sleep(wait)

    async def _write(
        self,
        method: str,
        path: str,
        auth: Auth,
        write: Write,
        *,
        json: dict[str, object] | None = None,
        params: dict[str, str] | None = None,
        key_id: str | None = None,
        web3: bool = False,
    ) -> Answer:
        """A POST/PATCH/DELETE, sent exactly once; returns a 2xx or raises."""
        route = f"{method} {path}"
        headers = self._auth_headers(auth, route)
        sent_at = datetime.now(UTC)
        try:
            answer = await self._send_once(
                method, path, headers, route=route, attempt=1, timeout=self._timeout, params=params, json=json
            )
        except httpx2.HTTPError as exc:
            if isinstance(exc, NOT_SENT):
                raise NetworkError(
                    f"{route} could not be sent ({_wire.transport_reason(exc, self._secrets())}); "
                    "nothing was sent, so nothing changed at Venice."
                ) from None
            raise self._unknown(
                write, sent_at, f"the connection failed after {route} was sent ({_why(exc)})"
            ) from None
        if 200 <= answer.status < 300:
            return answer
        error = self._status_error(answer, key_id=key_id, web3=web3)
        if answer.status in WRITE_UNKNOWN_STATUSES:
            raise self._unknown(
                write, answer.sent_at, f"Venice answered {route} with HTTP {answer.status}"
            ) from error
        raise error

    # ---- answers to errors and models --------------------------------------------------

    def _check_key_id(self, key_id: str) -> None:
        """Refuse ids that cannot be a Venice key id (or are a secret) before anything is sent.

        The same rule (`KEY_ID_PATTERN`) is applied to ids in Venice's answers, so an id
        this client accepted from Venice can always be sent back (a revoke after a failed
        delivery), and one it would refuse here never gets in.
        """
        if isinstance(key_id, str) and (SECRET_PATTERN.search(key_id) or key_id == self._api_key):
            raise InvalidKeyId("key_id looks like a secret key, not a key id; use the id list_keys shows.")
        if not is_key_id(key_id):
            raise InvalidKeyId(f"key_id must be a key id as list_keys shows it ({KEY_ID_RULE}).")

    def _secrets(self) -> tuple[str, ...]:
        return (self._api_key,) if self._api_key else ()

    def _status_error(self, answer: Answer, *, key_id: str | None, web3: bool) -> VeniceAPIError:
        content_type = answer.headers.get("content-type")
        try:
            payload: Any = _wire.decode_json(answer.body, content_type) if answer.body else None
        except _wire.WireError:
            payload = None
        detail = _wire.error_detail(payload, answer.body, content_type, self._secrets())
        reset_at = _wire.reset_time(answer.headers) if answer.status == 429 else None
        return _wire.error_for_status(
            answer.status,
            detail,
            route=answer.route,
            base_url=self._shown_url,
            web3=web3,
            key_id=key_id,
            reset_at=reset_at,
        )

    def _network_error(self, exc: httpx2.HTTPError, route: str) -> NetworkError:
        return NetworkError(f"{route} failed: {_wire.transport_reason(exc, self._secrets())}.")

    def _unknown(
        self,
        write: Write,
        sent_at: datetime,
        what: str,
        *,
        key_id: str | None = None,
        hint: str | None = None,
    ) -> OutcomeUnknown:
        key_id = key_id or write.key_id
        target = f" of key {key_id}" if key_id else ""
        return OutcomeUnknown(
            f"The {write.operation}{target} may or may not have happened: {what}.",
            operation=write.operation,
            key_id=key_id,
            request=dict(write.request),
            sent_at=sent_at,
            hint=hint,
        )

    def _json(self, answer: Answer, *, require_json_type: bool = True) -> Any:
        if answer.problem:
            raise _wire.WireError(answer.problem)
        return _wire.decode_json(
            answer.body, answer.headers.get("content-type"), require_json_type=require_json_type
        )

    def _decode(self, answer: Answer, parse: Callable[[Any], T]) -> T:
        try:
            return parse(self._json(answer))
        except _wire.WireError as exc:
            raise MalformedResponse(f"Venice's answer to {answer.route} {exc.reason}.") from None


# ---- small helpers ---------------------------------------------------------------------


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _why(failure: BaseException) -> str:
    if isinstance(failure, VeniceAPIError):
        return f"HTTP {failure.status}"
    return type(failure).__name__


def _template(path: str, key_id: str | None) -> str:
    return "/api_keys/{id}" if key_id is not None and path.startswith("/api_keys/") else path
