"""`rotate_key`: a safe rotation, one approval for both steps.

The rotation Stripe, Paddle and the CIS benchmarks describe, with Venice's own fields:
make a new key like the old one (type, description marked as rotated, caps, limit period,
model privacy, expiry), deliver its secret like `create_key`, then let the old key live on
for a grace period (its `expiresAt` set to now plus `grace_hours`, never later than it
already expires) or revoke it at once (`grace_hours=0`). The person approves the whole
rotation once, seeing both steps, by typing the old key's last six characters.

Nothing is left unaccounted: if the new key is not made cleanly the old one is not
touched; if the old key cannot be set to expire, the result says exactly what exists now
(both keys, the new secret's file) and how to finish, and every step has its audit entry.
"""

from datetime import datetime, timedelta
from typing import Annotated, Any

from mcp.server.mcpserver import Context, Elicit, ElicitationResult, Resolve
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult
from pydantic import Field

from venice_keys_mcp.safety.confirm import Gate, RevokeForm, name_key
from venice_keys_mcp.safety.fencing import fence
from venice_keys_mcp.safety.policy import PolicyRefusal, check_create, check_revoke
from venice_keys_mcp.tools.approval import WITH_CARD
from venice_keys_mcp.tools.create import CreateResult, CreationWindow, Reveal, make_key, reveal_plan
from venice_keys_mcp.tools.kit import ROTATES, Kit, result, venice_errors
from venice_keys_mcp.tools.params import ApprovalId, KeyId, Token
from venice_keys_mcp.tools.views import Output, key_line, now_utc
from venice_keys_mcp.tools.write import Preview, WriteCall, WriteResult, to_the_end
from venice_keys_mcp.venice import ApiKey, CreateKeyRequest, KeyLimits, UpdateKeyRequest, VeniceError
from venice_keys_mcp.venice.models import MAX_DESCRIPTION, wire_time

ACTION = "rotate_key"
ROTATED = " (rotated)"
MAX_GRACE_HOURS = 720  # 30 days: longer is not a rotation


class RotatedKey(Output):
    """One side of a rotation, as the person checks it afterwards."""

    id: str
    last6: str
    expires: str | None = Field(default=None, description="UTC; absent: never expires")
    secret_file: str | None = Field(default=None, description="The new key's secret (0600)")


class RotateResult(WriteResult):
    old: RotatedKey | None = None
    new: RotatedKey | None = None
    check: str | None = Field(default=None, description="How to see that clients switched over")


