"""Minting a key with a wallet: get a token, the wallet signs it, mint.

The server never holds a wallet key: the person signs the token in their own wallet
(EIP-191 `personal_sign` of the exact token string) and passes the signature back.
"""

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import MCPServer
from mcp_types import CallToolResult
from pydantic import BaseModel, Field

from venice_keys_mcp.runtime import Runtime
from venice_keys_mcp.safety.policy import PolicyRefusal, check_create
from venice_keys_mcp.tools.common import READ_ONLY, WRITE, checked_expiry, result, venice_errors
from venice_keys_mcp.tools.delivery import deliver, limits_input
from venice_keys_mcp.tools.outcomes import CreateResult, record
from venice_keys_mcp.tools.params import Description, Expiry, Limit
from venice_keys_mcp.tools.views import now_utc
from venice_keys_mcp.venice import Web3MintRequest

ACTION = "mint_web3_key"
TOKEN_LIFETIME = timedelta(minutes=15)


class Web3Token(BaseModel):
    token: str
    expires_at: datetime
    instructions: str


def register_read(server: MCPServer, rt: Runtime) -> None:
    @server.tool(title="Wallet token", annotations=READ_ONLY.model_copy(update={"idempotent_hint": False}))
    @venice_errors
    async def get_web3_token() -> Annotated[CallToolResult, Web3Token]:
        """Get a 15-minute token for a wallet with staked VVV to sign (personal_sign), for mint_web3_key."""
        token = await rt.client.get_web3_token()
        out = Web3Token(
            token=token,
            expires_at=datetime.now(UTC) + TOKEN_LIFETIME,
            instructions="Have the user sign this exact token with their wallet (EIP-191 personal_sign), "
            "then call mint_web3_key with the wallet address, signature and this token within 15 minutes.",
        )
        return result(out, f"{out.instructions}\ntoken: {token}")


def register_write(server: MCPServer, rt: Runtime) -> None:
    @server.tool(title="Mint key with wallet", annotations=WRITE)
    @venice_errors
    async def mint_web3_key(
        address: Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{40}$")],
        signature: Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{130}$")],
        token: Annotated[str, Field(max_length=4096)],
        key_type: Literal["INFERENCE", "ADMIN"] = "INFERENCE",
        description: Description | None = None,
        usd_limit: Limit = None,
        diem_limit: Limit = None,
        expires_at: Expiry = None,
        reveal_secret: bool = False,
    ) -> Annotated[CallToolResult, CreateResult]:
        """Mint a key with a wallet's signature of a get_web3_token token; secret saved as in create_key."""
        args: dict[str, Any] = dict(
            address=address,
            key_type=key_type,
            description=description,
            usd_limit=usd_limit,
            diem_limit=diem_limit,
            expires_at=expires_at,
            reveal_secret=reveal_secret,
        )
        try:
            check_create(
                rt.policy,
                key_type=key_type,
                usd=usd_limit,
                diem=diem_limit,
                expires_at=checked_expiry(expires_at),
                now=now_utc(),
            )
        except PolicyRefusal as exc:  # every refusal leaves a trace, as create_key's do
            record(
                rt, tool=ACTION, key_id=None, args=args, method="policy", outcome="refused", detail=str(exc)
            )
            raise
        fields: dict[str, Any] = {
            "address": address,
            "signature": signature,
            "token": token,
            "api_key_type": key_type,
        }
        if description is not None:
            fields["description"] = description
        if usd_limit is not None or diem_limit is not None:
            fields["consumption_limit"] = limits_input(usd_limit, diem_limit)
        if expires_at is not None:
            fields["expires_at"] = expires_at
        created = await rt.client.mint_web3_key(Web3MintRequest(**fields))
        return await deliver(rt, ACTION, created, args, "not_needed", reveal_secret)
