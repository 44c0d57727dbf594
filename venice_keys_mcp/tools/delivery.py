"""Where a new key's secret goes: a 0600 file, to the model only on a person's yes, never nowhere.

Shared by `create_key` and `mint_web3_key`. If the secret cannot be delivered and was
not revealed, the new key is revoked at once, so no key is left that nobody can use.

A secret reaches the model only when a person approved it (`Reveal.show`). Otherwise it
can still reach the person: on an Apps host the result offers the approval card's "show
secret once" (a reveal approval whose nonce travels in `_meta`), and on any local host
`venice-keys-mcp approve` prints it on the person's terminal.
"""

from dataclasses import dataclass
from typing import Any

from mcp_types import CallToolResult

from venice_keys_mcp.runtime import Runtime
from venice_keys_mcp.safety.confirm import APPROVE_COMMAND, Channel, Confirmer
from venice_keys_mcp.safety.result_scrub import allow_in_result
from venice_keys_mcp.safety.secrets import SecretDeliveryError, deliver_secret
from venice_keys_mcp.tools.common import result
from venice_keys_mcp.tools.outcomes import CreateResult, record
from venice_keys_mcp.venice import CreatedKey, VeniceError
from venice_keys_mcp.venice.models import LimitsInput


@dataclass(frozen=True)
class Reveal:
    """What may happen to a new secret besides its file.

    `show`: a person approved that the model sees it. `offer`: the channel through which the
    person can see it instead (the card, or the terminal). `why_not`: why it was asked for and
    not shown, for the result.
    """

    show: bool = False
    offer: Channel | None = None
    why_not: str = ""
    confirmer: Confirmer | None = None


NOTHING = Reveal()


def limits_input(usd: float | None, diem: float | None) -> LimitsInput:
    return LimitsInput(**{k: v for k, v in (("usd", usd), ("diem", diem)) if v is not None})


def new_key_fields(
    usd_limit: float | None,
    diem_limit: float | None,
    expires_at: str | None,
    limit_period: str | None = None,
    model_privacy: str | None = None,
) -> dict[str, Any]:
    """The optional settings of a key being created or minted, as request fields: only those given."""
    fields: dict[str, Any] = {}
    if expires_at is not None:
        fields["expires_at"] = expires_at
    if usd_limit is not None or diem_limit is not None:
        fields["consumption_limit"] = limits_input(usd_limit, diem_limit)
    if limit_period:
        fields["limit_period"] = limit_period
    if model_privacy:
        fields["model_privacy"] = model_privacy
    return fields


async def deliver(
    rt: Runtime, tool: str, created: CreatedKey, args: dict[str, Any], method: str, reveal: Reveal
) -> CallToolResult:
    """Put the new secret where a person can get it; if nowhere, revoke the key (nothing orphaned)."""
    rt.scrubber.add(created.secret)
    path = None
    try:
        path = deliver_secret(
            rt.secrets_dir,
            created.id,
            created.secret,
            meta={"type": created.api_key_type, "description": created.description},
        )
    except SecretDeliveryError as exc:
        if not reveal.show:
            return await revoke_undeliverable(rt, tool, created, args, method, str(exc))
        failure = str(exc)
    else:
        failure = ""
    message = f"Created {created.api_key_type} key …{created.last6}" + (
        f"; secret saved to {path} (mode 0600)" if path else f"; saving the secret failed ({failure})"
    )
    if reveal.show:
        message += "; the secret is in this result: it will not be shown again."
    elif reveal.why_not:
        message += f". The secret was not shown here: {reveal.why_not}."
    else:
        message += "."
    meta = None
    if not reveal.show and reveal.offer and reveal.confirmer and path:
        pending = reveal.confirmer.request(
            action=tool,
            args={"key_id": created.id},
            call={"key_id": created.id},
            summary=[f"Show the secret of the new {created.api_key_type} key …{created.last6} to you, once"],
            channel=reveal.offer,
            kind="reveal",
            secret_file=str(path),
        )
        meta = pending.meta()
        if reveal.offer == "app":
            message += " The person can see it once in the approval card (Show secret)."
        else:
            message += (
                f" The person can see it on their terminal with `{APPROVE_COMMAND}` "
                f"(approval {pending.approval.id})."
            )
    out = CreateResult(
        status="created",
        id=created.id,
        last6=created.last6,
        key_type=created.api_key_type,
        secret_file=str(path) if path else None,
        message=message,
    )
    if reveal.show:
        allow_in_result(created.secret)
        out.secret = created.secret
    record(
        rt,
        tool=tool,
        key_id=created.id,
        args=args,
        method=method,
        outcome="created",
        detail=(f"secret_file={path}" if path else "secret revealed inline only")
        + ("; secret shown to the model" if reveal.show else ""),
    )
    res = result(out, out.message + (f"\nsecret: {created.secret}" if reveal.show else ""))
    res.meta = meta
    return res


async def revoke_undeliverable(
    rt: Runtime, tool: str, created: CreatedKey, args: dict[str, Any], method: str, why: str
) -> CallToolResult:
    try:
        await rt.client.delete_key(created.id)
    except VeniceError as exc:
        record(
            rt,
            tool=tool,
            key_id=created.id,
            args=args,
            method=method,
            outcome="created_secret_lost",
            detail=f"delivery failed: {why}; revoke failed: {exc}",
        )
        out = CreateResult(
            status="created_secret_lost",
            id=created.id,
            last6=created.last6,
            key_type=created.api_key_type,
            message=f"Key …{created.last6} was created but its secret could not be saved ({why}) "
            f"and revoking it failed ({exc}); revoke it with revoke_key.",
        )
        return result(out, out.message)
    record(
        rt,
        tool=tool,
        key_id=created.id,
        args=args,
        method=method,
        outcome="revoked_after_delivery_failure",
        detail=why,
    )
    out = CreateResult(
        status="revoked_after_delivery_failure",
        id=created.id,
        last6=created.last6,
        key_type=created.api_key_type,
        message=f"The secret could not be saved ({why}), so the new key was revoked and nothing "
        "is left behind. Fix VENICE_KEYS_SECRETS_DIR or use reveal_secret=true.",
    )
    return result(out, out.message)
