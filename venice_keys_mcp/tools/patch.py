"""`patch_key`: change a key; a change that widens what it may spend or do is confirmed.

Each field has three intents: omit it (unchanged), give a value (set), or name it in
`remove` (drop the cap or the expiry). Setting and removing the same field is refused.

Venice's API does not say whether `PATCH /api_keys` merges or replaces `consumptionLimit`.
If it replaces, sending only the cap being changed (`{"usd": 20}`) would silently drop
the key's DIEM cap: a widening nobody approved. So a patch that touches either cap sends
both (`KeyLimits.request_fields`), which gives the same result under either reading; and
every change is read back and compared with what was approved. A cap that is missing or
looser than approved is put back with one corrective PATCH (read back too); any
difference that remains is said in the result and the audit entry.
"""

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, Elicit, ElicitationResult, Resolve
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult
from pydantic import Field

from venice_keys_mcp.safety.confirm import ApproveForm, Gate, name_key
from venice_keys_mcp.safety.fencing import fence
from venice_keys_mcp.safety.policy import PolicyRefusal, check_update, describe_widening
from venice_keys_mcp.tools.approval import WITH_CARD
from venice_keys_mcp.tools.kit import DESTRUCTIVE, Kit, arguments, result, venice_errors
from venice_keys_mcp.tools.params import (
    SET_EXPIRES_PATTERN,
    ApprovalId,
    KeyId,
    Limit,
    Period,
    Privacy,
    Token,
    checked_expiry,
    parse_expiry,
)
from venice_keys_mcp.tools.views import KeyLine, key_line, now_utc, render_line
from venice_keys_mcp.tools.write import Preview, WriteCall, WriteResult, lost_answer, read_back, to_the_end
from venice_keys_mcp.venice import (
    ApiKey,
    KeyLimits,
    MalformedResponse,
    OutcomeUnknown,
    UpdateKeyRequest,
    VeniceError,
)

ACTION = "patch_key"
Removable = Literal["usd_limit", "diem_limit", "expires_at"]
PATCH_ARGS = ("key_id", "description", *KeyLimits.NAMES, "remove")
UNITS = {"usd_limit": "USD", "diem_limit": "DIEM"}
#: The gate and the body get these from the tool's signature (`kit.arguments`).
patch_args = arguments(*PATCH_ARGS)


class PatchResult(WriteResult):
    changes: list[str] = Field(default_factory=list)
    key: KeyLine | None = None
    differences: list[str] | None = Field(
        default=None, description="How the key read back differed from what was approved, if it did"
    )


def register(kit: Kit) -> None:
    rt, confirmer = kit.rt, kit.confirmer

    def vet(key: ApiKey, new: dict[str, Any]) -> list[str]:
        """Policy first (may refuse), then what widens (needs confirmation)."""
        changes = limit_changes(new)
        check_update(
            rt.policy, key_id=key.id, key_last6=key.last6, changes=changes, now=now_utc(), current=key.limits
        )
        return describe_widening(key.limits, changes)

    @venice_errors
    async def gate(
        given: Annotated[dict[str, Any], Resolve(patch_args)],
        approval_id: str | None,
        confirmation_token: str | None,
        ctx: Context[Any, Any],
    ) -> Gate | Elicit[ApproveForm]:
        args = as_asked(given)
        new = planned(args)
        key = await rt.client.get_key(args["key_id"])
        try:
            widening = vet(key, new)
        except PolicyRefusal as exc:
            return Gate(decision="refused", method="policy", reason=str(exc))
        if not widening:
            return Gate(decision="proceed", method="not_needed")
        return confirmer.gate(
            ctx,
            action=ACTION,
            args=args,
            approval_id=approval_id,
            token=confirmation_token,
            message=form_message(new, key),
            form=ApproveForm,
        )

    @kit.tool(title="Update key", annotations=DESTRUCTIVE, toolset="keys", meta=WITH_CARD)
    async def patch_key(
        key_id: KeyId,
        confirmation: Annotated[ElicitationResult[ApproveForm], Resolve(gate)],
        given: Annotated[dict[str, Any], Resolve(patch_args)],
        description: Annotated[str | None, Field(min_length=1, max_length=64)] = None,
        usd_limit: Limit = None,
        diem_limit: Limit = None,
        limit_period: Period | None = None,
        model_privacy: Privacy | None = None,
        expires_at: Annotated[str | None, Field(pattern=SET_EXPIRES_PATTERN)] = None,
        remove: Annotated[list[Removable], Field(max_length=3)] = [],  # noqa: B006
        approval_id: ApprovalId = None,
        confirmation_token: Token = None,
    ) -> Annotated[CallToolResult, PatchResult]:
        """Change a key; omitted fields stay. A change that widens it needs the person's approval."""
        args = as_asked(given)
        call = WriteCall(rt, ACTION, args, answer=PatchResult, verb="changed", key_id=key_id)
        new = planned(args)
        key = await rt.client.get_key(key_id)
        decision = call.settle(confirmer, confirmation, approval_id=approval_id, token=confirmation_token)
        if not decision.go:
            preview = Preview(action="update", key=key_line(key), changes=marked_changes(new, key))
            return call.not_done(decision, preview, confirmer, changes=describe(new, key))
        with to_the_end():  # sent: finish, record and answer whatever happens to the caller
            return await apply_patch(call, key, new)

    @kit.approved(ACTION)
    async def approved(args: dict[str, Any], method: str) -> CallToolResult:
        """What the approval card runs once the person approved: the same patch, policy checked afresh."""
        call = WriteCall(rt, ACTION, dict(args), PatchResult, "changed", key_id=args["key_id"], method=method)
        new = planned(call.args)
        key = await rt.client.get_key(args["key_id"])
        try:
            vet(key, new)
        except PolicyRefusal as exc:
            call.record("refused", str(exc), method="policy")
            raise ToolError(str(exc)) from None
        with to_the_end():
            return await apply_patch(call, key, new)


