"""Reading Venice's answers: bounded bodies, JSON envelopes, rate-limit headers, error mapping.

Pure functions over bytes, headers and statuses, so each rule is testable without a
network. Everything from the wire that ends up in a message is cleaned (control
characters), shortened and redacted first.
"""

from __future__ import annotations

import functools
import json
import re
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx2
from pydantic import BaseModel, TypeAdapter, ValidationError

from venice_keys_mcp.venice._redact import SECRET_PATTERN, redact, redact_upstream
from venice_keys_mcp.venice.errors import (
    AbuseBlocked,
    AdminKeyRequired,
    AuthenticationFailed,
    EndpointNotFound,
    InvalidRequest,
    KeyLimitReached,
    KeyNotFound,
    PaymentRequired,
    RateLimited,
    VeniceAPIError,
    VeniceUnavailable,
    Web3Rejected,
)
from venice_keys_mcp.venice.models import CreatedKey, RateLimitHeaders, is_key_id

M = TypeVar("M", bound=BaseModel)

#: Larger answers are refused: no `/api_keys` answer comes near (500 keys is ~300 KiB).
MAX_BODY_BYTES = 5 * 1024 * 1024
_MAX_DETAIL = 300

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff]+")
_NOT_FOUND = re.compile(r"\bnot\s+(?:be\s+)?found\b", re.IGNORECASE)
_KEY_LIMIT = re.compile(
    r"\b500\b.*\bkeys?\b|\bkeys?\b.*\b500\b"
    r"|maximum (?:number )?of (?:\d+ )?(?:active )?(?:api )?keys|too many (?:active )?(?:api )?keys",
    re.IGNORECASE,
)
_ABUSE = "too many failed attempts"
_ADMIN_REQUIRED = "admin api key required"
_WEB3_TRANSIENT = "could not verify wallet signature"


class WireError(Exception):
    """An answer that is not what the route promises. `reason` completes "Venice's answer ..."."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# ---- bodies ----------------------------------------------------------------------------


async def read_capped(response: httpx2.Response) -> bytes:
    """Read a streamed body, refusing more than `MAX_BODY_BYTES` (decoded)."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise WireError(f"announced a body of {int(declared)} bytes, more than the 5 MiB allowed")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise WireError("had a body larger than the 5 MiB allowed")
            chunks.append(chunk)
    except httpx2.DecodingError:
        raise WireError("had a body that could not be decoded") from None
    return b"".join(chunks)


def is_json_type(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def decode_json(body: bytes, content_type: str | None, *, require_json_type: bool = True) -> Any:
    if require_json_type and not is_json_type(content_type):
        shown = clean(content_type or "no content type", 60)
        raise WireError(f"came as {shown!r} instead of JSON")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise WireError("is not valid JSON") from None


def envelope_data(payload: Any) -> Any:
    """The `data` member of Venice's `{"data": ...}` envelopes (`success: false` is refused)."""
    if not isinstance(payload, dict) or "data" not in payload:
        raise WireError('is not the expected {"data": ...} object')
    if payload.get("success") is False:
        raise WireError("says success=false with a success status")
    return payload["data"]


def parse_model(payload: Any, model: type[M]) -> M:
    try:
        return model.model_validate(envelope_data(payload))
    except ValidationError as exc:
        raise WireError(describe_validation(exc)) from None


def parse_bare_model(payload: Any, model: type[M]) -> M:
    """A model from an answer with no `{"data": ...}` envelope (the `/billing` endpoints)."""
    if not isinstance(payload, dict):
        raise WireError("is not a JSON object")
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise WireError(describe_validation(exc)) from None


def parse_model_list(payload: Any, model: type[M]) -> list[M]:
    try:
        return _list_adapter(model).validate_python(envelope_data(payload))
    except ValidationError as exc:
        raise WireError(describe_validation(exc)) from None


@functools.cache
def _list_adapter(model: type[M]) -> TypeAdapter[list[M]]:
    """One adapter per model, kept: building one takes 0.9 ms for `ApiKey`, paid on every list call."""
    return TypeAdapter(list[model])  # type: ignore[valid-type]


def parse_web3_token(payload: Any) -> str:
    data = envelope_data(payload)
    token = data.get("token") if isinstance(data, dict) else None
    if not isinstance(token, str) or not token:
        raise WireError("has no token string in data.token")
    return token


def created_id(payload: Any) -> str | None:
    """The new key's id from an otherwise unreadable create answer, if it is plainly there."""
    data = payload.get("data") if isinstance(payload, dict) else None
    key_id = data.get("id") if isinstance(data, dict) else None
    if is_key_id(key_id) and not SECRET_PATTERN.search(key_id):
        return key_id
    return None


def salvage_created(payload: Any, sent: dict[str, object]) -> CreatedKey | None:
    """Rescue a new key from a create/mint answer that failed validation.

    The secret is shown once; if the answer holds a Venice-shaped `data.apiKey` and a
    `data.id`, keep them and fill fields that did not validate from the request that was
    sent (or the model defaults). Returns None when there is no secret to rescue.
    """
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, dict):
        return None
    secret, key_id = data.get("apiKey"), data.get("id")
    if not (
        isinstance(secret, str) and SECRET_PATTERN.fullmatch(secret) and isinstance(key_id, str) and key_id
    ):
        return None
    fallback: dict[str, Any] = {"consumptionLimit": {}, **sent}
    fallback.pop("token", None)
    fallback.pop("signature", None)
    merged = {**fallback, **data}
    from_answer = set(data)
    for _ in range(3):  # each round replaces (answer -> request) or drops (request) bad fields
        try:
            return CreatedKey.model_validate(merged)
        except ValidationError as exc:
            bad = {err["loc"][0] for err in exc.errors(include_input=False) if err["loc"]}
        if bad & {"id", "apiKey"}:
            return None
        for field in bad:
            if field in from_answer and field in fallback:
                merged[field] = fallback[field]
                from_answer.discard(field)
            else:
                merged.pop(field, None)
    return None


