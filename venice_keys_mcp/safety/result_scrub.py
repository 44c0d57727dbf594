"""The last gate before a result leaves the server: scrub every secret from it.

One middleware sees every `tools/call` (and resource read) result, whatever tool, error
path or SDK message produced it, and removes anything shaped like a Venice secret and
the configured admin key. The one exception is a secret a caller explicitly asked for
(`reveal_secret=true`): the tool registers it with `allow_in_result` for this request only.

Most results hold no secret, so one search over all of a result's strings comes first, and
a clean result goes out as it came, neither copied nor re-validated.
"""

from __future__ import annotations

import contextvars
from typing import Any

from pydantic import BaseModel

from venice_keys_mcp.safety.secrets import Scrubber

_ALLOWED: contextvars.ContextVar[set[str] | None] = contextvars.ContextVar(
    "venice_keys_allowed", default=None
)

SCRUBBED_METHODS = frozenset({"tools/call", "resources/read", "prompts/get"})


def allow_in_result(secret: str) -> None:
    """Let `secret` through the scrubber for the current request (explicit reveal only)."""
    allowed = _ALLOWED.get()
    if allowed is not None:
        allowed.add(secret)


class ScrubResults:
    """`ServerMiddleware` that scrubs secrets from results (and lets explicit reveals through)."""

    def __init__(self, scrubber: Scrubber) -> None:
        self.scrubber = scrubber

    async def __call__(self, ctx: Any, call_next: Any) -> Any:
        if getattr(ctx, "method", None) not in SCRUBBED_METHODS:
            return await call_next(ctx)
        # A mutable set, so a tool running in a copied context can still add to it.
        allowed: set[str] = set()
        token = _ALLOWED.set(allowed)
        try:
            out = await call_next(ctx)
        finally:
            _ALLOWED.reset(token)
        return self._scrub(out, allowed)

    def _scrub(self, out: Any, allowed: set[str]) -> Any:
        if out is None:
            return out
        is_model = isinstance(out, BaseModel)
        data = out.model_dump(by_alias=True, mode="json", exclude_none=True) if is_model else out
        if not allowed and not self._has_secret(data):
            return out  # the usual case: nothing to remove, so no copy and no re-validation
        if is_model:
            return type(out).model_validate(self._walk(data, allowed))
        return self._walk(data, allowed)

    def _has_secret(self, data: Any) -> bool:
        """Whether `_walk` would change anything: one search over every string it would scrub.

        Joined with a line break, which normalising keeps, which is a word boundary and which
        no pattern crosses but a bearer's `\\s+`, so a secret in any one string is found in the
        whole; a match across two strings is only a needless slow path, never a miss.
        """
        strings: list[str] = []
        _collect_strings(data, strings)
        return self.scrubber.contains_secret("\n".join(strings))

    def _walk(self, obj: Any, allowed: set[str]) -> Any:
        if isinstance(obj, str):
            # Scrubbing normalises too: a secret split by invisible characters is found whole.
            return self.scrubber.scrub_except(obj, allowed) if allowed else self.scrubber.scrub(obj)
        if isinstance(obj, dict):
            return {k: self._walk(v, allowed) for k, v in obj.items()}
        if isinstance(obj, list):
            return [self._walk(v, allowed) for v in obj]
        return obj


def _collect_strings(obj: Any, into: list[str]) -> None:
    """Append the strings `ScrubResults._walk` scrubs: those in dict values and list items, at any depth."""
    if isinstance(obj, str):
        into.append(obj)
    elif isinstance(obj, dict):
        for value in obj.values():
            _collect_strings(value, into)
    elif isinstance(obj, list):
        for value in obj:
            _collect_strings(value, into)
