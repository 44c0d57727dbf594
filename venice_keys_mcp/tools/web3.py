"""Minting a key with a wallet: get a token, the wallet signs it, mint.

The server never holds a wallet key: the person signs the token in their own wallet
(EIP-191 `personal_sign` of the exact token string) and passes the signature back.
"""

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, Elicit, ElicitationResult, Resolve
from mcp_types import CallToolResult
from pydantic import Field

from venice_keys_mcp.runtime import Runtime
from venice_keys_mcp.safety.confirm import ApproveForm, Confirmer, Gate, RevealForm
from venice_keys_mcp.safety.policy import PolicyRefusal, check_create
from venice_keys_mcp.tools.approval import WITH_CARD, Actions
from venice_keys_mcp.tools.common import READ_ONLY, WRITE, checked_expiry, result, venice_errors
from venice_keys_mcp.tools.create import create_changes, creation_message, reveal_plan
from venice_keys_mcp.tools.creation import CreationWindow, make_key
from venice_keys_mcp.tools.delivery import Reveal as RevealPlan
from venice_keys_mcp.tools.delivery import new_key_fields
from venice_keys_mcp.tools.outcomes import CreateResult, Preview, not_done
from venice_keys_mcp.tools.params import ApprovalId, Description, Expiry, Limit, Reveal
from venice_keys_mcp.tools.registration import Toolbox
from venice_keys_mcp.tools.views import Output, now_utc
from venice_keys_mcp.venice import Web3MintRequest

ACTION = "mint_web3_key"
TOKEN_LIFETIME = timedelta(minutes=15)
DEFAULT_DESCRIPTION = "Web3 API Key"  # what Venice names a minted key given no description


class Web3Token(Output):
    token: str
    expires_at: datetime
    instructions: str


def register_read(tools: Toolbox, rt: Runtime) -> None:
    @tools.add(title="Wallet token", annotations=READ_ONLY.model_copy(update={"idempotent_hint": False}))
    @venice_errors
    async def get_web3_token() -> Annotated[CallToolResult, Web3Token]:
        """A 15-minute token for a wallet with staked VVV to sign (personal_sign) for mint_web3_key."""
        token = await rt.client.get_web3_token()
        out = Web3Token(
            token=token,
            expires_at=datetime.now(UTC) + TOKEN_LIFETIME,
            instructions="Have the user sign this exact token with their wallet (EIP-191 personal_sign), "
            "then call mint_web3_key with the wallet address, signature and this token within 15 minutes.",
        )
        return result(out, f"{out.instructions}\ntoken: {token}")


def register_write(
    tools: Toolbox, rt: Runtime, confirmer: Confirmer, actions: Actions, window: CreationWindow
) -> None:
    """`mint_web3_key`, held to create_key's rules: policy, ADMIN approval, the shared window, reconciling."""

    @venice_errors
    async def gate(
        address: str,
        key_type: str,
        description: str | None,
        usd_limit: float | None,
        diem_limit: float | None,
        expires_at: str | None,
        reveal_secret: bool,
        approval_id: str | None,
        confirmation_token: str | None,
        ctx: Context[Any, Any],
    ) -> Gate | Elicit[Any]:
        args = mint_args(address, key_type, description, usd_limit, diem_limit, expires_at, reveal_secret)
        try:
            check_create(
                rt.policy,
                key_type=key_type,
                usd=usd_limit,
                diem=diem_limit,
                expires_at=checked_expiry(expires_at),
                now=now_utc(),
            )
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
            message=creation_message(f"With wallet {address}, mint", args, mint_changes(args)),
            form=ApproveForm if key_type == "ADMIN" else RevealForm,
        )

    @tools.add(title="Mint key with wallet", annotations=WRITE, meta=WITH_CARD)
    @venice_errors
    async def mint_web3_key(
        address: Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{40}$")],
        signature: Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{130}$")],
        token: Annotated[str, Field(max_length=4096)],
        confirmation: Annotated[ElicitationResult[Any], Resolve(gate)],
        ctx: Context[Any, Any],
        key_type: Literal["INFERENCE", "ADMIN"] = "INFERENCE",
        description: Description | None = None,
        usd_limit: Limit = None,
        diem_limit: Limit = None,
        expires_at: Expiry = None,
        reveal_secret: Reveal = False,
        approval_id: ApprovalId = None,
        confirmation_token: str | None = None,  # undescribed: the server's instructions cover it
    ) -> Annotated[CallToolResult, CreateResult]:
        """Mint a key with a wallet-signed get_web3_token token; otherwise as create_key."""
        args = mint_args(address, key_type, description, usd_limit, diem_limit, expires_at, reveal_secret)
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
                preview=Preview(action="create", changes=mint_changes(args)),
                make=CreateResult,
                verb="created",
                confirmer=confirmer,
                # The proofs are what the approved mint runs with; they are not what is approved.
                call={**args, "signature": signature, "token": token},
            )
        return await _mint(
            rt, window, args, signature, token, decision.method, reveal_plan(confirmer, ctx, args, decision)
        )

    async def approved(call: dict[str, Any], method: str) -> CallToolResult:
        """What the approval card runs once the person approved: the same mint; the card offers the secret."""
        args = {k: call.get(k) for k in MINT_ARGS}
        reveal = RevealPlan(offer="app", confirmer=confirmer)
        return await _mint(rt, window, args, call["signature"], call["token"], method, reveal)

    actions.add(ACTION, approved)


MINT_ARGS = ("address", "key_type", "description", "usd_limit", "diem_limit", "expires_at", "reveal_secret")


async def _mint(
    rt: Runtime,
    window: CreationWindow,
    args: dict[str, Any],
    signature: str,
    token: str,
    method: str,
    reveal: RevealPlan,
) -> CallToolResult:
    description = args.get("description")
    request = Web3MintRequest(
        address=args["address"],
        signature=signature,
        token=token,
        api_key_type=args["key_type"],
        **({"description": description} if description is not None else {}),
        **new_key_fields(args.get("usd_limit"), args.get("diem_limit"), args.get("expires_at")),
    )
    return await make_key(  # one window with create_key: Venice counts mints and creates together
        rt,
        window,
        tool=ACTION,
        args=args,
        method=method,
        send=lambda: rt.client.mint_web3_key(request),
        reveal=reveal,
        listing_required=False,  # minting needs no ADMIN key; without one, a lost answer stays unknown
        match={**args, "description": description or DEFAULT_DESCRIPTION},
    )


def mint_args(
    address: str,
    key_type: str,
    description: str | None,
    usd_limit: float | None,
    diem_limit: float | None,
    expires_at: str | None,
    reveal_secret: bool,
) -> dict[str, Any]:
    """What a mint is audited and confirmed by; never the signature or token (proofs, not choices)."""
    return dict(
        address=address,
        key_type=key_type,
        description=description,
        usd_limit=usd_limit,
        diem_limit=diem_limit,
        expires_at=expires_at,
        reveal_secret=reveal_secret,
    )


def mint_changes(args: dict[str, Any]) -> list[str]:
    return create_changes({**args, "description": args["description"] or DEFAULT_DESCRIPTION})
