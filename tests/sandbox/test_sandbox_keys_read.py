"""Listing and reading keys: masked, newest first, active only, usage as the sheet says."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx2
import pytest

from venice_keys_mcp.sandbox import SandboxState, seeded_state

from .conftest import ClientFactory, contract_client

pytestmark = pytest.mark.anyio
LISTED_FIELDS = {
    "apiKeyType",
    "consumptionLimits",
    "limitPeriod",
    "modelPrivacy",
    "createdAt",
    "description",
    "expiresAt",
    "id",
    "last6Chars",
    "lastUsedAt",
    "usage",
}
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


async def test_list_is_a_list_envelope_of_masked_keys(state: SandboxState, admin: httpx2.AsyncClient) -> None:
    response = await admin.get("/api_keys")
    body = response.json()
    assert body["object"] == "list"
    assert "VENICE_" not in response.text, "a secret leaked into the listing"
    assert state.demo.admin_key[-6:] in {k["last6Chars"] for k in body["data"]}
    for key in body["data"]:
        assert set(key) - {"currentPeriodUsage"} == LISTED_FIELDS
        assert len(key["last6Chars"]) == 6


async def test_list_is_newest_first(admin: httpx2.AsyncClient) -> None:
    await admin.post("/api_keys", json={"apiKeyType": "INFERENCE", "description": "brand new"})
    data = (await admin.get("/api_keys")).json()["data"]
    created = [k["createdAt"] for k in data]
    assert created == sorted(created, reverse=True)
    assert data[0]["description"] == "brand new"


async def test_timestamps_are_iso_utc_with_milliseconds(admin: httpx2.AsyncClient) -> None:
    for key in (await admin.get("/api_keys")).json()["data"]:
        for name in ("createdAt", "expiresAt", "lastUsedAt"):
            assert key[name] is None or TIMESTAMP.match(key[name]), key[name]


async def test_usage_strings_have_four_decimals(admin: httpx2.AsyncClient) -> None:
    for key in (await admin.get("/api_keys")).json()["data"]:
        usage = key["usage"]["trailingSevenDays"]
        assert set(usage) == {"usd", "vcu", "diem"}
        assert all(re.fullmatch(r"\d+\.\d{4}", value) for value in usage.values()), usage


async def test_consumption_limits_always_carry_usd_diem_and_vcu(admin: httpx2.AsyncClient) -> None:
    data = (await admin.get("/api_keys")).json()["data"]
    assert all(set(k["consumptionLimits"]) == {"usd", "diem", "vcu"} for k in data)
    assert any(k["consumptionLimits"] == {"usd": None, "diem": None, "vcu": None} for k in data)


async def test_current_period_usage_only_when_usd_or_diem_capped(admin: httpx2.AsyncClient) -> None:
    data = (await admin.get("/api_keys")).json()["data"]
    for key in data:
        limits = key["consumptionLimits"]
        capped = limits["usd"] is not None or limits["diem"] is not None
        assert ("currentPeriodUsage" in key) == capped, key["description"]
    vcu_only = [
        k for k in data if k["consumptionLimits"]["vcu"] is not None and "currentPeriodUsage" not in k
    ]
    assert vcu_only, "the seed has a key capped in VCU only, which has no period usage"
    for key in data:
        if "currentPeriodUsage" in key:
            assert all(re.fullmatch(r"\d+\.\d{4}", v) for v in key["currentPeriodUsage"].values())


async def test_seeded_keys_cover_the_varied_cases(admin: httpx2.AsyncClient, state: SandboxState) -> None:
    data = (await admin.get("/api_keys")).json()["data"]
    now = state.now()
    assert {k["limitPeriod"] for k in data} == {"EPOCH", "MONTH", "LIFETIME"}
    assert {"ALL", "PRIVATE_TEXT", "PRIVATE_ONLY"} <= {k["modelPrivacy"] for k in data}
    assert sum(k["apiKeyType"] == "ADMIN" for k in data) >= 2
    assert any(k["expiresAt"] and k["expiresAt"] < (now + timedelta(days=3)).isoformat() for k in data)
    near_cap = [
        k
        for k in data
        if k["consumptionLimits"]["usd"]
        and float(k["currentPeriodUsage"]["usd"]) > 0.9 * k["consumptionLimits"]["usd"]
    ]
    assert near_cap, "one key is close to its USD cap"
    idle = [k for k in data if k["lastUsedAt"] and k["lastUsedAt"] < (now - timedelta(days=100)).isoformat()]
    assert idle, "one key has been unused for months"


async def test_expired_keys_are_hidden_from_list_and_get(
    state: SandboxState, admin: httpx2.AsyncClient
) -> None:
    expired = [k for k in state.keys.values() if state.is_expired(k)]
    assert expired, "the seed has an expired key"
    listed = {k["id"] for k in (await admin.get("/api_keys")).json()["data"]}
    assert expired[0].id not in listed
    response = await admin.get(f"/api_keys/{expired[0].id}")
    assert (response.status_code, response.json()["error"]) == (400, "API key not found")


async def test_key_disappears_once_the_clock_passes_its_expiry(
    state: SandboxState, admin: httpx2.AsyncClient
) -> None:
    before = {k["id"] for k in (await admin.get("/api_keys")).json()["data"]}
    state.advance(timedelta(days=3).total_seconds())
    after = {k["id"] for k in (await admin.get("/api_keys")).json()["data"]}
    assert len(before - after) == 1


async def test_get_key_has_a_data_envelope_and_the_list_fields(
    state: SandboxState, admin: httpx2.AsyncClient
) -> None:
    listed = (await admin.get("/api_keys")).json()["data"]
    for key in listed[:3]:
        response = await admin.get(f"/api_keys/{key['id']}")
        assert response.status_code == 200
        got = response.json()["data"]
        assert {k: v for k, v in got.items() if k != "lastUsedAt"} == {
            k: v for k, v in key.items() if k != "lastUsedAt"
        }


async def test_get_unknown_key_is_400_not_found(admin: httpx2.AsyncClient) -> None:
    response = await admin.get("/api_keys/00000000-0000-4000-8000-000000000000")
    assert (response.status_code, response.json()["error"]) == (400, "API key not found")


async def test_keys_of_another_account_are_invisible(
    state: SandboxState, admin: httpx2.AsyncClient, make_client: ClientFactory
) -> None:
    other = state.add_account(balances={"USD": 1.0})
    other_secret, other_key = state.create_key(other.id, api_key_type="ADMIN", description="someone else")
    assert other_key.id not in {k["id"] for k in (await admin.get("/api_keys")).json()["data"]}
    assert (await admin.get(f"/api_keys/{other_key.id}")).status_code == 400
    assert (await admin.delete("/api_keys", params={"id": other_key.id})).status_code == 400
    theirs = (await make_client(other_secret).get("/api_keys")).json()["data"]
    assert [k["id"] for k in theirs] == [other_key.id]


async def test_scale_listing_of_500_keys() -> None:
    big = seeded_state(key_count=500, seed=1)
    async with contract_client(big, big.demo.admin_key) as client:
        data = (await client.get("/api_keys")).json()["data"]
    assert len(data) == 500
    assert len({k["id"] for k in data}) == 500