def register(kit: Kit) -> None:
    rt, confirmer = kit.rt, kit.confirmer
    window: CreationWindow = kit.once("creation window", CreationWindow)

    def vet(old: ApiKey) -> None:
        """The server's own key is never rotated away; the new key must be one policy allows."""
        check_revoke(rt.policy, key_id=old.id, key_last6=old.last6)
        check_create(rt.policy, key_type=old.api_key_type, limits=new_limits(old, now_utc()), now=now_utc())

    @venice_errors
    async def gate(
        key_id: str,
        grace_hours: int,
        approval_id: str | None,
        confirmation_token: str | None,
        ctx: Context[Any, Any],
    ) -> Gate | Elicit[RevokeForm]:
        old = await rt.client.get_key(key_id)
        try:
            vet(old)
        except PolicyRefusal as exc:
            return Gate(decision="refused", method="policy", reason=str(exc))
        line = key_line(old)
        message = "\n".join(
            [
                f"Rotate {name_key(line.type, line.description, line.last6, line.last_used)}?",
                *[f"- {step}" for step in steps(old, grace_hours, now_utc())],
                "Type the old key's last six characters to confirm.",
            ]
        )
        return confirmer.gate(
            ctx,
            action=ACTION,
            args={"key_id": key_id, "grace_hours": grace_hours},
            approval_id=approval_id,
            token=confirmation_token,
            message=message,
            form=RevokeForm,
        )

    @kit.tool(title="Rotate key", annotations=ROTATES, toolset="workflows", meta=WITH_CARD)
    async def rotate_key(
        key_id: KeyId,
        confirmation: Annotated[ElicitationResult[RevokeForm], Resolve(gate)],
        ctx: Context[Any, Any],
        grace_hours: Annotated[
            int, Field(ge=0, le=MAX_GRACE_HOURS, description="Old key lives on; 0: revoke")
        ] = 24,
        approval_id: ApprovalId = None,
        confirmation_token: Token = None,
    ) -> Annotated[CallToolResult, RotateResult]:
        """Replace a key with a new one like it; the old one expires after grace_hours. Person approves."""
        call = WriteCall(
            rt, ACTION, {"key_id": key_id, "grace_hours": grace_hours}, RotateResult, "rotated", key_id
        )
        old = await rt.client.get_key(key_id)
        decision = call.settle(
            confirmer, confirmation, approval_id=approval_id, token=confirmation_token, expect_last6=old.last6
        )
        if not decision.go:
            preview = Preview(action="rotate", key=key_line(old), changes=steps(old, grace_hours, now_utc()))
            return call.not_done(
                decision,
                preview,
                confirmer,
                expect=old.last6,
                expect_label="the old key's last six characters",
            )
        return await rotate(
            call, window, old, reveal_plan(confirmer, ctx, {"reveal_secret": False}, decision)
        )

    @kit.approved(ACTION)
    async def approved(args: dict[str, Any], method: str) -> CallToolResult:
        """What the approval card runs once the person approved: the same rotation, the key read afresh."""
        old = await rt.client.get_key(args["key_id"])
        try:
            vet(old)
        except PolicyRefusal as exc:
            raise ToolError(str(exc)) from None
        call_args = {"key_id": old.id, "grace_hours": int(args["grace_hours"])}
        call = WriteCall(rt, ACTION, call_args, RotateResult, "rotated", old.id, method)
        return await rotate(call, window, old, Reveal(offer="app", confirmer=confirmer))


def new_limits(old: ApiKey, now: datetime) -> KeyLimits:
    """The new key's limits: the old key's, with an expiry only if it is still ahead."""
    return old.limits.model_copy(update={"expires_at": _future(old.expires_at, now)})


def steps(old: ApiKey, grace_hours: int, now: datetime) -> list[str]:
    """The rotation as a person approves it: the new key, then what happens to the old one."""
    caps = [
        f"{unit} cap {value:,.12g}"
        for unit, value in (("USD", old.consumption_limits.usd), ("DIEM", old.consumption_limits.diem))
        if value is not None
    ]
    keeps = ", ".join(caps) + f" per {old.limit_period}" if caps else "no spend cap"
    expiry = _future(old.expires_at, now)
    made = (
        f"Create a new {old.api_key_type} key {fence(new_description(old.description))} like the old one: "
        f"{keeps}, model privacy {old.model_privacy}, "
        + (f"expires {_utc(expiry)}" if expiry else "never expires")
    )
    if grace_hours == 0:
        return [made, f"Then revoke the old key …{old.last6} at once"]
    until = old_key_expiry(old, grace_hours, now)
    return [made, f"Then the old key …{old.last6} expires at {_utc(until)} (grace {grace_hours} h)"]


def new_description(old: str) -> str:
    """The old description marked as rotated, within Venice's 64 characters."""
    base = old.removesuffix(ROTATED)
    return base[: MAX_DESCRIPTION - len(ROTATED)].rstrip() + ROTATED


def old_key_expiry(old: ApiKey, grace_hours: int, now: datetime) -> datetime:
    """Now plus the grace period, or the old key's own expiry if that comes first: never later."""
    until = (now + timedelta(hours=grace_hours)).replace(microsecond=0)
    return min(until, old.expires_at) if old.expires_at else until


