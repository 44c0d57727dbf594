"""`revoke_key` and `revoke_keys`: destructive, always approved by a person, never of the server's own key.

`revoke_keys` is for incidents: many keys, one approval (the person types how many keys
will go), each key revoked and audited on its own, one key's failure not stopping the rest.
"""

from typing import Annotated, Any

from mcp.server.mcpserver import Context, Elicit, ElicitationResult, Resolve
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult
from pydantic import Field

from venice_keys_mcp.runtime import Runtime
from venice_keys_mcp.safety.confirm import Confirmer, CountForm, Gate, RevokeForm
from venice_keys_mcp.safety.fencing import fence
from venice_keys_mcp.safety.policy import PolicyRefusal, check_revoke
from venice_keys_mcp.tools.approval import WITH_CARD, Actions
from venice_keys_mcp.tools.common import (
    DESTRUCTIVE,
    look_again,
    lost_answer,
    result,
    to_the_end,
    venice_errors,
)
from venice_keys_mcp.tools.keys import KeyId
from venice_keys_mcp.tools.outcomes import Preview, WriteResult, failed, not_done, record
from venice_keys_mcp.tools.params import ApprovalId, Token
from venice_keys_mcp.tools.registration import Toolbox
from venice_keys_mcp.tools.views import KeyLine, Output, key_line, render_line
from venice_keys_mcp.venice import ApiKey, KeyNotFound, MalformedResponse, OutcomeUnknown, VeniceError

ACTION = "revoke_key"


def revoke_preview(k: ApiKey) -> Preview:
    line = key_line(k)
    return Preview(action="revoke", key=line, changes=[f"Revoke at once: {render_line(line)}"])


def revoke_message(line: KeyLine) -> str:
    used = f"last used {line.last_used}" if line.last_used else "never used"
    return (
        f"Revoke {line.type} key {fence(line.description)} (…{line.last6}, {used})? "
        "Anything using it stops working at once and this cannot be undone. "
        "Type the key's last six characters to confirm."
    )


def register(tools: Toolbox, rt: Runtime, confirmer: Confirmer, actions: Actions) -> None:
    @venice_errors
    async def gate(
        key_id: str, approval_id: str | None, confirmation_token: str | None, ctx: Context[Any, Any]
    ) -> Gate | Elicit[RevokeForm]:
        try:
            key = await rt.client.get_key(key_id)
        except VeniceError as exc:
            raise ToolError(str(exc)) from None
        try:
            check_revoke(rt.policy, key_id=key.id, key_last6=key.last6)
        except PolicyRefusal as exc:
            return Gate(decision="refused", method="policy", reason=str(exc))
        return confirmer.gate(
            ctx,
            action=ACTION,
            args={"key_id": key_id},
            approval_id=approval_id,
            token=confirmation_token,
            message=revoke_message(key_line(key)),
            form=RevokeForm,
        )

    @tools.add(title="Revoke key", annotations=DESTRUCTIVE, meta=WITH_CARD)
    @venice_errors
    async def revoke_key(
        key_id: KeyId,
        confirmation: Annotated[ElicitationResult[RevokeForm], Resolve(gate)],
        approval_id: ApprovalId = None,
        confirmation_token: Token = None,
    ) -> Annotated[CallToolResult, WriteResult]:
        """Revoke a key at once, once the person approves."""
        args = {"key_id": key_id}
        key = await _current(rt, key_id, args)
        if isinstance(key, CallToolResult):
            return key
        decision = confirmer.settle(
            confirmation,
            action=ACTION,
            args=args,
            approval_id=approval_id,
            token=confirmation_token,
            expect_last6=key.last6,
        )
        if not decision.go:
            return not_done(
                rt,
                decision,
                tool=ACTION,
                key_id=key_id,
                args=args,
                preview=revoke_preview(key),
                make=WriteResult,
                verb="revoked",
                confirmer=confirmer,
                expect=key.last6,
                expect_label="the key's last six characters",
            )
        return await _revoke(rt, key, args, decision.method)

    async def approved(call: dict[str, Any], method: str) -> CallToolResult:
        """What the approval card runs once the person approved: the same revoke, looked up afresh."""
        args = {"key_id": call["key_id"]}
        key = await _current(rt, args["key_id"], args)
        if isinstance(key, CallToolResult):
            return key
        return await _revoke(rt, key, args, method)

    actions.add(ACTION, approved)


async def _current(rt: Runtime, key_id: str, args: dict[str, object]) -> ApiKey | CallToolResult:
    """The key as Venice has it now, or the `already_gone` answer (audited) if it is not there."""
    try:
        return await rt.client.get_key(key_id)
    except KeyNotFound:
        record(rt, tool=ACTION, key_id=key_id, args=args, method="n/a", outcome="already_gone")
        out = WriteResult(status="already_gone", key_id=key_id, message="No such key (already revoked?).")
        return result(out, out.message)


