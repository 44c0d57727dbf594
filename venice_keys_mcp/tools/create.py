"""`create_key`: a new key whose secret goes to a 0600 file, never lost, never shown unasked."""

import time
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, Elicit, ElicitationResult, MCPServer, Resolve
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult

from venice_keys_mcp.runtime import Runtime
from venice_keys_mcp.safety.confirm import ApproveForm, Confirmer, Gate
from venice_keys_mcp.safety.fencing import fence
from venice_keys_mcp.safety.policy import PolicyRefusal, check_create
from venice_keys_mcp.tools.common import WRITE, checked_expiry, look_again, lost_answer, result, venice_errors
from venice_keys_mcp.tools.delivery import deliver, limits_input
from venice_keys_mcp.tools.outcomes import CreateResult, Preview, failed, not_done, record
from venice_keys_mcp.tools.params import Description, Expiry, Limit, Period, Privacy, Reveal, Token
from venice_keys_mcp.tools.views import now_utc
from venice_keys_mcp.venice import (
    ApiKey,
    CreateKeyRequest,
    MalformedResponse,
    NetworkError,
    OutcomeUnknown,
    VeniceError,
)

ACTION = "create_key"
CREATES_PER_MINUTE = 20
MAX_ACTIVE_KEYS = 500


def create_changes(args: dict[str, Any]) -> list[str]:
    caps = [
        f"{u} cap {args[k]:g}"
        for k, u in (("usd_limit", "USD"), ("diem_limit", "DIEM"))
        if args.get(k) is not None
    ]
    return [
        f"Create a new {args['key_type']} key {fence(args['description'])}",
        ", ".join(caps) + f" per {args.get('limit_period') or 'EPOCH'}" if caps else "no spend cap",
        f"expires {args['expires_at']}" if args.get("expires_at") else "never expires",
        f"model privacy {args.get('model_privacy') or 'ALL'}",
    ]


def register(
    server: MCPServer, rt: Runtime, confirmer: Confirmer, window: "CreationWindow | None" = None
) -> None:
    window = window or CreationWindow()  # shared with mint_web3_key: Venice counts both

    def policy_check(args: dict[str, Any]) -> None:
        check_create(
            rt.policy,
            key_type=args["key_type"],
            usd=args.get("usd_limit"),
            diem=args.get("diem_limit"),
            expires_at=checked_expiry(args.get("expires_at")),
            now=now_utc(),
        )

    @venice_errors
    async def gate(
        description: str,
        key_type: str,
        usd_limit: float | None,
        diem_limit: float | None,
        limit_period: str | None,
        model_privacy: str | None,
        expires_at: str | None,
        reveal_secret: bool,
        confirmation_token: str | None,
        ctx: Context[Any, Any],
    ) -> Gate | Elicit[ApproveForm]:
        args = dict(
            description=description,
            key_type=key_type,
            usd_limit=usd_limit,
            diem_limit=diem_limit,
            limit_period=limit_period,
            model_privacy=model_privacy,
            expires_at=expires_at,
            reveal_secret=reveal_secret,
        )
        try:
            policy_check(args)
        except PolicyRefusal as exc:
            return Gate(decision="refused", method="policy", reason=str(exc))
        if key_type != "ADMIN":
            return Gate(decision="proceed", method="not_needed")
        message = "Create an ADMIN key (full control of this account's keys)?\n" + "\n".join(
            create_changes(args)
        )
        return confirmer.gate(
            ctx, action=ACTION, args=args, token=confirmation_token, message=message, form=ApproveForm
        )

    @server.tool(title="Create key", annotations=WRITE)
    @venice_errors
    async def create_key(
        description: Description,
        confirmation: Annotated[ElicitationResult[ApproveForm], Resolve(gate)],
        key_type: Literal["INFERENCE", "ADMIN"] = "INFERENCE",
        usd_limit: Limit = None,
        diem_limit: Limit = None,
        limit_period: Period | None = None,
        model_privacy: Privacy | None = None,
        expires_at: Expiry = None,
        reveal_secret: Reveal = False,
        confirmation_token: Token = None,
    ) -> Annotated[CallToolResult, CreateResult]:
        """Create a key; its secret goes to a 0600 file, shown only if reveal_secret. ADMIN keys need approval."""  # noqa: E501
        args: dict[str, Any] = dict(
            description=description,
            key_type=key_type,
            usd_limit=usd_limit,
            diem_limit=diem_limit,
            limit_period=limit_period,
            model_privacy=model_privacy,
            expires_at=expires_at,
            reveal_secret=reveal_secret,
        )
        decision = confirmer.settle(confirmation, action=ACTION, args=args, token=confirmation_token)
        if not decision.go:
            preview = Preview(action="create", changes=create_changes(args))
            return not_done(
                rt,
                decision,
                tool=ACTION,
                key_id=None,
                args=args,
                preview=preview,
                make=CreateResult,
                verb="created",
            )

        try:
            slot = window.reserve()  # before any await: concurrent calls cannot all squeeze in
        except ToolError as exc:
            record(
                rt,
                tool=ACTION,
                key_id=None,
                args=args,
                method=decision.method,
                outcome="refused",
                detail=f"creation rate limit: {exc}",
            )
            raise
        sent = False
        try:
            before = await rt.client.list_keys()
            if len(before) >= MAX_ACTIVE_KEYS:
                refusal = (
                    f"Not created: the account has {len(before)} active keys, Venice's maximum of "
                    f"{MAX_ACTIVE_KEYS}; revoke unused keys first (list_keys unused_days=90 finds "
                    "candidates)."
                )
                record(
                    rt,
                    tool=ACTION,
                    key_id=None,
                    args=args,
                    method=decision.method,
                    outcome="refused",
                    detail=f"active key limit: {refusal}",
                )
                raise ToolError(refusal)
            request = CreateKeyRequest(
                api_key_type=key_type,
                description=description,
                **({"expires_at": expires_at} if expires_at is not None else {}),
                **(
                    {"consumption_limit": limits_input(usd_limit, diem_limit)}
                    if usd_limit is not None or diem_limit is not None
                    else {}
                ),
                **({"limit_period": limit_period} if limit_period else {}),
                **({"model_privacy": model_privacy} if model_privacy else {}),
            )
            sent = True
            try:
                created = await rt.client.create_key(request)
            except (OutcomeUnknown, MalformedResponse) as exc:
                # Sent, answer lost: look for the key instead of resending (a resend could make two).
                return await reconcile(rt, args, {k.id for k in before}, exc, decision.method)
            except VeniceError as exc:
                sent = not isinstance(exc, NetworkError)  # NetworkError: nothing left this process
                raise failed(
                    rt, exc, tool=ACTION, key_id=None, args=args, method=decision.method, verb="created"
                ) from None
        finally:
            if not sent:
                window.release(slot)
        return await deliver(rt, ACTION, created, args, decision.method, reveal_secret)


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
    rt: Runtime, args: dict[str, Any], before: set[str], exc: VeniceError, method: str, tool: str = ACTION
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
