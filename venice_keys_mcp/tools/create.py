"""`create_key`: a new key whose secret goes to a 0600 file, never lost, never shown unasked."""

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, Elicit, ElicitationResult, Resolve
from mcp_types import CallToolResult

from venice_keys_mcp.runtime import Runtime
from venice_keys_mcp.safety.confirm import ApproveForm, Confirmer, Gate
from venice_keys_mcp.safety.fencing import fence
from venice_keys_mcp.safety.policy import PolicyRefusal, check_create
from venice_keys_mcp.tools.common import WRITE, checked_expiry, venice_errors
from venice_keys_mcp.tools.creation import CreationWindow, make_key
from venice_keys_mcp.tools.delivery import new_key_fields
from venice_keys_mcp.tools.outcomes import CreateResult, Preview, not_done
from venice_keys_mcp.tools.params import Description, Expiry, Limit, Period, Privacy, Reveal, Token
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
    tools: Toolbox, rt: Runtime, confirmer: Confirmer, window: CreationWindow | None = None
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

    @tools.add(title="Create key", annotations=WRITE)
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

        request = CreateKeyRequest(
            api_key_type=key_type,
            description=description,
            **new_key_fields(usd_limit, diem_limit, expires_at, limit_period, model_privacy),
        )
        return await make_key(
            rt,
            window,
            tool=ACTION,
            args=args,
            method=decision.method,
            send=lambda: rt.client.create_key(request),
            reveal=reveal_secret,
        )
