"""Confirmation tokens for clients that cannot show the human a form.

The first call of a risky action returns a preview and a token; the human reads the
preview and the agent repeats the call carrying the token. The token is bound to the
exact action and arguments (a token for "revoke key A" cannot revoke key B), expires in
minutes, and works once. It is HMAC-signed, so the server keeps no state beyond the
nonces already used; with a configured signing key, tokens also survive restarts and work
across instances, which then share the used nonces through a small file beside the audit
log (`spent_tokens`), so a used token stays used after a restart. Instances on different
machines share it only if they share that directory.

Single use is guaranteed where the used nonces are kept, so a token is bound to that
place: it names (a digest of) the used-tokens file of the instance that issued it, and
an instance with another file refuses it instead of accepting it once more. Instances
that must honour each other's tokens share a state folder (`VENICE_KEYS_STATE_DIR`).

This is the `agent` confirmation mode's token, relayed by the agent; a person's own yes
goes through `safety.confirm` and `safety.approvals` instead.

Format: ``v1.<payload>.<mac>``, both parts unpadded base64url; the payload is compact
JSON ``{"a": action, "d": sha256(canonical args), "exp": unix seconds, "i": instance,
"n": nonce}`` and the MAC is HMAC-SHA256 over ``v1.<payload>``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import heapq
import hmac
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from venice_keys_mcp.settings import MIN_SIGNING_KEY_BYTES, parse_signing_key

from ._canonical import canonical_json
from .spent_tokens import SpentTokens

__all__ = ["ConfirmationTokens", "TokenVerdict", "load_signing_key"]

MIN_KEY_BYTES = MIN_SIGNING_KEY_BYTES
_VERSION = "v1"
_B64URL = re.compile(r"[A-Za-z0-9_-]+")

VerdictCode = Literal[
    "ok",
    "missing",
    "malformed",
    "forged",
    "expired",
    "wrong_action",
    "wrong_arguments",
    "replayed",
    "unrecordable",
    "other_instance",
]


class TokenVerdict(BaseModel):
    """Whether a token confirms this call, and if not, a sentence saying why."""

    model_config = ConfigDict(defer_build=True)  # built on first use, not at start-up

    ok: bool
    code: VerdictCode
    reason: str


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    """Decode unpadded base64url; an impossible length decodes to nothing (never a match)."""
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error:
        return b""


def _args_digest(args: Mapping[str, object]) -> str:
    return _b64encode(hashlib.sha256(canonical_json(dict(args)).encode("utf-8")).digest())


class ConfirmationTokens:
    """Issues and checks single-use, expiring tokens bound to an action and its arguments.

    `configured` says whether `key` came from settings; it only changes how a token with
    a bad signature is explained (with a per-process key, the likely cause is a restart).
    `clock` (unix seconds) is public so a test can move time for a running server.
    `spent_file` shares the used nonces with other processes signing with the same key
    (see `spent_tokens`); without it, "single use" holds within this process only.
    """

    def __init__(
        self,
        key: bytes,
        ttl_seconds: int = 300,
        clock: Callable[[], float] = time.time,
        *,
        configured: bool = False,
        spent_file: Path | None = None,
    ) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(f"the token signing key must be at least {MIN_KEY_BYTES} bytes")
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        self._key = bytes(key)
        self.ttl_seconds = ttl_seconds
        self.clock = clock
        self.configured = configured
        self._lock = threading.Lock()
        self._used: set[str] = set()
        self._expiries: list[tuple[int, str]] = []  # heap of (exp, nonce) for pruning
        self._spent = SpentTokens(spent_file) if spent_file is not None else None
        # Where this instance keeps used nonces; a token names it (see the module docstring).
        where = str(Path(spent_file).absolute()) if spent_file is not None else secrets.token_hex(16)
        self.instance = _b64encode(hashlib.sha256(where.encode("utf-8")).digest()[:12])
        self._latest = 0.0  # the latest clock reading seen: time here only moves forward

    def issue(self, action: str, args: Mapping[str, object]) -> str:
        """A token confirming exactly `action` with exactly `args`, valid for `ttl_seconds`."""
        payload = {
            "a": action,
            "d": _args_digest(args),
            "exp": int(self.clock()) + self.ttl_seconds,
            "i": self.instance,
            "n": secrets.token_urlsafe(12),
        }
        body = f"{_VERSION}.{_b64encode(canonical_json(payload).encode('utf-8'))}"
        return f"{body}.{_b64encode(self._mac(body))}"

    def check(self, token: str | None, action: str, args: Mapping[str, object]) -> TokenVerdict:
        """Validate the token for this call and, if it is good, use it up."""
        return self._verify(token, action, args, consume=True)

    def peek(self, token: str | None, action: str, args: Mapping[str, object]) -> TokenVerdict:
        """Validate the token for this call without using it up."""
        return self._verify(token, action, args, consume=False)

    def _mac(self, body: str) -> bytes:
        return hmac.new(self._key, body.encode("ascii"), hashlib.sha256).digest()

    def _verify(
        self, token: str | None, action: str, args: Mapping[str, object], *, consume: bool
    ) -> TokenVerdict:
        if not token or not token.strip():
            return _refuse(
                "missing",
                "no confirmation token was given; show the preview to the person and, once they agree, "
                "repeat the call with the token from the preview",
            )
        parts = token.strip().split(".")
        if len(parts) != 3 or parts[0] != _VERSION or not all(_B64URL.fullmatch(p) for p in parts[1:]):
            return _refuse(
                "malformed", "the confirmation token is malformed; copy it exactly as it was given"
            )
        body = f"{parts[0]}.{parts[1]}"
        if not hmac.compare_digest(_b64decode(parts[2]), self._mac(body)):
            if self.configured:
                why = "its signature does not match: it was altered, or signed with a different key"
            else:
                why = "it was issued by another server process (restart?) or altered"
            return _refuse(
                "forged", f"the confirmation token is not valid here: {why}; ask for a fresh preview"
            )
        try:
            payload = json.loads(_b64decode(parts[1]))
        except ValueError:
            payload = None
        if not (
            isinstance(payload, dict)
            and isinstance(payload.get("a"), str)
            and isinstance(payload.get("d"), str)
            and isinstance(payload.get("exp"), int)
            and isinstance(payload.get("n"), str)
        ):
            return _refuse(
                "malformed", "the confirmation token is malformed; copy it exactly as it was given"
            )
        if payload.get("i") != self.instance:
            return _refuse(
                "other_instance",
                "this token was issued by another server instance (one with a different state folder); "
                "it can be used only where it was issued, once. Call again without a token for a "
                "fresh preview",
            )
        now = self._now()
        if payload["exp"] <= now:
            when = datetime.fromtimestamp(payload["exp"], UTC).strftime("%H:%M:%S UTC")
            return _refuse(
                "expired",
                f"the confirmation token expired at {when} (tokens last {self.ttl_seconds} seconds); "
                "call again without a token to get a fresh preview",
            )
        if payload["a"] != action:
            return _refuse(
                "wrong_action",
                f"this token was issued for a different action ({_short(payload['a'])}), "
                f"not {_short(action)}; it confirms only the action it was issued for",
            )
        if payload["d"] != _args_digest(args):
            return _refuse(
                "wrong_arguments",
                "this token was issued for different arguments; it confirms only the exact call that was "
                "previewed, so call again without a token to preview this one",
            )
        with self._lock:
            self._prune(now)
            replayed = _refuse(
                "replayed",
                "this confirmation token was already used; each token confirms one call, "
                "so call again without a token for a new preview",
            )
            if payload["n"] in self._used:
                return replayed
            if self._spent is not None:
                try:
                    if consume:
                        fresh = self._spent.spend(payload["n"], payload["exp"], now)
                    else:
                        fresh = not self._spent.seen(payload["n"], now)
                except OSError as exc:  # cannot prove it unused, so it does not count
                    return _refuse(
                        "unrecordable",
                        f"the server could not check or record the token's use in {self._spent.path} "
                        f"({exc.strerror or type(exc).__name__}); fix that file's directory and retry",
                    )
                if not fresh:
                    return replayed
            if consume:
                self._used.add(payload["n"])
                heapq.heappush(self._expiries, (payload["exp"], payload["n"]))
        return TokenVerdict(ok=True, code="ok", reason="confirmed by token")

    def _now(self) -> float:
        """The clock, never earlier than any reading seen here or recorded in the used-tokens file."""
        now = max(self.clock(), self._latest)
        if self._spent is not None:
            with contextlib.suppress(OSError):  # the spend step reports an unusable file
                now = self._spent.latest(now)
        self._latest = now
        return now

    def _prune(self, now: float) -> None:
        # An expired token is refused as expired anyway, so its nonce need not be kept.
        while self._expiries and self._expiries[0][0] <= now:
            _, nonce = heapq.heappop(self._expiries)
            self._used.discard(nonce)


def _refuse(code: VerdictCode, reason: str) -> TokenVerdict:
    return TokenVerdict(ok=False, code=code, reason=reason)


def _short(action: str) -> str:
    return repr(action[:40])


def load_signing_key(value: str | None) -> tuple[bytes, bool]:
    """The token signing key and whether it was configured (else a fresh per-process key).

    `value` is the configured signing key (`Settings.signing_key`), parsed by
    `settings.parse_signing_key`. Messages never repeat the value: it is a secret.
    """
    if value is None or not value.strip():
        return secrets.token_bytes(MIN_KEY_BYTES), False
    return parse_signing_key(value), True