async def _revoke(rt: Runtime, key: ApiKey, args: dict[str, object], method: str) -> CallToolResult:
    """Send the delete once, finish whatever happens to the caller, record and answer."""
    key_id = str(args["key_id"])
    with to_the_end():  # sent: finish, record and answer whatever happens to the caller
        try:
            await rt.client.delete_key(key_id)
        except (OutcomeUnknown, MalformedResponse) as exc:
            # Sent, answer lost or unreadable: look whether the key is gone; never resend.
            return await _reconcile(rt, key_id, args, method, exc)
        except VeniceError as exc:
            raise failed(
                rt, exc, tool=ACTION, key_id=key_id, args=args, method=method, verb="revoked"
            ) from None
        record(rt, tool=ACTION, key_id=key_id, args=args, method=method, outcome="revoked")
        out = WriteResult(status="revoked", key_id=key_id, message=f"Revoked key …{key.last6}.")
        return result(out, out.message)


async def _reconcile(
    rt: Runtime, key_id: str, args: dict[str, object], method: str, exc: VeniceError
) -> CallToolResult:
    """The delete was sent but its answer was lost: read the key back, don't resend.

    Still there on the first look gets a second look after a short pause, for a delete
    Venice was still finishing when the answer was given up on.
    """
    why = lost_answer(exc)
    try:
        for attempt in range(2):
            if attempt:
                await look_again(rt)
            await rt.client.get_key(key_id)
    except KeyNotFound:
        record(
            rt,
            tool=ACTION,
            key_id=key_id,
            args=args,
            method=method,
            outcome="revoked",
            detail=f"{why}; confirmed gone by reading back",
        )
        out = WriteResult(
            status="revoked",
            key_id=key_id,
            message=f"Revoked: reading back shows the key is gone (outcome unknown at first: {why}).",
        )
        return result(out, out.message)
    except VeniceError as err:
        record(
            rt,
            tool=ACTION,
            key_id=key_id,
            args=args,
            method=method,
            outcome="outcome_unknown",
            detail=f"{why}; reading back failed: {err}",
        )
        out = WriteResult(
            status="outcome_unknown",
            key_id=key_id,
            message=f"Unknown whether the key was revoked ({why}), and reading back failed ({err}). "
            "Check with get_key before trying again.",
        )
        return result(out, out.message)
    record(
        rt,
        tool=ACTION,
        key_id=key_id,
        args=args,
        method=method,
        outcome="not_revoked",
        detail=f"{why}; key still present on two looks",
    )
    out = WriteResult(
        status="not_revoked",
        key_id=key_id,
        message=f"Not revoked: reading back shows the key is still there (outcome unknown at first: "
        f"{why}). Call revoke_key again to retry.",
    )
    return result(out, out.message)


# -- revoke_keys: an incident's many keys, one approval ------------------------------------------

MANY_ACTION = "revoke_keys"
MAX_BATCH = 50


class KeyOutcome(Output):
    """What happened to one key of a batch."""

    key_id: str
    last6: str | None = None
    status: str = Field(description="revoked, already_gone, not_revoked, outcome_unknown, failed")
    message: str


class BatchResult(WriteResult):
    count: int | None = Field(default=None, description="Keys the person approved revoking")
    outcomes: list[KeyOutcome] = Field(default_factory=list)


def batch_preview(found: list[ApiKey], missing: list[str]) -> Preview:
    lines = [f"Revoke at once: {render_line(key_line(k))}" for k in found]
    lines += [f"Not found, skipped: {key_id}" for key_id in missing]
    return Preview(action="revoke_many", changes=lines)


def batch_message(found: list[ApiKey], missing: list[str]) -> str:
    lines = [
        f"Revoke these {len(found)} keys at once? Anything using them stops working; this cannot be undone."
    ]
    for k in found:
        line = key_line(k)
        used = f"last used {line.last_used}" if line.last_used else "never used"
        lines.append(f"- {line.type} key {fence(line.description)} (…{line.last6}, {used})")
    if missing:
        lines.append(f"Not found (skipped): {', '.join(missing)}")
    lines.append(f"Type the number of keys to revoke ({len(found)}) to confirm.")
    return "\n".join(lines)


