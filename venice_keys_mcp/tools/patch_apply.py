"""Applying an approved `patch_key` change: build the request, send it once, read the key back, compare.

Venice's API does not say whether `PATCH /api_keys` merges or replaces `consumptionLimit`.
If it replaces, sending only the cap being changed (`{"usd": 20}`) would silently drop
the key's DIEM cap: a widening nobody approved. So a patch that touches either cap sends
both (the current value of the one not being changed), which gives the same result under
either reading; and every change is read back and compared with what was approved. A
cap that is missing or looser than approved is put back with one corrective PATCH (read
back too); any difference that remains is said in the result and the audit entry.
"""

from __future__ import annotations

from typing import Any

from mcp_types import CallToolResult

from venice_keys_mcp.runtime import Runtime
from venice_keys_mcp.safety.fencing import fence
from venice_keys_mcp.tools.common import look_again, lost_answer, result
from venice_keys_mcp.tools.outcomes import PatchResult, failed, record
from venice_keys_mcp.tools.params import parse_expiry
from venice_keys_mcp.tools.views import key_line, render_line
from venice_keys_mcp.venice import ApiKey, MalformedResponse, OutcomeUnknown, UpdateKeyRequest, VeniceError
from venice_keys_mcp.venice.models import LimitsInput

ACTION = "patch_key"
CAPS = {"usd_limit": "USD", "diem_limit": "DIEM"}


def build_request(key_id: str, new: dict[str, Any], current: ApiKey) -> UpdateKeyRequest:
    """The PATCH body for `new` on the key as it is now.

    When either cap changes, `consumptionLimit` carries both: the new value for the one
    being changed, the current value (possibly null) for the other.
    """
    fields: dict[str, Any] = {"id": key_id}
    if any(cap in new for cap in CAPS):
        fields["consumption_limit"] = LimitsInput(**approved_caps(new, current))
    for name in ("description", "limit_period", "model_privacy", "expires_at"):
        if name in new:
            fields[name] = new[name]
    return UpdateKeyRequest(**fields)


def approved_caps(new: dict[str, Any], current: ApiKey) -> dict[str, float | None]:
    """Both caps as they should be after the change: changed ones from `new`, the rest as they are."""
    return {
        "usd": new.get("usd_limit", current.consumption_limits.usd),
        "diem": new.get("diem_limit", current.consumption_limits.diem),
    }


def differences(k: ApiKey, new: dict[str, Any], caps: dict[str, float | None]) -> list[str]:
    """How the key read back differs from what was approved: the fields changed, and both caps."""
    out = []
    for field, unit in CAPS.items():
        want, got = caps[field.removesuffix("_limit")], _now(k, field)
        if got != want:
            out.append(f"{unit} cap: approved {_cap(want)}, Venice reports {_cap(got)}")
    for field, wanted in new.items():
        if field in CAPS:
            continue
        want = parse_expiry(wanted) if field == "expires_at" else wanted
        if _now(k, field) != want:
            got = _now(k, field)
            if field == "description":  # Venice's text: fenced, like every description shown
                want, got = fence(want), fence(got)
            out.append(f"{field}: approved {_shown(want)}, Venice reports {_shown(got)}")
    return out


def looser_caps(k: ApiKey, caps: dict[str, float | None]) -> list[str]:
    """The caps Venice reports as missing or higher than approved: each lets the key spend more."""
    out = []
    for field, unit in CAPS.items():
        want, got = caps[field.removesuffix("_limit")], _now(k, field)
        if want is not None and (got is None or got > want):
            out.append(unit)
    return out


def not_in_place(k: ApiKey, new: dict[str, Any]) -> list[str]:
    """The requested fields whose value on the key read back differs from what was asked."""
    wanted = {f: parse_expiry(v) if f == "expires_at" else v for f, v in new.items()}
    return [f for f, v in wanted.items() if _now(k, f) != v]


