"""Making a key, for `create_key` and `mint_web3_key` alike: one send, never two, nothing unaccounted.

The rules both tools keep: at most 20 creations a minute from this process (the 21st is
refused before Venice would), no creation when the account is at Venice's 500 active
keys, one request and no resend, and, when the answer is lost, a look at the account to
say whether the key exists (its secret is then lost, and the result says to revoke it).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult

from venice_keys_mcp.runtime import Runtime
from venice_keys_mcp.safety.fencing import fence
from venice_keys_mcp.tools.common import look_again, lost_answer, result, to_the_end
from venice_keys_mcp.tools.delivery import Reveal, deliver
from venice_keys_mcp.tools.outcomes import CreateResult, failed, record
from venice_keys_mcp.venice import (
    ApiKey,
    CreatedKey,
    MalformedResponse,
    NetworkError,
    OutcomeUnknown,
    VeniceError,
)

log = logging.getLogger("venice_keys_mcp.tools")

CREATES_PER_MINUTE = 20
MAX_ACTIVE_KEYS = 500


async def make_key(
    rt: Runtime,
    window: CreationWindow,
    *,
    tool: str,
    args: dict[str, Any],
    method: str,
    send: Callable[[], Awaitable[CreatedKey]],
    reveal: Reveal,
    listing_required: bool = True,
    match: dict[str, Any] | None = None,
) -> CallToolResult:
    """Send one creation inside the limits, reconcile a lost answer, deliver the secret.

    `listing_required=False` (minting, which needs no ADMIN key) goes on when the account
    cannot be listed; a lost answer is then reported as unknown rather than looked for.
    `match` is what the new key will look like when it differs from `args` (a default
    description).
    """
    try:
        slot = window.reserve()  # before any await: concurrent calls cannot all squeeze in
    except ToolError as exc:
        record(rt, tool=tool, key_id=None, args=args, method=method, outcome="refused",
               detail=f"creation rate limit: {exc}")  # fmt: skip
        raise
    sent = False
    try:
        before = await _listing(rt, required=listing_required)
        if before is not None and len(before) >= MAX_ACTIVE_KEYS:
            refusal = (
                f"Not created: the account has {len(before)} active keys, Venice's maximum of "
                f"{MAX_ACTIVE_KEYS}; revoke unused keys first (list_keys unused_days=90 finds candidates)."
            )
            record(rt, tool=tool, key_id=None, args=args, method=method, outcome="refused",
                   detail=f"active key limit: {refusal}")  # fmt: skip
            raise ToolError(refusal)
        with to_the_end():  # from the request to the delivered secret, whatever happens to the caller
            sent = True
            created: CreatedKey | None = None
            try:
                try:
                    created = await send()
                except (OutcomeUnknown, MalformedResponse) as exc:
                    # Sent, answer lost: look for the key instead of resending (a resend could make two).
                    looked_for = match or args
                    if before is None:
                        return _unreconcilable(rt, tool, args, looked_for["description"], exc, method)
                    return await reconcile(rt, looked_for, {k.id for k in before}, exc, method, tool=tool)
                except VeniceError as exc:
                    sent = not isinstance(exc, NetworkError)  # NetworkError: nothing left this process
                    raise failed(
                        rt, exc, tool=tool, key_id=None, args=args, method=method, verb="created"
                    ) from None
                return await deliver(rt, tool, created, args, method, reveal)
            except ToolError:
                raise  # `failed` recorded it
            except Exception as exc:
                # A key may exist at Venice from here on: never leave without an entry and an answer.
                return unaccounted(rt, tool, args, method, exc, created)
    finally:
        if not sent:
            window.release(slot)


def unaccounted(
    rt: Runtime, tool: str, args: dict[str, Any], method: str, exc: Exception, created: CreatedKey | None
) -> CallToolResult:
    """The creation was sent and then something nobody planned for failed: record it and say what to check.

    Whether the secret reached its file is unknown here, so the key is not revoked blindly;
    the result names the key (when known) and both ways forward.
    """
    log.exception("unexpected error after %s was sent", tool)
    if created is not None:
        rt.scrubber.add(created.secret)
    what = rt.scrubber.scrub(f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}")
    made = "minted" if tool == "mint_web3_key" else "created"
    record(
        rt,
        tool=tool,
        key_id=created.id if created else None,
        args=args,
        method=method,
        outcome="outcome_unknown",
        detail=f"request sent, then the server failed unexpectedly ({what})",
    )
    if created is None:
        message = (
            f"Unknown whether the key was {made}: the request was sent, then the server failed "
            f"unexpectedly ({what}). Check list_keys for {fence(args['description'])} before trying again."
        )
        out = CreateResult(status="outcome_unknown", message=message)
    else:
        message = (
            f"Key …{created.last6} (id {created.id}) was {made}, then the server failed unexpectedly "
            f"({what}); its secret may not have been saved. Look for {created.id}.key in the secrets "
            "folder; if it is not there, nobody can use the key: revoke it with "
            f"revoke_key key_id={created.id}."
        )
        out = CreateResult(
            status="outcome_unknown",
            id=created.id,
            last6=created.last6,
            key_type=created.api_key_type,
            message=message,
        )
    return result(out, out.message)


async def _listing(rt: Runtime, *, required: bool) -> list[ApiKey] | None:
    """The account's keys before a creation; None when they cannot be listed and need not be."""
    try:
        return await rt.client.list_keys()
    except VeniceError:
        if required:
            raise
        return None


