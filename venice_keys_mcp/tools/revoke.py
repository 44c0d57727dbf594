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
from venice_keys_mcp.safety.confirm import CountForm, Gate, RevokeForm, name_key
from venice_keys_mcp.safety.policy import PolicyRefusal, check_revoke
from venice_keys_mcp.tools.approval import WITH_CARD
from venice_keys_mcp.tools.kit import DESTRUCTIVE, Kit, result, venice_errors
from venice_keys_mcp.tools.params import ApprovalId, KeyId, Token
from venice_keys_mcp.tools.views import KeyLine, Output, key_line, render_line
from venice_keys_mcp.tools.write import Preview, WriteCall, WriteResult, lost_answer, read_back, to_the_end
from venice_keys_mcp.venice import ApiKey, KeyNotFound, MalformedResponse, OutcomeUnknown, VeniceError

ACTION = "revoke_key"


def revoke_preview(k: ApiKey) -> Preview:
    line = key_line(k)
    return Preview(action="revoke", key=line, changes=[f"Revoke at once: {render_line(line)}"])


def revoke_message(line: KeyLine) -> str:
    return (
        f"Revoke {name_key(line.type, line.description, line.last6, line.last_used)}? "
        "Anything using it stops working at once and this cannot be undone. "
        "Type the key's last six characters to confirm."
    )


def register(kit: Kit) -> None:
    register_one(kit)
    register_batch(kit)


def register_one(kit: Kit) -> None:
    rt, confirmer = kit.rt, kit.confirmer

    @venice_errors
    async def gate(
        key_id: str, approval_id: str | None, confirmation_token: str | None, ctx: Context[Any, Any]
    ) -> Gate | Elicit[RevokeForm]:
        key = await rt.client.get_key(key_id)
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

    @kit.tool(title="Revoke key", annotations=DESTRUCTIVE, toolset="keys", meta=WITH_CARD)
    async def revoke_key(
        key_id: KeyId,
        confirmation: Annotated[ElicitationResult[RevokeForm], Resolve(gate)],
        approval_id: ApprovalId = None,
        confirmation_token: Token = None,
    ) -> Annotated[CallToolResult, WriteResult]:
        """Revoke a key at once, once the person approves."""
        call = revoke_call(rt, key_id)
        key = await current(call)
        if isinstance(key, CallToolResult):
            return key
        decision = call.settle(
            confirmer, confirmation, approval_id=approval_id, token=confirmation_token, expect_last6=key.last6
        )
        if not decision.go:
            return call.not_done(
                decision,
                revoke_preview(key),
                confirmer,
                expect=key.last6,
                expect_label="the key's last six characters",
            )
        return await revoke(call, key)

    @kit.approved(ACTION)
    async def approved(args: dict[str, Any], method: str) -> CallToolResult:
        """What the approval card runs once the person approved: the same revoke, looked up afresh."""
        call = revoke_call(rt, args["key_id"], method)
        key = await current(call)
        return key if isinstance(key, CallToolResult) else await revoke(call, key)


def revoke_call(rt: Runtime, key_id: str, method: str = "n/a") -> WriteCall:
    return WriteCall(rt, ACTION, {"key_id": key_id}, verb="revoked", key_id=key_id, method=method)


async def current(call: WriteCall) -> ApiKey | CallToolResult:
    """The key as Venice has it now, or the `already_gone` answer (audited) if it is not there."""
    try:
        return await call.rt.client.get_key(str(call.key_id))
    except KeyNotFound:
        return call.finish("already_gone", "No such key (already revoked?).")


async def revoke(call: WriteCall, key: ApiKey) -> CallToolResult:
    """Send the delete once, finish whatever happens to the caller, record and answer."""
    with to_the_end():  # sent: finish, record and answer whatever happens to the caller
        try:
            await call.rt.client.delete_key(key.id)
        except (OutcomeUnknown, MalformedResponse) as exc:
            # Sent, answer lost or unreadable: look whether the key is gone; never resend.
            return await reconcile(call, exc)
        except VeniceError as exc:
            raise call.failed(exc) from None
        return call.finish("revoked", f"Revoked key …{key.last6}.")