def register_many(tools: Toolbox, rt: Runtime, confirmer: Confirmer, actions: Actions) -> None:
    async def look_up(key_ids: list[str]) -> tuple[list[ApiKey], list[str]]:
        """The keys as Venice lists them now (one listing, not one read per key), and the ids it lacks."""
        listed = {k.id: k for k in await rt.client.list_keys()}
        return [listed[i] for i in key_ids if i in listed], [i for i in key_ids if i not in listed]

    def vet(found: list[ApiKey]) -> None:
        for k in found:  # the server's own key refuses the whole batch: the person fixes the list
            check_revoke(rt.policy, key_id=k.id, key_last6=k.last6)

    @venice_errors
    async def gate(
        key_ids: list[str], approval_id: str | None, confirmation_token: str | None, ctx: Context[Any, Any]
    ) -> Gate | Elicit[CountForm]:
        ids = unique(key_ids)
        try:
            found, missing = await look_up(ids)
        except VeniceError as exc:
            raise ToolError(str(exc)) from None
        try:
            vet(found)
        except PolicyRefusal as exc:
            return Gate(decision="refused", method="policy", reason=str(exc))
        if not found:
            nothing = "None of these keys exists; nothing to revoke."
            return Gate(decision="refused", method="not_needed", reason=nothing)
        return confirmer.gate(
            ctx,
            action=MANY_ACTION,
            args={"key_ids": ids},
            approval_id=approval_id,
            token=confirmation_token,
            message=batch_message(found, missing),
            form=CountForm,
        )

    @tools.add(title="Revoke keys (incident)", annotations=DESTRUCTIVE, meta=WITH_CARD)
    @venice_errors
    async def revoke_keys(
        key_ids: Annotated[list[KeyId], Field(min_length=1, max_length=MAX_BATCH)],
        confirmation: Annotated[ElicitationResult[CountForm], Resolve(gate)],
        approval_id: ApprovalId = None,
        confirmation_token: Token = None,
    ) -> Annotated[CallToolResult, BatchResult]:
        """Revoke up to 50 keys at once (an incident), after the person approves the whole list."""
        ids = unique(key_ids)
        args: dict[str, Any] = {"key_ids": ids}
        found, missing = await look_up(ids)
        decision = confirmer.settle(
            confirmation,
            action=MANY_ACTION,
            args=args,
            approval_id=approval_id,
            token=confirmation_token,
            expect_count=len(found),
        )
        if not decision.go:
            return not_done(
                rt,
                decision,
                tool=MANY_ACTION,
                key_id=None,
                args=args,
                preview=batch_preview(found, missing),
                make=BatchResult,
                verb="revoked",
                confirmer=confirmer,
                expect=str(len(found)),
                expect_label=f"the number of keys to revoke ({len(found)})",
            )
        return await revoke_batch(rt, ids, method=decision.method)

    async def approved(call: dict[str, Any], method: str) -> CallToolResult:
        """What the approval card runs once the person approved: the same list, each key looked up afresh."""
        ids = unique(call["key_ids"])
        found, _ = await look_up(ids)
        try:
            vet(found)
        except PolicyRefusal as exc:
            raise ToolError(str(exc)) from None
        return await revoke_batch(rt, ids, method=method)

    actions.add(MANY_ACTION, approved)


def unique(key_ids: list[str]) -> list[str]:
    """The ids in the order given, each once: a repeated id is one key."""
    return list(dict.fromkeys(key_ids))


async def revoke_batch(rt: Runtime, ids: list[str], *, method: str) -> CallToolResult:
    """Revoke each key once, in order; one key's failure does not stop the rest. Audited per key."""
    outcomes: list[KeyOutcome] = []
    for key_id in ids:
        args = {"key_id": key_id}
        key = await _current_quietly(rt, key_id, args)
        if isinstance(key, CallToolResult):
            outcomes.append(_outcome(key_id, None, key))
            continue
        try:
            done = await _revoke(rt, key, args, method)
        except ToolError as exc:  # Venice refused this one; it is audited as failed
            outcomes.append(KeyOutcome(key_id=key_id, last6=key.last6, status="failed", message=str(exc)))
            continue
        outcomes.append(_outcome(key_id, key.last6, done))
    revoked = sum(o.status == "revoked" for o in outcomes)
    status = "revoked_all" if revoked == len(ids) else "revoked_some"
    out = BatchResult(
        status=status,
        count=len(ids),
        outcomes=outcomes,
        message=f"Revoked {revoked} of {len(ids)} keys."
        + ("" if revoked == len(ids) else " See each key's outcome; check the rest with get_key."),
    )
    lines = [out.message] + [f"- {o.key_id} …{o.last6 or '?'}: {o.status}. {o.message}" for o in outcomes]
    return result(out, "\n".join(lines))


async def _current_quietly(rt: Runtime, key_id: str, args: dict[str, object]) -> ApiKey | CallToolResult:
    try:
        return await _current(rt, key_id, args)
    except VeniceError as exc:
        out = WriteResult(status="outcome_unknown", key_id=key_id, message=f"Could not read the key: {exc}")
        return result(out, out.message)


def _outcome(key_id: str, last6: str | None, done: CallToolResult) -> KeyOutcome:
    sc = done.structured_content or {}
    return KeyOutcome(
        key_id=key_id, last6=last6, status=str(sc.get("status", "failed")), message=str(sc.get("message", ""))
    )