def _unreconcilable(
    rt: Runtime, tool: str, args: dict[str, Any], description: str, exc: VeniceError, method: str
) -> CallToolResult:
    """A lost answer with no listing to look in: say so, and that making it again could make two."""
    why = lost_answer(exc)
    made, make = ("minted", "mint") if tool == "mint_web3_key" else ("created", "create")
    record(rt, tool=tool, key_id=None, args=args, method=method, outcome="outcome_unknown", detail=why)
    out = CreateResult(
        status="outcome_unknown",
        message=f"Unknown whether the key was {made} ({why}), and this server cannot list keys to "
        f"check. Do not {make} it again yet: look for {fence(description)} in the account first.",
    )
    return result(out, out.message)


class CreationWindow:
    """This process's key creations in the last minute, to refuse the 21st before Venice does.

    Only creations sent to Venice count; a slot is reserved before the first await (so
    concurrent calls cannot all pass the check) and released if nothing was sent.
    """

    def __init__(self, limit: int = CREATES_PER_MINUTE, seconds: float = 60.0) -> None:
        self.limit = limit
        self.seconds = seconds
        self._times: list[float] = []

    def reserve(self) -> float:
        now = time.monotonic()
        self._times[:] = [t for t in self._times if now - t < self.seconds]
        if len(self._times) >= self.limit:
            wait = int(self.seconds - (now - self._times[0])) + 1
            raise ToolError(
                f"Not created: Venice allows {self.limit} key creations a minute and this server "
                f"made {len(self._times)} in the last minute; try again in {wait} s."
            )
        self._times.append(now)
        return now

    def release(self, slot: float) -> None:
        if slot in self._times:
            self._times.remove(slot)


async def reconcile(
    rt: Runtime, args: dict[str, Any], before: set[str], exc: VeniceError, method: str, tool: str
) -> CallToolResult:
    """The create (or mint) was sent but its answer was lost: find out whether the key exists; never resend.

    A new key is one absent from the list taken just before, with the description and
    type that were asked for (or the id Venice's broken answer named). Nothing found on
    the first look gets a second look after a short pause, for a create Venice was still
    finishing when the answer was given up on.
    """
    why = lost_answer(exc)
    desc = fence(args["description"])
    named = getattr(exc, "key_id", None)
    found: list[ApiKey] = []
    try:
        for attempt in range(2):
            if attempt:
                await look_again(rt)
            found = _new_keys(await rt.client.list_keys(), before, args, named)
            if found:
                break
    except VeniceError as err:
        record(
            rt,
            tool=tool,
            key_id=named,
            args=args,
            method=method,
            outcome="outcome_unknown",
            detail=f"{why}; reading back failed: {err}",
        )
        out = CreateResult(
            status="outcome_unknown",
            id=named,
            message=f"Unknown whether the key was created ({why}), and reading back failed "
            f"({err}). Do not create it again yet: check list_keys for "
            f"{fence(args['description'])} first.",
        )
        return result(out, out.message)
    if not found:
        record(
            rt,
            tool=tool,
            key_id=None,
            args=args,
            method=method,
            outcome="not_created",
            detail=f"{why}; no new key found on two looks",
        )
        # A request that timed out may still be finished by Venice later; any other lost
        # answer (reset, garbage, a gateway error) ended with the exchange.
        advice = (
            f"Venice may still finish a request that timed out: check list_keys for {desc} in a "
            "minute before creating it again."
            if "Timeout" in why
            else f"Nothing was left behind; it is safe to call {tool} again."
        )
        out = CreateResult(
            status="not_created",
            message=f"Not created: reading back shows no new key {desc} (outcome unknown at first: {why}). "
            + advice,
        )
        return result(out, out.message)
    k = found[0]
    others = [o.id for o in found[1:]]
    record(
        rt,
        tool=tool,
        key_id=k.id,
        args=args,
        method=method,
        outcome="created_secret_lost",
        detail=f"{why}; found by reading back; secret never received"
        + (f"; other candidates {', '.join(others)}" if others else ""),
    )
    also = (
        (
            f" ({len(others)} other new key(s) match too: {', '.join(others)}; someone else may have created "
            "them)"
        )
        if others
        else ""
    )
    out = CreateResult(
        status="created_secret_lost",
        id=k.id,
        last6=k.last6,
        key_type=k.api_key_type,
        message=f"Created: id {k.id} (…{k.last6}), but its secret was lost with Venice's answer "
        f"({why}), so nobody can use it{also}. Revoke it? Ask the user, then call revoke_key "
        f"with key_id={k.id} and create a new key.",
    )
    return result(out, out.message)


def _new_keys(after: list[ApiKey], before: set[str], args: dict[str, Any], named: str | None) -> list[ApiKey]:
    """Keys that appeared since `before` and match the request (newest first, as Venice lists them)."""
    if named:
        exact = [k for k in after if k.id == named]
        if exact:
            return exact
    return [
        k
        for k in after
        if k.id not in before and k.description == args["description"] and k.api_key_type == args["key_type"]
    ]