def describe_validation(exc: ValidationError) -> str:
    """A short account of what was wrong, without the values (they may hold a secret)."""
    problems = [
        f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}"
        for err in exc.errors(include_input=False, include_url=False)[:3]
    ]
    more = exc.error_count() - len(problems)
    suffix = f" (and {more} more)" if more > 0 else ""
    return clean(redact_upstream("does not match Venice's API: " + "; ".join(problems) + suffix), _MAX_DETAIL)


# ---- text ------------------------------------------------------------------------------


def clean(text: str, limit: int = _MAX_DETAIL) -> str:
    """One line, no control or invisible characters, at most `limit` characters."""
    text = " ".join(_CONTROL.sub(" ", text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def error_detail(payload: Any, body: bytes, content_type: str | None, secrets: tuple[str, ...]) -> str:
    """Venice's error message (plus a short rendering of `details`), cleaned and redacted."""
    message = ""
    extra = ""
    if isinstance(payload, dict):
        if isinstance(payload.get("error"), str):
            message = payload["error"]
        elif isinstance(payload.get("message"), str):
            message = payload["message"]
        extra = _render_details(payload.get("details")) or _render_issues(payload.get("issues"))
    elif payload is None and (content_type or "").lower().startswith("text/plain"):
        message = body[:_MAX_DETAIL].decode("utf-8", "replace")
    text = message.strip().rstrip(".")
    if extra and extra.casefold() not in text.casefold():  # Venice often repeats its details in the message
        text = f"{text} ({extra})" if text else extra
    return clean(redact_upstream(text, *secrets))


def _render_details(details: Any, path: str = "") -> str:
    """Flatten zod-style `{"_errors": [...], "field": {"_errors": [...]}}` to "field: msg"."""
    if not isinstance(details, dict):
        return ""
    parts: list[str] = []

    def walk(node: dict[str, Any], where: str) -> None:
        for msg in node.get("_errors") or []:
            if isinstance(msg, str):
                parts.append(f"{where}: {msg}" if where else msg)
        for key, child in node.items():
            if key != "_errors" and isinstance(child, dict):
                walk(child, f"{where}.{key}" if where else str(key))

    walk(details, path)
    return "; ".join(parts[:3]) + (f"; and {len(parts) - 3} more" if len(parts) > 3 else "")


def _render_issues(issues: Any) -> str:
    if not isinstance(issues, list):
        return ""
    parts = []
    for issue in issues[:3]:
        if isinstance(issue, dict) and isinstance(issue.get("message"), str):
            where = ".".join(str(p) for p in issue.get("path") or [])
            parts.append(f"{where}: {issue['message']}" if where else issue["message"])
    return "; ".join(parts)


# ---- headers ---------------------------------------------------------------------------


def parse_reset(value: str | None, now: float | None = None) -> datetime | None:
    """`x-ratelimit-reset-requests` as a UTC time. Venice sends Unix seconds; milliseconds
    and small relative values (seconds from now) are accepted too, as other servers send them."""
    if not value:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    now = time.time() if now is None else now
    if number > 1e11:
        number /= 1000
    elif number < 1e9:
        number = now + max(number, 0.0)
    return datetime.fromtimestamp(number, UTC)


def parse_retry_after(value: str | None, now: float | None = None) -> datetime | None:
    if not value:
        return None
    now = time.time() if now is None else now
    value = value.strip()
    if value.isdigit():
        return datetime.fromtimestamp(now + int(value), UTC)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _int_header(headers: httpx2.Headers, name: str) -> int | None:
    raw = headers.get(name, "").strip()
    try:
        return int(float(raw)) if raw else None
    except ValueError:
        return None


def rate_limit_headers(headers: httpx2.Headers) -> RateLimitHeaders | None:
    """The `x-ratelimit-*-requests` headers, or None when the answer carried none."""
    limit = _int_header(headers, "x-ratelimit-limit-requests")
    remaining = _int_header(headers, "x-ratelimit-remaining-requests")
    reset_at = parse_reset(headers.get("x-ratelimit-reset-requests"))
    if limit is None and remaining is None and reset_at is None:
        return None
    return RateLimitHeaders(limit=limit, remaining=remaining, reset_at=reset_at)


def reset_time(headers: httpx2.Headers) -> datetime | None:
    """When a 429 ends: `x-ratelimit-reset-requests`, else `Retry-After`."""
    return parse_reset(headers.get("x-ratelimit-reset-requests")) or parse_retry_after(
        headers.get("retry-after")
    )


# ---- error mapping ---------------------------------------------------------------------


def is_abuse_block(detail: str) -> bool:
    return _ABUSE in detail.lower()


def error_for_status(
    status: int,
    detail: str,
    *,
    route: str,
    base_url: str,
    web3: bool = False,
    key_id: str | None = None,
    reset_at: datetime | None = None,
) -> VeniceAPIError:
    """The exception for a non-2xx answer. `detail` is already cleaned and redacted."""
    said = f": {detail}." if detail else "."
    lowered = detail.lower()
    if status == 402:
        return PaymentRequired(
            f"Venice answered {route} with 402 Payment Required{said}", status=status, detail=detail
        )
    if status in (401, 403):
        if _ADMIN_REQUIRED in lowered:
            return AdminKeyRequired(f"{route} needs an ADMIN key{said}", status=status, detail=detail)
        return AuthenticationFailed(
            f"Venice rejected the configured API key on {route}{said}", status=status, detail=detail
        )
    if status == 429:
        if is_abuse_block(detail):
            return AbuseBlocked(
                f"Venice is blocking requests after too many failures{said}", detail=detail, reset_at=reset_at
            )
        return RateLimited(f"Venice rate-limited {route}{said}", detail=detail, reset_at=reset_at)
    if status in (404, 405) or 300 <= status < 400:
        return EndpointNotFound(
            f"{base_url} does not look like Venice's API: {route} answered HTTP {status}.",
            status=status,
            detail=detail,
        )
    if status >= 500:
        return VeniceUnavailable(
            f"Venice failed on {route} with HTTP {status}{said}", status=status, detail=detail
        )
    if web3 and status == 400:
        transient = _WEB3_TRANSIENT in lowered
        return Web3Rejected(
            f"Venice refused the wallet request{said}", status=status, detail=detail, transient=transient
        )
    if status == 400 and _NOT_FOUND.search(detail):
        which = f"with id {clean(redact(key_id), 80)!r}" if key_id else "with that id"
        return KeyNotFound(f"Venice has no active key {which}{said}", status=status, detail=detail)
    if status == 400 and _KEY_LIMIT.search(detail):
        return KeyLimitReached(f"Venice refused to create the key{said}", status=status, detail=detail)
    return InvalidRequest(
        f"Venice refused {route} as invalid (HTTP {status}){said}", status=status, detail=detail
    )


# ---- transport failures and URLs -------------------------------------------------------


def transport_reason(exc: httpx2.HTTPError, secrets: tuple[str, ...]) -> str:
    """What went wrong on the wire, in words; httpx2's own text only when short and scrubbed."""
    kinds: list[tuple[type[Exception], str]] = [
        (httpx2.ConnectTimeout, "connecting timed out"),
        (httpx2.PoolTimeout, "no connection became free in time"),
        (httpx2.ReadTimeout, "Venice did not answer in time"),
        (httpx2.WriteTimeout, "sending the request timed out"),
        (httpx2.ConnectError, "the connection could not be opened"),
        (httpx2.RemoteProtocolError, "the connection was dropped"),
        (httpx2.ReadError, "the connection broke while reading the answer"),
        (httpx2.WriteError, "the connection broke while sending"),
        (httpx2.UnsupportedProtocol, "the base URL's scheme is not http or https"),
        (httpx2.ProxyError, "the proxy refused the connection"),
    ]
    reason = next((text for kind, text in kinds if isinstance(exc, kind)), "the request failed")
    detail = clean(redact_upstream(str(exc), *secrets), 120)
    return f"{reason}: {detail}" if detail else reason


def checked_base_url(base_url: str) -> str:
    parts = urlsplit(base_url.strip())
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError("The base URL must be an http(s) URL such as https://api.venice.ai/api/v1.")
    return base_url.strip().rstrip("/")
