"""`patch_key`: change a key; a change that widens what it may spend or do is confirmed.

Each field has three intents: omit it (unchanged), give a value (set), or name it in
`remove` (drop the cap or the expiry). Setting and removing the same field is refused.
"""

import functools
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, Elicit, ElicitationResult, Resolve
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult
from pydantic import Field

from venice_keys_mcp.runtime import Runtime
from venice_keys_mcp.safety.confirm import ApproveForm, Confirmer, Gate, name_key
from venice_keys_mcp.safety.fencing import fence
from venice_keys_mcp.safety.policy import UNSET, PolicyRefusal, check_update, describe_widening
from venice_keys_mcp.tools.approval import WITH_CARD, Actions
from venice_keys_mcp.tools.common import (
    UPDATE,
    checked_expiry,
    to_the_end,
    venice_errors,
)
from venice_keys_mcp.tools.keys import KeyId
from venice_keys_mcp.tools.outcomes import PatchResult, Preview, not_done, record
from venice_keys_mcp.tools.params import (
    SET_EXPIRES_PATTERN,
    ApprovalId,
    Limit,
    Period,
    Privacy,
    Token,
    parse_expiry,
)
from venice_keys_mcp.tools.patch_apply import apply_patch
from venice_keys_mcp.tools.registration import Toolbox
from venice_keys_mcp.tools.views import key_line, now_utc
from venice_keys_mcp.venice import ApiKey, VeniceError

ACTION = "patch_key"
Removable = Literal["usd_limit", "diem_limit", "expires_at"]


def planned(args: dict[str, Any]) -> dict[str, Any]:
    """The requested new values by field; `None` means remove. Unmentioned fields are absent."""
    remove = set(args.get("remove") or ())
    new: dict[str, Any] = {}
    for field in ("description", "usd_limit", "diem_limit", "limit_period", "model_privacy", "expires_at"):
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


def before_values(k: ApiKey) -> dict[str, Any]:
    return {
        "usd": k.consumption_limits.usd,
        "diem": k.consumption_limits.diem,
        "expires_at": k.expires_at,
        "model_privacy": k.model_privacy,
        "limit_period": k.limit_period,
    }


