"""Every failure `VeniceClient` can raise, and what each means for a person.

```
VeniceError                      base; str(e) is a sentence a person can act on
├── NotConfigured                no API key configured
├── VeniceAPIError               Venice answered with an error status (.status, .detail)
│   ├── PaymentRequired          402: the request carried no key at all
│   ├── AuthenticationFailed     401: the key is invalid, revoked or expired
│   │   └── AdminKeyRequired     401: an INFERENCE key was used where an ADMIN key is needed
│   ├── InvalidRequest           400: Venice refused the request body or parameters
│   │   ├── KeyNotFound          400: no such key (or it expired)
│   │   ├── KeyLimitReached      400: the account already has 500 active keys
│   │   └── Web3Rejected         400: the wallet flow was refused (.transient for a retryable one)
│   ├── RateLimited              429: too many requests (.reset_at: when to try again)
│   │   └── AbuseBlocked         429: too many failed requests; blocked for ~30 s
│   ├── VeniceUnavailable        5xx: Venice is failing; try again later
│   └── EndpointNotFound         404/405/3xx: the base URL does not serve Venice's API
├── NetworkError                 no answer at all (DNS, refused, reset, timeout); for a
│                                write: nothing was sent, so nothing changed
├── MalformedResponse            Venice answered, but not with what its API promises
│                                (.operation/.key_id set when a write was probably applied)
└── OutcomeUnknown               a create, update or delete was sent and no answer came:
                                 it may or may not have happened; reconcile, never resend
```

No message contains a secret: messages are built from status, Venice's error text
(scrubbed by the client) and ids.
"""

from __future__ import annotations

from datetime import datetime


class VeniceError(Exception):
    """Base of every error the client raises."""

    hint: str = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if hint is not None:
            self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}".strip()


class NotConfigured(VeniceError):
    hint = "Set VENICE_ADMIN_KEY (or VENICE_API_KEY) to an ADMIN key, or run with --sandbox."


class VeniceAPIError(VeniceError):
    """Venice answered with an error status."""

    def __init__(self, message: str, *, status: int, detail: str = "", hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.detail = detail


class PaymentRequired(VeniceAPIError):
    hint = "The request reached Venice without an API key; set VENICE_ADMIN_KEY."


class AuthenticationFailed(VeniceAPIError):
    hint = "Check VENICE_ADMIN_KEY: the key is invalid, revoked or expired."


class AdminKeyRequired(AuthenticationFailed):
    hint = (
        "The configured key is an INFERENCE key; key administration needs an ADMIN key. "
        "Create one in Venice's API settings and set VENICE_ADMIN_KEY to it."
    )


class InvalidRequest(VeniceAPIError):
    hint = "Fix the request as the message says and try again."


class KeyNotFound(InvalidRequest):
    hint = "Check the id with list_keys; the key may have been revoked or may have expired."


class KeyLimitReached(InvalidRequest):
    hint = "The account has 500 active keys, Venice's maximum; revoke unused keys first."


class Web3Rejected(InvalidRequest):
    """The wallet flow was refused; `transient` is true when retrying may succeed."""

    def __init__(self, message: str, *, status: int, detail: str = "", transient: bool = False) -> None:
        hint = (
            "Venice could not verify the signature this time; try again."
            if transient
            else "Get a fresh token with get_web3_token, sign it exactly, and try again."
        )
        super().__init__(message, status=status, detail=detail, hint=hint)
        self.transient = transient


class RateLimited(VeniceAPIError):
    """429. `reset_at` comes from `x-ratelimit-reset-requests` when Venice sent it."""

    def __init__(
        self, message: str, *, status: int = 429, detail: str = "", reset_at: datetime | None = None
    ) -> None:
        when = f"after {reset_at.strftime('%H:%M:%S')} UTC" if reset_at else "in a minute"
        super().__init__(message, status=status, detail=detail, hint=f"Try again {when}.")
        self.reset_at = reset_at


class AbuseBlocked(RateLimited):
    def __init__(
        self, message: str, *, status: int = 429, detail: str = "", reset_at: datetime | None = None
    ) -> None:
        super().__init__(message, status=status, detail=detail, reset_at=reset_at)
        self.hint = (
            "Too many failed requests: Venice blocks the caller for 30 s. Wait, then fix the failing calls."
        )


class VeniceUnavailable(VeniceAPIError):
    hint = "Venice is failing right now; try again in a few minutes."


class EndpointNotFound(VeniceAPIError):
    hint = (
        "Check VENICE_BASE_URL: it should be https://api.venice.ai/api/v1 "
        "(or the base_url the sandbox printed)."
    )


class NetworkError(VeniceError):
    hint = "Venice could not be reached; check the network and VENICE_BASE_URL, then try again."


class MalformedResponse(VeniceError):
    """A 2xx answer that could not be read. For an update or delete the change was most
    likely applied: `operation` and `key_id` say which, so the caller can check."""

    hint = "Venice's answer did not match its API; try again, and report it if it persists."

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        operation: str | None = None,
        key_id: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.operation = operation
        self.key_id = key_id


class OutcomeUnknown(VeniceError):
    """A write was sent but no answer came back: it may or may not have been applied.

    `operation` is "create", "update", "delete" or "mint"; `key_id` is known for update
    and delete (and for a create whose answer named the id but was otherwise unreadable);
    `request` holds the body that was sent minus anything secret (a mint's token and
    signature), for reconciliation.
    """

    hint = "Do not resend: check the current state first (list_keys or get_key)."

    def __init__(
        self,
        message: str,
        *,
        operation: str,
        key_id: str | None = None,
        request: dict[str, object] | None = None,
        sent_at: datetime | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.operation = operation
        self.key_id = key_id
        self.request = request or {}
        self.sent_at = sent_at
