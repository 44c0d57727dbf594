"""Web3 minting: a 15-minute HS256 token, an EIP-191 signature, a staked-VVV check.

The token is a real JWT signed with a per-state secret (hmac + base64, no JWT library),
and the wallet signature is really recovered with eth-account, so clients are tested
against the same cryptography as production. Each failure has its own 400 message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import uuid
from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from venice_keys_mcp.sandbox import validation as v
from venice_keys_mcp.sandbox.routes_keys import admit_creation, create_for_account, render_created
from venice_keys_mcp.sandbox.state import SandboxState
from venice_keys_mcp.sandbox.wire import API, ApiError, read_json, route, sandbox_state

TOKEN_LIFETIME = timedelta(minutes=15)
AUDIENCE = "venice-api:generate_web3_key"
ISSUER = "sandbox.venice.ai"
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")

INVALID_ADDRESS = "Invalid wallet address: expected a 0x-prefixed, 40-hex-digit EVM address."
TOKEN_EXPIRED = "JWT has expired. Request a new token from GET /api_keys/generate_web3_key and sign it again."
TOKEN_BAD_SIGNATURE = (
    "JWT signature is invalid. Use the token exactly as GET /api_keys/generate_web3_key returned it."
)
TOKEN_BAD_CLAIMS = "JWT claims are invalid. Use a token from GET /api_keys/generate_web3_key."
TOKEN_MALFORMED = "JWT is malformed. Use the token exactly as GET /api_keys/generate_web3_key returned it."
SIGNATURE_MISMATCH = "Wallet signature does not match the address: sign the exact token with that wallet."
CANNOT_VERIFY = "Could not verify wallet signature. This is usually temporary: try again in a moment."
NOT_STAKED = "Wallet has no staked VVV on Base: stake VVV with this wallet, then try again."


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: bytes, signing_input: str) -> str:
    return _b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())


def issue_token(state: SandboxState) -> str:
    now = int(state.now().timestamp())
    header = {"alg": "HS256", "typ": "JWT"}
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "purpose": "generate_web3_key",
        "jti": str(uuid.uuid4()),
        "iat": now,
        "exp": now + int(TOKEN_LIFETIME.total_seconds()),
    }
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{_sign(state.jwt_secret, signing_input)}"


def verify_token(state: SandboxState, token: str) -> dict[str, Any]:
    """The token's claims, or the 400 Venice gives for a malformed, forged, stale or odd token."""
    parts = token.split(".")
    if len(parts) != 3:
        raise ApiError(400, TOKEN_MALFORMED)
    try:
        header = json.loads(_unb64(parts[0]))
        claims = json.loads(_unb64(parts[1]))
        signature = _unb64(parts[2])
    except (ValueError, binascii.Error):
        raise ApiError(400, TOKEN_MALFORMED) from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise ApiError(400, TOKEN_MALFORMED)
    expected = _unb64(_sign(state.jwt_secret, f"{parts[0]}.{parts[1]}"))
    if header.get("alg") != "HS256" or not hmac.compare_digest(signature, expected):
        raise ApiError(400, TOKEN_BAD_SIGNATURE)
    iat, exp = claims.get("iat"), claims.get("exp")
    if not all(isinstance(c, int) and not isinstance(c, bool) for c in (iat, exp)):
        raise ApiError(400, TOKEN_BAD_CLAIMS)
    now = state.now().timestamp()
    if now >= exp:
        raise ApiError(400, TOKEN_EXPIRED)
    if claims.get("aud") != AUDIENCE or claims.get("purpose") != "generate_web3_key" or iat > now + 60:
        raise ApiError(400, TOKEN_BAD_CLAIMS)
    return claims


def _valid_address(address: str) -> bool:
    if not _ADDRESS.match(address):
        return False
    body = address[2:]
    if body in (body.lower(), body.upper()):
        return True
    try:  # mixed case must be a correct EIP-55 checksum
        from eth_utils import is_checksum_address
    except ImportError:
        return True
    return bool(is_checksum_address(address))


def recover_signer(state: SandboxState, token: str, signature: str) -> str:
    """The address that personal_sign-ed the token (EIP-191), or a transient 400."""
    if state.faults.wallet_verification_down:
        raise ApiError(400, CANNOT_VERIFY)
    try:
        from eth_account import Account
        from eth_account.messages import encode_defunct
    except ImportError:
        raise ApiError(400, CANNOT_VERIFY) from None
    try:
        return str(Account.recover_message(encode_defunct(text=token), signature=signature))
    except Exception:  # any unparseable signature: eth-account raises several types
        raise ApiError(400, CANNOT_VERIFY) from None


@route(f"{API}/generate_web3_key")
async def get_token(request: Request) -> JSONResponse:
    return JSONResponse({"success": True, "data": {"token": issue_token(sandbox_state(request))}})


@route(f"{API}/generate_web3_key", "POST")
async def mint_key(request: Request) -> JSONResponse:
    state = sandbox_state(request)
    body = v.check_body(await read_json(request), v.WEB3_MINT)
    address: str = body["address"]
    if not _valid_address(address):
        raise ApiError(400, INVALID_ADDRESS)
    verify_token(state, body["token"])
    if recover_signer(state, body["token"], body["signature"]).lower() != address.lower():
        raise ApiError(400, SIGNATURE_MISMATCH)
    wallet = state.wallet(address)
    if wallet is None or not wallet.staked:
        raise ApiError(400, NOT_STAKED)
    admit_creation(state, wallet.account_id, request)
    secret, key = create_for_account(state, state.accounts[wallet.account_id], body)
    # Venice's quirk on this path: the echoed diem comes from vcu and a usd of 0 reads as
    # null. The stored limits are right; GET /api_keys/{id} shows them.
    sent = body.get("consumptionLimit", {})
    echoed = {"usd": sent.get("usd") or None, "diem": sent.get("vcu"), "vcu": sent.get("vcu")}
    return JSONResponse({"success": True, "data": render_created(key, secret, echoed)})