# -- what the person approves ----------------------------------------------------------------


def as_asked(given: dict[str, Any]) -> dict[str, Any]:
    """The patch as approved and audited: `remove` in one order, so the same patch is the same approval."""
    return {**given, "remove": sorted(given.get("remove") or ())}


def planned(args: dict[str, Any]) -> dict[str, Any]:
    """The requested new values by field, as given; `None` means remove. Unmentioned fields are absent."""
    remove = set(args.get("remove") or ())
    new: dict[str, Any] = {}
    for field in ("description", *KeyLimits.NAMES):
        value = args.get(field)
        if field in remove and value is not None:
            raise ToolError(f"{field} is both set and listed in remove; choose one.")
        if field in remove:
            new[field] = None
        elif value is not None:
            new[field] = value
    if not new:
        raise ToolError("Nothing to change: give at least one field, or name a cap or expires_at in remove.")
    if new.get("expires_at"):
        checked_expiry(new["expires_at"])  # a well-formed but impossible date is refused before any request
    return new


def limit_changes(new: dict[str, Any]) -> dict[str, Any]:
    """The changed limits as values (an expiry as a datetime): what policy and the read-back compare."""
    out = {f: v for f, v in new.items() if f in KeyLimits.NAMES}
    if out.get("expires_at"):
        out["expires_at"] = parse_expiry(out["expires_at"])
    return out


def approved_limits(key: ApiKey, new: dict[str, Any]) -> KeyLimits:
    """The key's limits as they should be after the change: changed ones from `new`, the rest as they are."""
    return key.limits.model_copy(update=limit_changes(new))


def describe(new: dict[str, Any], k: ApiKey) -> list[str]:
    lines = []
    for field, value in new.items():
        if value is None:
            lines.append(f"remove {field} (was {_was(field, k)})")
        else:
            shown = fence(value) if field == "description" else value
            lines.append(f"{field}: {_was(field, k)} -> {shown}")
    return lines


def marked_changes(new: dict[str, Any], k: ApiKey) -> list[str]:
    """Every change (before -> after), each one that widens the key marked with how.

    Each field is judged alone against the key as it is, except the limit period, which
    widens only if a cap remains after this patch for it to apply to.
    """
    changes, after = limit_changes(new), approved_limits(k, new)
    out = []
    for field, change in zip(new, describe(new, k), strict=True):
        why: list[str] = []
        if field in changes:
            probe = {field: changes[field]}
            if field == "limit_period":  # unchanged caps never widen, so only the period speaks
                probe |= {cap: getattr(after, cap) for cap in KeyLimits.CAPS}
            why = describe_widening(k.limits, probe)
        out.append(change + (f"  [WIDENS: {'; '.join(why)}]" if why else ""))
    return out


