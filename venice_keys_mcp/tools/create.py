"""`create_key`: a new key whose secret goes to a 0600 file, never lost, never shown unasked."""

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, Elicit, ElicitationResult, Resolve
from mcp_types import CallToolResult

from venice_keys_mcp.runtime import Runtime
from venice_keys_mcp.safety.confirm import (
    ApproveForm,
    Channel,
    Confirmer,
    Decision,
    Gate,
    RevealForm,
    client_shows_apps,
)
from venice_keys_mcp.safety.fencing import fence
from venice_keys_mcp.safety.policy import PolicyRefusal, check_create
from venice_keys_mcp.tools.approval import WITH_CARD, Actions
from venice_keys_mcp.tools.common import WRITE, checked_expiry, venice_errors
from venice_keys_mcp.tools.creation import CreationWindow, make_key
from venice_keys_mcp.tools.delivery import Reveal, new_key_fields
from venice_keys_mcp.tools.outcomes import CreateResult, Preview, not_done
from venice_keys_mcp.tools.params import ApprovalId, Description, Expiry, Limit, Period, Privacy, Token
from venice_keys_mcp.tools.params import Reveal as RevealArg
from venice_keys_mcp.tools.registration import Toolbox
from venice_keys_mcp.tools.views import now_utc
from venice_keys_mcp.venice import CreateKeyRequest

ACTION = "create_key"


def create_changes(args: dict[str, Any]) -> list[str]:
    caps = [
        f"{u} cap {args[k]:.12g}"
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
    tools: Toolbox,
    rt: Runtime,
    confirmer: Confirmer,
    actions: Actions,
    window: CreationWindow | None = None,
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
            limit_period=args.get("limit_period"),
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
        approval_id: str | None,
        confirmation_token: str | None,
        ctx: Context[Any, Any],
    ) -> Gate | Elicit[Any]:
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
        if key_type != "ADMIN" and not reveal_secret:
            return Gate(decision="proceed", method="not_needed")
        return confirmer.gate(
            ctx,
            action=ACTION,
            args=args,
            approval_id=approval_id,
            token=confirmation_token,
            message=creation_message("Create", args, create_changes(args)),
            form=ApproveForm if key_type == "ADMIN" else RevealForm,
        )

    @tools.add(title="Create key", annotations=WRITE, meta=WITH_CARD)
    @venice_errors
    async def create_key(
        description: Description,
        confirmation: Annotated[ElicitationResult[Any], Resolve(gate)],
        ctx: Context[Any, Any],
        key_type: Literal["INFERENCE", "ADMIN"] = "INFERENCE",
        usd_limit: Limit = None,
        diem_limit: Limit = None,
        limit_period: Period | None = None,
        model_privacy: Privacy | None = None,
        expires_at: Expiry = None,
        reveal_secret: RevealArg = False,
        approval_id: ApprovalId = None,
        confirmation_token: Token = None,
    ) -> Annotated[CallToolResult, CreateResult]:
        """Create a key; its secret goes to a 0600 file. ADMIN keys, reveal_secret: the person's yes."""
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
        decision = confirmer.settle(
            confirmation,
            action=ACTION,
            args=args,
            approval_id=approval_id,
            token=confirmation_token,
            reveal_only=key_type != "ADMIN",
        )
        if not decision.go:
            return not_done(
                rt,
                decision,
                tool=ACTION,
                key_id=None,
                args=args,
                preview=Preview(action="create", changes=create_changes(args)),
                make=CreateResult,
                verb="created",
                confirmer=confirmer,
            )
        return await _create(rt, window, args, decision.method, reveal_plan(confirmer, ctx, args, decision))

    async def approved(call: dict[str, Any], method: str) -> CallToolResult:
        """What the card runs once the person approved: the same create; the card offers the secret."""
        args = {k: call.get(k) for k in CREATE_ARGS}
        return await _create(rt, window, args, method, Reveal(offer="app", confirmer=confirmer))

    actions.add(ACTION, approved)


CREATE_ARGS = (
    "description",
    "key_type",
    "usd_limit",
    "diem_limit",
    "limit_period",
    "model_privacy",
    "expires_at",
    "reveal_secret",
)


async def _create(
    rt: Runtime, window: CreationWindow, args: dict[str, Any], method: str, reveal: Reveal
) -> CallToolResult:
    request = CreateKeyRequest(
        api_key_type=args["key_type"],
        description=args["description"],
        **new_key_fields(
            args.get("usd_limit"),
            args.get("diem_limit"),
            args.get("expires_at"),
            args.get("limit_period"),
            args.get("model_privacy"),
        ),
    )
    return await make_key(
        rt,
        window,
        tool=ACTION,
        args=args,
        method=method,
        send=lambda: rt.client.create_key(request),
        reveal=reveal,
    )


def creation_message(verb: str, args: dict[str, Any], changes: list[str]) -> str:
    """The form's text for a new key: an ADMIN key's approval, or the question of showing its secret."""
    if args["key_type"] == "ADMIN":
        text = f"{verb} an ADMIN key (full control of this account's keys)?\n" + "\n".join(changes)
        if args.get("reveal_secret"):
            text += "\nIts secret will also be shown in this chat: the assistant (the model) will read it."
        return text
    return (
        "Show the new key's secret in this chat? The assistant (the model) will read it. If you say no, "
        "the key is still created and its secret is saved to a private file only.\n" + "\n".join(changes)
    )


def reveal_plan(
    confirmer: Confirmer, ctx: Context[Any, Any], args: dict[str, Any], decision: Decision
) -> Reveal:
    """Whether the new secret may reach the model, and else how the person can see it."""
    asked = bool(args.get("reveal_secret"))
    if asked and decision.reveal:
        return Reveal(show=True)
    offer: Channel | None = None
    if client_shows_apps(ctx):
        offer = "app"
    elif asked and confirmer.mode == "auto":
        offer = "terminal"
    why_not = ""
    if asked:
        why_not = decision.reason or "no person approved showing it to the model"
    return Reveal(offer=offer, why_not=why_not, confirmer=confirmer)