async def reconcile(call: WriteCall, exc: VeniceError) -> CallToolResult:
    """The delete was sent but its answer was lost: read the key back, don't resend."""
    why = lost_answer(exc)

    async def still_there() -> bool:
        try:
            await call.rt.client.get_key(str(call.key_id))
        except KeyNotFound:
            return False
        return True

    try:
        there = await read_back(call.rt, still_there, lambda there: not there)
    except VeniceError as err:
        return call.finish(
            "outcome_unknown",
            f"Unknown whether the key was revoked ({why}), and reading back failed ({err}). "
            "Check with get_key before trying again.",
            detail=f"{why}; reading back failed: {err}",
        )
    if not there:
        return call.finish(
            "revoked",
            f"Revoked: reading back shows the key is gone (outcome unknown at first: {why}).",
            detail=f"{why}; confirmed gone by reading back",
        )
    return call.finish(
        "not_revoked",
        f"Not revoked: reading back shows the key is still there (outcome unknown at first: {why}). "
        "Call revoke_key again to retry.",
        detail=f"{why}; key still present on two looks",
    )


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
        lines.append(f"- {name_key(line.type, line.description, line.last6, line.last_used)}")
    if missing:
        lines.append(f"Not found (skipped): {', '.join(missing)}")
    lines.append(f"Type the number of keys to revoke ({len(found)}) to confirm.")
    return "\n".join(lines)


def register_batch(kit: Kit) -> None:
    rt, confirmer = kit.rt, kit.confirmer

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
        found, missing = await look_up(ids)
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

    @kit.tool(title="Revoke keys (incident)", annotations=DESTRUCTIVE, toolset="workflows", meta=WITH_CARD)
    async def revoke_keys(
        key_ids: Annotated[list[KeyId], Field(min_length=1, max_length=MAX_BATCH)],
        confirmation: Annotated[ElicitationResult[CountForm], Resolve(gate)],
        approval_id: ApprovalId = None,
        confirmation_token: Token = None,
    ) -> Annotated[CallToolResult, BatchResult]:
        """Revoke up to 50 keys at once (an incident), after the person approves the whole list."""
        ids = unique(key_ids)
        call = WriteCall(rt, MANY_ACTION, {"key_ids": ids}, answer=BatchResult, verb="revoked")
        found, missing = await look_up(ids)
        decision = call.settle(
            confirmer,
            confirmation,
            approval_id=approval_id,
            token=confirmation_token,
            expect_count=len(found),
        )
        if not decision.go:
            return call.not_done(
                decision,
                batch_preview(found, missing),
                confirmer,
                expect=str(len(found)),
                expect_label=f"the number of keys to revoke ({len(found)})",
            )
        return await revoke_batch(rt, ids, method=decision.method)

    @kit.approved(MANY_ACTION)
    async def approved(call: dict[str, Any], method: str) -> CallToolResult:
        """What the approval card runs once the person approved: the same list, each key looked up afresh."""
        ids = unique(call["key_ids"])
        found, _ = await look_up(ids)
        try:
            vet(found)
        except PolicyRefusal as exc:
            raise ToolError(str(exc)) from None
        return await revoke_batch(rt, ids, method=method)


def unique(key_ids: list[str]) -> list[str]:
    """The ids in the order given, each once: a repeated id is one key."""
    return list(dict.fromkeys(key_ids))


async def revoke_batch(rt: Runtime, ids: list[str], *, method: str) -> CallToolResult:
    """Revoke each key once, in order; one key's failure does not stop the rest. Audited per key."""
    outcomes: list[KeyOutcome] = []
    for key_id in ids:
        call = revoke_call(rt, key_id, method)
        try:
            key = await current(call)
        except VeniceError as exc:
            message = f"Could not read the key: {exc}"
            outcomes.append(KeyOutcome(key_id=key_id, status="outcome_unknown", message=message))
            continue
        last6 = None if isinstance(key, CallToolResult) else key.last6
        try:
            done = key if isinstance(key, CallToolResult) else await revoke(call, key)
        except ToolError as exc:  # Venice refused this one; it is audited as failed
            outcomes.append(KeyOutcome(key_id=key_id, last6=last6, status="failed", message=str(exc)))
            continue
        sc = done.structured_content or {}
        outcomes.append(
            KeyOutcome(key_id=key_id, last6=last6, status=str(sc["status"]), message=str(sc["message"]))
        )
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