def form_message(new: dict[str, Any], k: ApiKey) -> str:
    """The approval form: which key, then every change, not only the ones that need approval.

    The person approves the whole patch, so they see all of it.
    """
    line = key_line(k)
    lines = [
        f"Change {name_key(line.type, line.description, line.last6, line.last_used)}?",
        "Changes (before -> after); lines marked WIDENS let the key do or spend more:",
    ]
    lines += [f"- {c}" for c in marked_changes(new, k)]
    return "\n".join(lines)


def _was(field: str, k: ApiKey) -> str:
    if field == "description":
        return fence(k.description)
    return _shown(_now(k, field))


# -- applying it -------------------------------------------------------------------------------


async def apply_patch(call: WriteCall, key: ApiKey, new: dict[str, Any]) -> CallToolResult:
    """Send the approved change once, then check it (and both caps) on the key read back.

    `key` is the key as read just before (the approval was shown from it). Run inside
    `to_the_end()`: from the request on, the call finishes, records and answers.
    """
    rt, changes, after = call.rt, describe(new, key), approved_limits(key, new)
    request = UpdateKeyRequest(
        id=key.id,
        **({"description": new["description"]} if "description" in new else {}),
        **after.request_fields(patch=tuple(f for f in new if f in KeyLimits.NAMES)),
    )
    try:
        answered = await rt.client.update_key(request)
    except (OutcomeUnknown, MalformedResponse) as exc:
        # Sent, answer lost or unreadable: read the key back, never resend.
        return await _reconcile(call, new, after, changes, exc)
    except VeniceError as exc:
        raise call.failed(exc) from None
    try:
        back = await rt.client.get_key(key.id)
    except VeniceError as err:
        # Unchecked: say so, with what Venice's answer to the PATCH itself showed.
        seen = differences(answered, new, after)
        shown = (
            f"; Venice's answer to the change differs from what was approved: {'; '.join(seen)}"
            if seen
            else ""
        )
        return call.finish(
            "updated_with_differences" if seen else "updated",
            f"Updated key …{key.last6}: " + "; ".join(changes) + f". Reading the key back to check it failed "
            f"({err}){shown}; check its caps with get_key.",
            detail="; ".join(changes) + f"; reading back to check failed: {err}{shown}",
            changes=changes,
            differences=seen or None,
        )
    return await _checked(call, back, new, after, changes, note="")


async def _checked(
    call: WriteCall, back: ApiKey, new: dict[str, Any], after: KeyLimits, changes: list[str], *, note: str
) -> CallToolResult:
    """The change is in place: compare the key read back with what was approved, restore looser caps."""
    first = differences(back, new, after)
    if not first:
        done = (f"{note}; confirmed by reading back: " if note else "") + "; ".join(changes)
        how = f" (confirmed by reading back; outcome unknown at first: {note})" if note else ""
        return _answer(
            call, "updated", back, changes, f"Updated key …{back.last6}{how}: " + "; ".join(changes), done
        )
    detail = (f"{note}; " if note else "") + "; ".join(changes) + "; read back differs: " + "; ".join(first)
    said = f"Updated key …{back.last6}, but reading it back differs from what was approved: " + "; ".join(
        first
    )
    looser = looser_caps(back, after)
    if not looser:
        return _answer(call, "updated_with_differences", back, changes, said + ".", detail, first)
    call.record("updated_with_differences", detail)
    final, how = await _restore(call, back, after, looser)
    left = differences(final, new, after) if final is not None else first
    status = "updated_with_differences" if left else "updated"
    return _answer(call, status, final or back, changes, f"{said}. {how}", None, first)


async def _restore(
    call: WriteCall, back: ApiKey, after: KeyLimits, looser: list[str]
) -> tuple[ApiKey | None, str]:
    """One corrective PATCH putting back the approved caps, read back. Returns the key and what happened.

    It only narrows the key to what a person (or the policy) already approved, so it needs
    no new approval; it is recorded as its own entry.
    """
    which = " and ".join(looser)
    try:
        await call.rt.client.update_key(
            UpdateKeyRequest(id=back.id, **after.request_fields(patch=KeyLimits.CAPS))
        )
        final = await call.rt.client.get_key(back.id)
    except VeniceError as err:
        now = _caps_now(back)
        call.record(
            "restore_failed",
            f"restoring the {which} cap failed: {err}; last read back: {now}",
            method="restore",
        )
        return None, (
            f"Restoring the {which} cap failed ({err}). The key's caps as last read back: {now}. "
            "Set them with patch_key, or check with get_key."
        )
    now = _caps_now(final)
    if looser_caps(final, after):
        call.record(
            "restore_failed", f"restoring the {which} cap did not hold; read back: {now}", method="restore"
        )
        return final, (
            f"A corrective update to restore the {which} cap did not hold: the key's caps are now {now}. "
            "Its spending is not bounded as approved; fix it in the Venice dashboard or revoke the key."
        )
    call.record("restored", f"restored the {which} cap; read back: {now}", method="restore")
    return final, f"The {which} cap was restored by a corrective update; reading back shows {now}."