async def apply_patch(
    rt: Runtime,
    key_id: str,
    key: ApiKey,
    args: dict[str, Any],
    new: dict[str, Any],
    changes: list[str],
    method: str,
) -> CallToolResult:
    """Send the approved change to `key_id` once, then check it (and both caps) on the key read back.

    `key` is the key as read just before (the approval was shown from it). Run inside
    `to_the_end()`: from the request on, the call finishes, records and answers.
    """
    caps = approved_caps(new, key)
    try:
        answered = await rt.client.update_key(build_request(key_id, new, key))
    except (OutcomeUnknown, MalformedResponse) as exc:
        # Sent, answer lost or unreadable: read the key back, never resend.
        return await _reconcile(rt, key_id, args, new, caps, changes, method, exc)
    except VeniceError as exc:
        raise failed(rt, exc, tool=ACTION, key_id=key_id, args=args, method=method, verb="changed") from None
    try:
        after = await rt.client.get_key(key_id)
    except VeniceError as err:
        # Unchecked: say so, with what Venice's answer to the PATCH itself showed.
        seen = differences(answered, new, caps)
        status = "updated_with_differences" if seen else "updated"
        shown = f"; Venice's answer to the change differs from what was approved: {'; '.join(seen)}"
        shown = shown if seen else ""
        record(rt, tool=ACTION, key_id=key_id, args=args, method=method, outcome=status,
               detail="; ".join(changes) + f"; reading back to check failed: {err}{shown}")  # fmt: skip
        out = PatchResult(
            status=status,
            key_id=key_id,
            changes=changes,
            differences=seen or None,
            message=f"Updated key …{key.last6}: " + "; ".join(changes) + f". Reading the key back to check "
            f"it failed ({err}){shown}; check its caps with get_key.",
        )
        return result(out, out.message)
    return await _checked(rt, key_id, after, args, new, caps, changes, method, note="")


async def _checked(
    rt: Runtime,
    key_id: str,
    after: ApiKey,
    args: dict[str, Any],
    new: dict[str, Any],
    caps: dict[str, float | None],
    changes: list[str],
    method: str,
    *,
    note: str,
) -> CallToolResult:
    """The change is in place: compare the key read back with what was approved, restore looser caps."""
    first = differences(after, new, caps)
    if not first:
        done = (f"{note}; confirmed by reading back: " if note else "") + "; ".join(changes)
        record(rt, tool=ACTION, key_id=key_id, args=args, method=method, outcome="updated", detail=done)
        how = f" (confirmed by reading back; outcome unknown at first: {note})" if note else ""
        said = f"Updated key …{after.last6}{how}: " + "; ".join(changes)
        return _answer("updated", key_id, after, changes, said)
    record(
        rt,
        tool=ACTION,
        key_id=key_id,
        args=args,
        method=method,
        outcome="updated_with_differences",
        detail=(f"{note}; " if note else "")
        + "; ".join(changes)
        + "; read back differs: "
        + "; ".join(first),
    )
    said = f"Updated key …{after.last6}, but reading it back differs from what was approved: "
    said += "; ".join(first)
    looser = looser_caps(after, caps)
    if not looser:
        return _answer("updated_with_differences", key_id, after, changes, said + ".", first)
    final, how = await _restore(rt, key_id, after, args, caps, looser)
    left = differences(final, new, caps) if final is not None else first
    status = "updated_with_differences" if left else "updated"
    return _answer(status, key_id, final or after, changes, f"{said}. {how}", first)