async def rotate(call: WriteCall, window: CreationWindow, old: ApiKey, reveal: Reveal) -> CallToolResult:
    """Step 1, the new key (secret delivered); step 2, the old key's expiry or revoke. Each audited."""
    now = now_utc()
    description = new_description(old.description)
    request = CreateKeyRequest(
        api_key_type=old.api_key_type, description=description, **new_limits(old, now).request_fields()
    )
    making = WriteCall(call.rt, ACTION, call.args, answer=CreateResult, verb="created", method=call.method)
    made = await make_key(
        making,
        window,
        lambda: call.rt.client.create_key(request),
        reveal,
        match={"description": description, "key_type": old.api_key_type},
    )
    sc = made.structured_content or {}
    old_side = RotatedKey(id=old.id, last6=old.last6, expires=_utc(old.expires_at))
    if made.is_error or sc.get("status") != "created":
        why = sc.get("message") or "the new key was not made"
        new_side = RotatedKey(id=sc["id"], last6=sc.get("last6", "")) if sc.get("id") else None
        out = RotateResult(
            status="not_rotated",
            key_id=old.id,
            old=old_side,
            new=new_side,
            message=f"Not rotated: {why} The old key …{old.last6} is unchanged.",
        )
        return result(out, out.message)
    new_side = RotatedKey(id=sc["id"], last6=sc["last6"], secret_file=sc.get("secret_file"))
    with to_the_end():  # the new key exists: finish the old key's side whatever happens to the caller
        done = await _retire(call, old, now, new_side)
    done.meta = made.meta  # the card's "show secret once" for the new key
    return done


async def _retire(call: WriteCall, old: ApiKey, now: datetime, new: RotatedKey) -> CallToolResult:
    """Expire or revoke the old key, read it back, and answer with both keys."""
    rt, grace_hours = call.rt, int(call.args["grace_hours"])
    check = (
        f"Move every client to the new key …{new.last6}; get_key on both keys shows the switch-over "
        f"(lastUsedAt of …{new.last6} moves, that of …{old.last6} stops)."
    )
    secret_at = f" Its secret is in {new.secret_file}." if new.secret_file else ""
    until = old_key_expiry(old, grace_hours, now)
    try:
        if grace_hours == 0:
            await rt.client.delete_key(old.id)
            old_side = RotatedKey(id=old.id, last6=old.last6, expires="revoked")
            step = f"the old key …{old.last6} is revoked"
        else:
            await rt.client.update_key(UpdateKeyRequest(id=old.id, expires_at=wire_time(until)))
            back = await rt.client.get_key(old.id)
            if back.expires_at is None or back.expires_at > until:
                raise _NotInPlace(f"Venice shows its expiry as {_utc(back.expires_at) or 'never'}")
            old_side = RotatedKey(id=old.id, last6=old.last6, expires=_utc(back.expires_at))
            step = f"the old key …{old.last6} expires at {_utc(back.expires_at)}"
    except (VeniceError, _NotInPlace) as exc:
        finish = (
            f"revoke_key key_id={old.id}"
            if grace_hours == 0
            else f"patch_key key_id={old.id} expires_at={wire_time(until)}"
        )
        return call.finish(
            "rotated_partially",
            f"Half done: the new key …{new.last6} ({new.id}) exists.{secret_at} The old key "
            f"…{old.last6} could not be {'revoked' if grace_hours == 0 else 'set to expire'} ({exc}); it "
            f"is still active. To finish: {finish}.",
            detail=f"new key {new.id} made; old key not retired: {exc}",
            old=RotatedKey(id=old.id, last6=old.last6, expires=_utc(old.expires_at)),
            new=new,
            check=check,
        )
    message = f"Rotated: new key …{new.last6} ({new.id}) made.{secret_at} Now {step}."
    return call.finish(
        "rotated", message, detail=f"new key {new.id}; {step}", text=f"{message}\n{check}",
        old=old_side, new=new, check=check,
    )  # fmt: skip


class _NotInPlace(Exception):
    pass


def _future(when: datetime | None, now: datetime) -> datetime | None:
    return when if when is not None and when > now else None


def _utc(when: datetime | None) -> str | None:
    return when.strftime("%Y-%m-%d %H:%M UTC") if when else None