async def _reconcile(
    call: WriteCall, new: dict[str, Any], after: KeyLimits, changes: list[str], exc: VeniceError
) -> CallToolResult:
    """The update was sent but its answer was lost: read the key back and compare; never resend.

    In place, it is checked like any other change (both caps included).
    """
    why = lost_answer(exc)
    key_id = str(call.key_id)
    try:
        key = await read_back(
            call.rt, lambda: call.rt.client.get_key(key_id), lambda k: not not_in_place(k, new)
        )
    except VeniceError as err:
        return call.finish(
            "outcome_unknown",
            f"Unknown whether the change was made ({why}), and reading back failed ({err}). "
            "Check with get_key before trying again.",
            detail=f"{why}; reading back failed: {err}",
            changes=changes,
        )
    missing = not_in_place(key, new)
    if not missing:
        return await _checked(call, key, new, after, changes, note=why)
    return _answer(
        call,
        "no_change",
        key,
        changes,
        f"Not changed: reading back shows the change is not in place ({', '.join(missing)} "
        f"as before; outcome unknown at first: {why}). Call patch_key again to retry.",
        f"{why}; not in place on two looks: {', '.join(missing)}",
    )


def _answer(
    call: WriteCall,
    status: str,
    k: ApiKey,
    changes: list[str],
    message: str,
    detail: str | None,
    found: list[str] | None = None,
) -> CallToolResult:
    """Answer with the key as read back; `detail` None: already recorded."""
    line = key_line(k)
    text = message + "\n" + render_line(line)
    if detail is None:
        out = PatchResult(
            status=status,  # type: ignore[arg-type]
            key_id=call.key_id,
            changes=changes,
            key=line,
            differences=found or None,
            message=message,
        )
        return result(out, text)
    return call.finish(
        status, message, detail=detail, text=text, changes=changes, key=line, differences=found or None
    )


# -- comparing what Venice reports with what was approved ---------------------------------------


def differences(k: ApiKey, new: dict[str, Any], after: KeyLimits) -> list[str]:
    """How the key read back differs from what was approved: the fields changed, and both caps."""
    out = []
    for field, unit in UNITS.items():
        want, got = getattr(after, field), _now(k, field)
        if got != want:
            out.append(f"{unit} cap: approved {_cap(want)}, Venice reports {_cap(got)}")
    for field in new:
        if field in UNITS:
            continue
        want = after.expires_at if field == "expires_at" else new[field]
        got = _now(k, field)
        if got != want:
            if field == "description":  # Venice's text: fenced, like every description shown
                want, got = fence(want), fence(got)
            out.append(f"{field}: approved {_shown(want)}, Venice reports {_shown(got)}")
    return out


def looser_caps(k: ApiKey, after: KeyLimits) -> list[str]:
    """The caps Venice reports as missing or higher than approved: each lets the key spend more."""
    out = []
    for field, unit in UNITS.items():
        want, got = getattr(after, field), _now(k, field)
        if want is not None and (got is None or got > want):
            out.append(unit)
    return out


def not_in_place(k: ApiKey, new: dict[str, Any]) -> list[str]:
    """The requested fields whose value on the key read back differs from what was asked."""
    wanted = {**new, **limit_changes(new)}
    return [f for f, v in wanted.items() if _now(k, f) != v]


def _now(k: ApiKey, field: str) -> Any:
    return k.description if field == "description" else getattr(k.limits, field)


def _cap(value: float | None) -> str:
    return "none" if value is None else f"{value:g}"


def _caps_now(k: ApiKey) -> str:
    usd, diem = _cap(k.consumption_limits.usd), _cap(k.consumption_limits.diem)
    return f"USD {usd}, DIEM {diem} (limit period {k.limit_period})"


def _shown(value: Any) -> str:
    if value is None:
        return "none"
    if hasattr(value, "strftime"):
        return value.strftime("%Y-%m-%dT%H:%MZ")
    return str(value)