async def _restore(
    rt: Runtime,
    key_id: str,
    after: ApiKey,
    args: dict[str, Any],
    caps: dict[str, float | None],
    looser: list[str],
) -> tuple[ApiKey | None, str]:
    """One corrective PATCH putting back the approved caps, read back. Returns the key and what happened.

    It only narrows the key to what a person (or the policy) already approved, so it needs
    no new approval; it is recorded as its own entry.
    """
    which = " and ".join(looser)
    body = LimitsInput(**caps)
    try:
        await rt.client.update_key(UpdateKeyRequest(id=key_id, consumption_limit=body))
        final = await rt.client.get_key(key_id)
    except VeniceError as err:
        now = _caps_now(after)
        record(rt, tool=ACTION, key_id=key_id, args=args, method="restore", outcome="restore_failed",
               detail=f"restoring the {which} cap failed: {err}; last read back: {now}")  # fmt: skip
        return None, (
            f"Restoring the {which} cap failed ({err}). The key's caps as last read back: {now}. "
            "Set them with patch_key, or check with get_key."
        )
    left = looser_caps(final, caps)
    now = _caps_now(final)
    if left:
        record(rt, tool=ACTION, key_id=key_id, args=args, method="restore", outcome="restore_failed",
               detail=f"restoring the {which} cap did not hold; read back: {now}")  # fmt: skip
        return final, (
            f"A corrective update to restore the {which} cap did not hold: the key's caps are now {now}. "
            "Its spending is not bounded as approved; fix it in the Venice dashboard or revoke the key."
        )
    record(rt, tool=ACTION, key_id=key_id, args=args, method="restore", outcome="restored",
           detail=f"restored the {which} cap; read back: {now}")  # fmt: skip
    return final, f"The {which} cap was restored by a corrective update; reading back shows {now}."


async def _reconcile(
    rt: Runtime,
    key_id: str,
    args: dict[str, Any],
    new: dict[str, Any],
    caps: dict[str, float | None],
    changes: list[str],
    method: str,
    exc: VeniceError,
) -> CallToolResult:
    """The update was sent but its answer was lost: read the key back and compare; never resend.

    Not in place on the first look gets a second look after a short pause, for an
    update Venice was still finishing when the answer was given up on. In place, it is
    checked like any other change (both caps included).
    """
    why = lost_answer(exc)
    try:
        for attempt in range(2):
            if attempt:
                await look_again(rt)
            key = await rt.client.get_key(key_id)
            missing = not_in_place(key, new)
            if not missing:
                break
    except VeniceError as err:
        record(rt, tool=ACTION, key_id=key_id, args=args, method=method, outcome="outcome_unknown",
               detail=f"{why}; reading back failed: {err}")  # fmt: skip
        out = PatchResult(
            status="outcome_unknown",
            key_id=key_id,
            changes=changes,
            message=f"Unknown whether the change was made ({why}), and reading back failed ({err}). "
            "Check with get_key before trying again.",
        )
        return result(out, out.message)
    if not missing:
        return await _checked(rt, key_id, key, args, new, caps, changes, method, note=why)
    record(rt, tool=ACTION, key_id=key_id, args=args, method=method, outcome="no_change",
           detail=f"{why}; not in place on two looks: {', '.join(missing)}")  # fmt: skip
    return _answer(
        "no_change",
        key_id,
        key,
        changes,
        f"Not changed: reading back shows the change is not in place ({', '.join(missing)} "
        f"as before; outcome unknown at first: {why}). Call patch_key again to retry.",
    )


def _answer(
    status: str, key_id: str, k: ApiKey, changes: list[str], message: str, found: list[str] | None = None
) -> CallToolResult:
    line = key_line(k)
    out = PatchResult(
        status=status,  # type: ignore[arg-type]
        key_id=key_id,
        changes=changes,
        key=line,
        differences=found or None,
        message=message,
    )
    return result(out, out.message + "\n" + render_line(line))


def _now(k: ApiKey, field: str) -> Any:
    return {
        "description": k.description,
        "usd_limit": k.consumption_limits.usd,
        "diem_limit": k.consumption_limits.diem,
        "limit_period": k.limit_period,
        "model_privacy": k.model_privacy,
        "expires_at": k.expires_at,
    }[field]


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