def after_values(new: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "usd_limit" in new:
        out["usd"] = new["usd_limit"]
    if "diem_limit" in new:
        out["diem"] = new["diem_limit"]
    if "expires_at" in new:
        out["expires_at"] = parse_expiry(new["expires_at"])
    for f in ("model_privacy", "limit_period"):
        if f in new:
            out[f] = new[f]
    return out


def describe(new: dict[str, Any], k: ApiKey) -> list[str]:
    lines = []
    for field, value in new.items():
        if value is None:
            lines.append(f"remove {field} (was {_was(field, k)})")
        else:
            shown = fence(value) if field == "description" else value
            lines.append(f"{field}: {_was(field, k)} -> {shown}")
    return lines


#: `planned` field -> the name `describe_widening` knows it by.
_WIDENING_NAME = {
    "usd_limit": "usd",
    "diem_limit": "diem",
    "expires_at": "expires_at",
    "model_privacy": "model_privacy",
    "limit_period": "limit_period",
}


def widening_by_field(new: dict[str, Any], k: ApiKey) -> dict[str, list[str]]:
    """For each changed field, the sentences saying how it widens the key (empty: it does not).

    Each field is judged alone against the key as it is, except the limit period, which
    widens only if a cap remains after this patch for it to apply to.
    """
    before, after = before_values(k), after_values(new)
    out: dict[str, list[str]] = {}
    for field in new:
        name = _WIDENING_NAME.get(field)
        if name is None:
            out[field] = []
            continue
        probe = {name: after[name]}
        if name == "limit_period":  # unchanged caps never widen, so only the period speaks
            probe |= {cap: after.get(cap, before[cap]) for cap in ("usd", "diem")}
        out[field] = describe_widening(before, probe)
    return out


def marked_changes(new: dict[str, Any], k: ApiKey) -> list[str]:
    """Every change (before -> after), each one that widens the key marked with how."""
    widens = widening_by_field(new, k)
    out = []
    for field, change in zip(new, describe(new, k), strict=True):
        why = widens.get(field) or []
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
    v = {
        "description": fence(k.description),
        "usd_limit": k.consumption_limits.usd,
        "diem_limit": k.consumption_limits.diem,
        "limit_period": k.limit_period,
        "model_privacy": k.model_privacy,
        "expires_at": k.expires_at.strftime("%Y-%m-%dT%H:%MZ") if k.expires_at else None,
    }[field]
    return "none" if v is None else str(v)


def register(tools: Toolbox, rt: Runtime, confirmer: Confirmer, actions: Actions) -> None:
    def vet(key: ApiKey, new: dict[str, Any]) -> list[str]:
        """Policy first (may refuse), then what widens (needs confirmation)."""
        after = after_values(new)
        check_update(
            rt.policy,
            key_id=key.id,
            key_last6=key.last6,
            new_usd=after.get("usd", UNSET),
            new_diem=after.get("diem", UNSET),
            new_expires_at=after.get("expires_at", UNSET),
            new_model_privacy=after.get("model_privacy", UNSET),
            new_limit_period=after.get("limit_period", UNSET),
            current=before_values(key),
            now=now_utc(),
        )
        return describe_widening(before_values(key), after)

    @venice_errors
    async def gate(
        key_id: str,
        description: str | None,
        usd_limit: float | None,
        diem_limit: float | None,
        limit_period: str | None,
        model_privacy: str | None,
        expires_at: str | None,
        remove: list[str],
        approval_id: str | None,
        confirmation_token: str | None,
        ctx: Context[Any, Any],
    ) -> Gate | Elicit[ApproveForm]:
        args = dict(
            key_id=key_id,
            description=description,
            usd_limit=usd_limit,
            diem_limit=diem_limit,
            limit_period=limit_period,
            model_privacy=model_privacy,
            expires_at=expires_at,
            remove=sorted(remove),
        )
        new = planned(args)
        try:
            key = await rt.client.get_key(key_id)
        except VeniceError as exc:
            raise ToolError(str(exc)) from None
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

    @tools.add(title="Update key", annotations=UPDATE, meta=WITH_CARD)
    @venice_errors
    async def patch_key(
        key_id: KeyId,
        confirmation: Annotated[ElicitationResult[ApproveForm], Resolve(gate)],
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
        args: dict[str, Any] = dict(
            key_id=key_id,
            description=description,
            usd_limit=usd_limit,
            diem_limit=diem_limit,
            limit_period=limit_period,
            model_privacy=model_privacy,
            expires_at=expires_at,
            remove=sorted(remove),
        )
        new = planned(args)
        key = await rt.client.get_key(key_id)
        changes = describe(new, key)
        decision = confirmer.settle(
            confirmation, action=ACTION, args=args, approval_id=approval_id, token=confirmation_token
        )
        if not decision.go:
            preview = Preview(action="update", key=key_line(key), changes=marked_changes(new, key))
            make = functools.partial(PatchResult, changes=changes)
            return not_done(
                rt,
                decision,
                tool=ACTION,
                key_id=key_id,
                args=args,
                preview=preview,
                make=make,
                verb="changed",
                confirmer=confirmer,
            )
        with to_the_end():  # sent: finish, record and answer whatever happens to the caller
            return await apply_patch(rt, key_id, key, args, new, changes, decision.method)

    async def approved(call: dict[str, Any], method: str) -> CallToolResult:
        """What the approval card runs once the person approved: the same patch, policy checked afresh."""
        args = dict(call)
        new = planned(args)
        key = await rt.client.get_key(args["key_id"])
        try:
            vet(key, new)
        except PolicyRefusal as exc:
            record(rt, tool=ACTION, key_id=args["key_id"], args=args, method="policy", outcome="refused",
                   detail=str(exc))  # fmt: skip
            raise ToolError(str(exc)) from None
        with to_the_end():
            return await apply_patch(rt, args["key_id"], key, args, new, describe(new, key), method)

    actions.add(ACTION, approved)
