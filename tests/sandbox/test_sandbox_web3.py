"""Web3 minting: real JWTs and real EIP-191 signatures, every documented 400, the echo quirk."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sys
from typing import Any

import httpx2
import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from venice_keys_mcp.sandbox import SandboxState

pytestmark = pytest.mark.anyio
MINT = "/api_keys/generate_web3_key"


def sign(token: str, private_key: str) -> str:
    return "0x" + Account.sign_message(
        encode_defunct(text=token), private_key=private_key
    ).signature.hex().removeprefix("0x")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def decode(part: str) -> dict[str, Any]:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))  # type: ignore[no-any-return]


def forge(state: SandboxState, claims: dict[str, Any], *, secret: bytes | None = None) -> str:
    """A token signed like the sandbox signs them (or with another secret)."""
    signing_input = (
        f"{b64(json.dumps({'alg': 'HS256', 'typ': 'JWT'}).encode())}.{b64(json.dumps(claims).encode())}"
    )
    mac = hmac.new(secret or state.jwt_secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


async def token(anon: httpx2.AsyncClient) -> str:
    response = await anon.get(MINT)
    assert response.json()["success"] is True
    return response.json()["data"]["token"]  # type: ignore[no-any-return]


async def mint(anon: httpx2.AsyncClient, state: SandboxState, **overrides: Any) -> httpx2.Response:
    tok = overrides.pop("token", None) or await token(anon)
    body = {
        "address": state.demo.wallet_address,
        "signature": sign(tok, state.demo.wallet_private_key),
        "token": tok,
        "apiKeyType": "INFERENCE",
        **overrides,
    }
    return await anon.post(MINT, json=body)


async def test_web3_token_is_an_hs256_jwt_valid_for_15_minutes(
    anon: httpx2.AsyncClient, state: SandboxState
) -> None:
    header, claims, _ = (await token(anon)).split(".")
    assert decode(header) == {"alg": "HS256", "typ": "JWT"}
    payload = decode(claims)
    assert payload["exp"] - payload["iat"] == 15 * 60
    assert abs(payload["iat"] - state.now().timestamp()) < 5
    assert payload["aud"] and payload["purpose"] == "generate_web3_key"


async def test_web3_mint_with_a_staked_wallet_creates_a_key_in_its_account(
    anon: httpx2.AsyncClient, admin: httpx2.AsyncClient, state: SandboxState
) -> None:
    response = await mint(anon, state)
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["apiKey"].startswith("VENICE_INFERENCE_KEY_")
    assert data["description"] == "Web3 API Key"
    assert state.keys[data["id"]].account_id == state.demo.account_id
    assert data["id"] in {k["id"] for k in (await admin.get("/api_keys")).json()["data"]}


async def test_web3_mint_accepts_the_optional_fields(anon: httpx2.AsyncClient, state: SandboxState) -> None:
    response = await mint(
        anon,
        state,
        apiKeyType="ADMIN",
        description="wallet admin",
        limitPeriod="LIFETIME",
        modelPrivacy="PRIVATE_ONLY",
    )
    data = response.json()["data"]
    assert (data["apiKeyType"], data["description"], data["limitPeriod"], data["modelPrivacy"]) == (
        "ADMIN",
        "wallet admin",
        "LIFETIME",
        "PRIVATE_ONLY",
    )
    assert data["apiKey"].startswith("VENICE_ADMIN_KEY_")


async def test_web3_echo_quirk_diem_from_vcu_and_usd_zero_as_null(
    anon: httpx2.AsyncClient, admin: httpx2.AsyncClient, state: SandboxState
) -> None:
    response = await mint(anon, state, consumptionLimit={"usd": 0, "diem": 5})
    echoed = response.json()["data"]["consumptionLimit"]
    assert echoed == {"usd": None, "diem": None, "vcu": None}
    stored = (await admin.get(f"/api_keys/{response.json()['data']['id']}")).json()["data"][
        "consumptionLimits"
    ]
    assert stored == {"usd": 0, "diem": 5, "vcu": None}

    response = await mint(anon, state, consumptionLimit={"usd": 3, "vcu": 7})
    assert response.json()["data"]["consumptionLimit"] == {"usd": 3, "diem": 7, "vcu": 7}
    stored = (await admin.get(f"/api_keys/{response.json()['data']['id']}")).json()["data"][
        "consumptionLimits"
    ]
    assert stored == {"usd": 3, "diem": None, "vcu": 7}


async def test_web3_unstaked_wallet_is_refused(anon: httpx2.AsyncClient, state: SandboxState) -> None:
    tok = await token(anon)
    response = await mint(
        anon,
        state,
        token=tok,
        address=state.demo.unstaked_wallet_address,
        signature=sign(tok, state.demo.unstaked_wallet_private_key),
    )
    assert response.status_code == 400
    assert response.json()["error"].startswith("Wallet has no staked VVV on Base")


async def test_web3_unknown_wallet_has_no_stake(anon: httpx2.AsyncClient, state: SandboxState) -> None:
    stranger = Account.create()
    tok = await token(anon)
    response = await mint(
        anon, state, token=tok, address=stranger.address, signature=sign(tok, stranger.key.hex())
    )
    assert response.json()["error"].startswith("Wallet has no staked VVV on Base")


async def test_web3_token_expires_after_15_minutes(anon: httpx2.AsyncClient, state: SandboxState) -> None:
    tok = await token(anon)
    state.advance(14 * 60)
    assert (await mint(anon, state, token=tok)).status_code == 200
    tok = await token(anon)
    state.advance(15 * 60)
    response = await mint(anon, state, token=tok)
    assert (response.status_code, response.json()["error"].split(".")[0]) == (400, "JWT has expired")


async def test_web3_token_with_a_wrong_signature_is_invalid(
    anon: httpx2.AsyncClient, state: SandboxState
) -> None:
    claims = decode((await token(anon)).split(".")[1])
    response = await mint(anon, state, token=forge(state, claims, secret=b"not the sandbox secret"))
    assert response.json()["error"].startswith("JWT signature is invalid")


async def test_web3_tampered_claims_break_the_signature(
    anon: httpx2.AsyncClient, state: SandboxState
) -> None:
    header, claims, mac = (await token(anon)).split(".")
    longer = {**decode(claims), "exp": decode(claims)["exp"] + 3600}
    response = await mint(anon, state, token=f"{header}.{b64(json.dumps(longer).encode())}.{mac}")
    assert response.json()["error"].startswith("JWT signature is invalid")


@pytest.mark.parametrize(
    "change", [{"aud": "someone-else"}, {"purpose": "login"}, {"iat": None}, {"exp": "soon"}, {"iat": 2**40}]
)
async def test_web3_token_with_wrong_claims_is_invalid(
    anon: httpx2.AsyncClient, state: SandboxState, change: dict[str, Any]
) -> None:
    claims = {**decode((await token(anon)).split(".")[1]), **change}
    response = await mint(anon, state, token=forge(state, {k: v for k, v in claims.items() if v is not None}))
    assert response.json()["error"].startswith("JWT claims are invalid")


@pytest.mark.parametrize(
    "bad", ["abc", "a.b", "a.b.c.d", "!!!.???.***", f"{b64(b'[1]')}.{b64(b'{}')}.{b64(b'x')}"]
)
async def test_web3_malformed_token(anon: httpx2.AsyncClient, state: SandboxState, bad: str) -> None:
    response = await mint(anon, state, token=bad)
    assert (response.status_code, response.json()["error"].split(".")[0]) == (400, "JWT is malformed")


@pytest.mark.parametrize(
    "address",
    ["0x123", "f39Fd6e51aad88F6F4ce6aB8827279cffFb92266", "0xZZ9Fd6e51aad88F6F4ce6aB8827279cffFb92266"],
)
async def test_web3_invalid_wallet_address(
    anon: httpx2.AsyncClient, state: SandboxState, address: str
) -> None:
    response = await mint(anon, state, address=address)
    assert response.json()["error"].startswith("Invalid wallet address")


async def test_web3_bad_checksum_is_an_invalid_address(anon: httpx2.AsyncClient, state: SandboxState) -> None:
    address = state.demo.wallet_address
    broken = address[:2] + address[2:3].swapcase() + address[3:]
    response = await mint(anon, state, address=broken)
    assert response.json()["error"].startswith("Invalid wallet address")


async def test_web3_lowercase_address_is_accepted(anon: httpx2.AsyncClient, state: SandboxState) -> None:
    assert (await mint(anon, state, address=state.demo.wallet_address.lower())).status_code == 200


async def test_web3_signature_from_another_wallet_does_not_match(
    anon: httpx2.AsyncClient, state: SandboxState
) -> None:
    tok = await token(anon)
    response = await mint(anon, state, token=tok, signature=sign(tok, state.demo.unstaked_wallet_private_key))
    assert response.json()["error"].startswith("Wallet signature does not match")


async def test_web3_signature_over_another_token_does_not_match(
    anon: httpx2.AsyncClient, state: SandboxState
) -> None:
    tok, other = await token(anon), await token(anon)
    response = await mint(anon, state, token=tok, signature=sign(other, state.demo.wallet_private_key))
    assert response.json()["error"].startswith("Wallet signature does not match")


@pytest.mark.parametrize("signature", ["0xnothex", "0x1234", ""])
async def test_web3_unparseable_signature_cannot_be_verified(
    anon: httpx2.AsyncClient, state: SandboxState, signature: str
) -> None:
    response = await mint(anon, state, signature=signature)
    assert (response.status_code, response.json()["error"].split(".")[0]) == (
        400,
        "Could not verify wallet signature",
    )


async def test_web3_verification_outage_is_transient(anon: httpx2.AsyncClient, state: SandboxState) -> None:
    state.faults.wallet_verification_down = True
    response = await mint(anon, state)
    assert response.json()["error"].startswith("Could not verify wallet signature")
    state.faults.wallet_verification_down = False
    assert (await mint(anon, state)).status_code == 200


async def test_web3_without_eth_account_answers_could_not_verify(
    anon: httpx2.AsyncClient, state: SandboxState, monkeypatch: pytest.MonkeyPatch
) -> None:
    tok = await token(anon)
    signature = sign(tok, state.demo.wallet_private_key)
    monkeypatch.setitem(sys.modules, "eth_account", None)
    response = await mint(anon, state, token=tok, signature=signature)
    assert (response.status_code, response.json()["error"].split(".")[0]) == (
        400,
        "Could not verify wallet signature",
    )


async def test_web3_body_is_strict(anon: httpx2.AsyncClient, state: SandboxState) -> None:
    response = await mint(anon, state, chainId=8453)
    assert response.status_code == 400
    assert "chainId" in response.json()["details"]
    missing = await anon.post(MINT, json={"apiKeyType": "INFERENCE"})
    assert {"address", "signature", "token"} <= set(missing.json()["details"])


async def test_web3_minting_counts_toward_the_500_key_limit(
    anon: httpx2.AsyncClient, state: SandboxState
) -> None:
    state.max_active_keys = len(state.active_keys(state.demo.account_id))
    response = await mint(anon, state)
    assert response.status_code == 400 and "maximum" in response.json()["error"]
