"""Auth rows of the behaviour sheet: 402 without a key, 401 for bad or non-ADMIN keys."""

from __future__ import annotations

import secrets
from datetime import timedelta

import httpx2
import pytest

from venice_keys_mcp.sandbox import SandboxState

from .conftest import ClientFactory

pytestmark = pytest.mark.anyio

ADMIN_ROUTES = [
    ("GET", "/api_keys"),
    ("GET", "/api_keys/some-id"),
    ("POST", "/api_keys"),
    ("PATCH", "/api_keys"),
    ("DELETE", "/api_keys?id=some-id"),
    ("GET", "/api_keys/rate_limits/log"),
]


@pytest.mark.parametrize(("method", "path"), [*ADMIN_ROUTES, ("GET", "/api_keys/rate_limits")])
async def test_missing_authorization_is_402_payment_required(
    anon: httpx2.AsyncClient, method: str, path: str
) -> None:
    response = await anon.request(method, path)
    assert response.status_code == 402
    assert "payment" in response.json()["error"].lower()


async def test_unknown_key_is_401_authentication_failed(make_client: ClientFactory) -> None:
    client = make_client("VENICE_ADMIN_KEY_" + secrets.token_urlsafe(32))
    response = await client.get("/api_keys")
    assert (response.status_code, response.json()["error"]) == (401, "Authentication failed")


@pytest.mark.parametrize("header", ["Basic abc", "Bearer", "Bearer    ", "token"])
async def test_malformed_authorization_header_is_401(make_client: ClientFactory, header: str) -> None:
    response = await make_client().get("/api_keys", headers={"Authorization": header})
    assert response.status_code == 401


async def test_revoked_key_is_401(admin: httpx2.AsyncClient, make_client: ClientFactory) -> None:
    created = (
        await admin.post("/api_keys", json={"apiKeyType": "ADMIN", "description": "short-lived"})
    ).json()
    fresh = make_client(created["data"]["apiKey"])
    assert (await fresh.get("/api_keys")).status_code == 200
    assert (await admin.delete("/api_keys", params={"id": created["data"]["id"]})).status_code == 200
    assert (await fresh.get("/api_keys")).status_code == 401


async def test_expired_key_is_401(state: SandboxState, make_client: ClientFactory) -> None:
    secret, _ = state.create_key(
        state.demo.account_id,
        api_key_type="ADMIN",
        description="expires in an hour",
        expires_at=state.now() + timedelta(hours=1),
    )
    client = make_client(secret)
    assert (await client.get("/api_keys")).status_code == 200
    state.advance(3601)
    response = await client.get("/api_keys")
    assert (response.status_code, response.json()["error"]) == (401, "Authentication failed")


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
async def test_inference_key_on_admin_route_is_401_admin_required(
    inference: httpx2.AsyncClient, method: str, path: str
) -> None:
    response = await inference.request(method, path)
    assert (response.status_code, response.json()["error"]) == (401, "Admin API key required")


async def test_rate_limits_accepts_an_inference_key(inference: httpx2.AsyncClient) -> None:
    assert (await inference.get("/api_keys/rate_limits")).status_code == 200


async def test_web3_token_route_needs_no_key(anon: httpx2.AsyncClient) -> None:
    assert (await anon.get("/api_keys/generate_web3_key")).status_code == 200


async def test_web3_mint_route_needs_no_key(anon: httpx2.AsyncClient) -> None:
    response = await anon.post("/api_keys/generate_web3_key", json={})
    assert response.status_code == 400  # a validation error, not 401/402


async def test_using_a_key_updates_last_used_at(state: SandboxState, inference: httpx2.AsyncClient) -> None:
    key = state.keys[state.demo.inference_key_id]
    before = key.last_used_at
    state.advance(120)
    await inference.get("/api_keys/rate_limits")
    assert key.last_used_at is not None and before is not None
    assert key.last_used_at - before >= timedelta(seconds=120)


async def test_last_used_at_shows_in_the_listing(state: SandboxState, admin: httpx2.AsyncClient) -> None:
    listed = {k["id"]: k for k in (await admin.get("/api_keys")).json()["data"]}
    never_used = [k for k in listed.values() if k["lastUsedAt"] is None]
    assert never_used, "the seed has a never-used key"
    own = listed[state.demo.admin_key_id]["lastUsedAt"]
    assert own is not None and own.endswith("Z")
