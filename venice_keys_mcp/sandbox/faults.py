"""Fault injection: latency, error statuses, dropped connections, broken bodies.

Clients must cope with a Venice that is slow, failing or cut off mid-answer, and must
never resend a create or delete whose outcome is unknown. These faults make each of
those situations reproducible. A fault matches a method and a route path (after
`/api/v1`), applies to the next `times` matching requests, and is then used up.
"""

from __future__ import annotations

import json
from collections.abc import MutableMapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Literal

import anyio

if TYPE_CHECKING:
    from venice_keys_mcp.sandbox.state import SandboxState

API_PREFIX = "/api/v1"
DROP_HEADER = b"x-sandbox-drop"
MALFORMED_BODY = b'{"success": true, "data": {"id": "5b1c'
Drop = Literal["before", "after"]
#: How `PATCH /api_keys` applies `consumptionLimit`: "merge" changes only the caps sent (the
#: sandbox's default); "replace" makes the object sent the key's whole set of caps, so a cap
#: left out is removed. Venice's API does not say which it does; tests run both.
LimitMerge = Literal["merge", "replace"]
LIMIT_MERGES = ("merge", "replace")
Message = MutableMapping[str, Any]


def _segments(path: str) -> list[str]:
    return [part for part in path.strip("/").split("/") if part]


@dataclass
class Fault:
    """One planned misbehaviour; `times=-1` keeps it forever."""

    method: str
    path: str
    latency: float = 0.0
    status: int | None = None
    drop: Drop | None = None
    malformed: bool = False
    content_type: str | None = None
    body: bytes | None = None
    headers: dict[str, str] | None = None
    times: int = 1

    def matches(self, method: str, path: str) -> bool:
        """`*` (or `{name}`) stands for one path segment; method `*` matches any method."""
        if self.method not in ("*", method.upper()):
            return False
        want, got = _segments(self.path), _segments(path)
        if len(want) != len(got):
            return False
        wild = {i for i, w in enumerate(want) if w == "*" or (w.startswith("{") and w.endswith("}"))}
        return all(i in wild or w == g for i, (w, g) in enumerate(zip(want, got, strict=True)))

    def describe(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "latency": self.latency,
            "status": self.status,
            "drop": self.drop,
            "malformed": self.malformed,
            "content_type": self.content_type,
            "body": self.body.decode("utf-8", "replace") if self.body is not None else None,
            "headers": self.headers,
            "times": self.times,
        }


class FaultPlan:
    """The pending faults of one sandbox, plus two switches: the wallet-verification outage and
    how a PATCH applies `consumptionLimit` (`consumption_limit_merge`, see `LimitMerge`)."""

    def __init__(self) -> None:
        self._pending: list[Fault] = []
        self.wallet_verification_down = False
        self.consumption_limit_merge: LimitMerge = "merge"

    def add(
        self,
        method: str,
        path: str,
        *,
        latency: float = 0.0,
        status: int | None = None,
        drop: Drop | None = None,
        malformed: bool = False,
        content_type: str | None = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> Fault:
        if not isinstance(times, int) or isinstance(times, bool):
            raise ValueError("times must be a whole number")
        if status is not None and (not isinstance(status, int) or isinstance(status, bool)):
            raise ValueError("status must be a whole number")
        if drop not in (None, "before", "after"):
            raise ValueError("drop must be 'before', 'after' or None")
        if status is not None and not 100 <= status <= 599:
            raise ValueError("status must be an HTTP status between 100 and 599")
        if times == 0 or times < -1:
            raise ValueError("times must be a positive count, or -1 for forever")
        if latency < 0:
            raise ValueError("latency must be zero or more seconds")
        path = path if path.startswith("/") else "/" + path
        if path.startswith(API_PREFIX + "/"):
            path = path[len(API_PREFIX) :]
        fault = Fault(
            method=method.upper(),
            path=path,
            latency=latency,
            status=status,
            drop=drop,
            malformed=malformed,
            content_type=content_type,
            body=body,
            headers=dict(headers) if headers else None,
            times=times,
        )
        self._pending.append(fault)
        return fault

    def clear(self) -> None:
        self._pending.clear()
        self.wallet_verification_down = False
        self.consumption_limit_merge = "merge"

    @property
    def pending(self) -> list[Fault]:
        return list(self._pending)

    def take(self, method: str, path: str) -> Fault | None:
        """The first pending fault for this request, counted as used once."""
        for fault in self._pending:
            if fault.matches(method, path):
                if fault.times > 0:
                    fault.times -= 1
                    if fault.times == 0:
                        self._pending.remove(fault)
                return fault
        return None


async def send_dropped(send: Any, mode: Drop) -> None:
    """Start a response and stop half-way, so the peer sees the connection cut off.

    Over a socket the server then closes the connection with the body incomplete; the
    in-process transport recognises the marker header and raises the matching error.
    """
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", b"4096"),
                (DROP_HEADER, mode.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": b'{"success":', "more_body": True})


def _error_body(status: int) -> bytes:
    messages = {500: "An unknown error occurred", 429: "Rate limit exceeded. Please try again shortly."}
    try:
        default = HTTPStatus(status).phrase
    except ValueError:
        default = "Injected failure"
    return json.dumps({"error": messages.get(status, default)}).encode()


class FaultInjector:
    """ASGI middleware that applies the state's pending faults to `/api/v1` requests."""

    def __init__(self, app: Any, state: SandboxState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Message, receive: Any, send: Any) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(API_PREFIX + "/"):
            await self.app(scope, receive, send)
            return
        fault = self.state.faults.take(scope["method"], path[len(API_PREFIX) :])
        if fault is None:
            await self.app(scope, receive, send)
            return
        if fault.status is not None:
            scope["sandbox.fault"] = True  # injected failures do not count toward the abuse block
        if fault.latency:
            await anyio.sleep(fault.latency)
        if fault.drop == "before":
            await send_dropped(send, "before")
            return
        if fault.status is not None:
            status, headers, body = (
                fault.status,
                [(b"content-type", b"application/json")],
                _error_body(fault.status),
            )
            if fault.status == 429:
                reset = int(self.state.now().timestamp()) + 3
                headers += [
                    (b"x-ratelimit-limit-requests", str(self.state.request_budget).encode()),
                    (b"x-ratelimit-remaining-requests", b"0"),
                    (b"x-ratelimit-reset-requests", str(reset).encode()),
                ]
        else:
            status, headers, body = await _capture(self.app, scope, receive)
        if fault.drop == "after":
            await send_dropped(send, "after")
            return
        if fault.malformed:
            status, body = 200, MALFORMED_BODY
        if fault.body is not None:
            body = fault.body
        replace: dict[bytes, bytes] = {}
        if fault.content_type is not None:
            replace[b"content-type"] = fault.content_type.encode()
        for name, value in (fault.headers or {}).items():
            replace[name.lower().encode()] = str(value).encode()
        replace[b"content-length"] = str(len(body)).encode()
        headers = [(k, v) for k, v in headers if k.lower() not in replace] + list(replace.items())
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def _capture(app: Any, scope: Message, receive: Any) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Run the request for real (the change is applied) and keep its response."""
    status = 500
    headers: list[tuple[bytes, bytes]] = []
    chunks: list[bytes] = []

    async def keep(message: Message) -> None:
        nonlocal status, headers
        if message["type"] == "http.response.start":
            status = message["status"]
            headers = [(bytes(k), bytes(v)) for k, v in message.get("headers", [])]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, keep)
    return status, headers, b"".join(chunks)
