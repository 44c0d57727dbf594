"""Creating keys: strict bodies, descriptions, expiry forms, limits, 20 a minute, 500 active."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx2
import pytest

from venice_keys_mcp.sandbox import SandboxState, seeded_state

from .conftest import ClientFactory, contract_client

pytestmark = pytest.mark.anyio
BASIC = {"apiKeyType": "INFERENCE", "description": "test key"}


def future(state: SandboxState, days: int = 30) -> str:
    return (state.now() + timedelta(days=days)).strftime("%Y-%m-%d")


async def test_create_returns_the_secret_once_with_singular_consumption_limit(
    admin: httpx2.AsyncClient,
) -> None:
    body = {**BASIC, "consumptionLimit": {"usd": 10, "diem": 2.5}}
    response = await admin.post("/api_keys", json=body)
    assert response.status_code == 200
    data = response.json()["data"]
    assert response.json()["success"] is True
    assert data["consumptionLimit"] == {"usd": 10, "diem": 2.5, "vcu": None}
    assert "consumptionLimits" not in data
    listed = {k["id"]: k for k in (await admin.get("/api_keys")).json()["data"]}
    assert listed[data["id"]]["last6Chars"] == data["apiKey"][-6:]
    assert data["apiKey"] not in (await admin.get(f"/api_keys/{data['id']}")).text


@pytest.mark.parametrize(
    ("key_type", "prefix"), [("ADMIN", "VENICE_ADMIN_KEY_"), ("INFERENCE", "VENICE_INFERENCE_KEY_")]
)
async def test_created_secret_has_the_type_prefix(
    admin: httpx2.AsyncClient, key_type: str, prefix: str
) -> None:
    data = (await admin.post("/api_keys", json={**BASIC, "apiKeyType": key_type})).json()["data"]
    assert data["apiKey"].startswith(prefix)
    assert len(data["apiKey"]) > len(prefix) + 40


async def test_created_key_authenticates_and_defaults_apply(
    admin: httpx2.AsyncClient, make_client: ClientFactory
) -> None:
    data = (await admin.post("/api_keys", json=BASIC)).json()["data"]
    assert (data["limitPeriod"], data["modelPrivacy"], data["expiresAt"]) == ("EPOCH", "ALL", None)
    assert (await make_client(data["apiKey"]).get("/api_keys/rate_limits")).status_code == 200


async def test_create_rejects_unknown_field(admin: httpx2.AsyncClient, state: SandboxState) -> None:
    count = len(state.keys)
    response = await admin.post("/api_keys", json={**BASIC, "name": "x"})
    assert response.status_code == 400
    body = response.json()
    assert "name" in body["error"]
    assert body["details"]["_errors"] and body["details"]["name"]["_errors"]
    assert body["issues"][0]["code"] == "unrecognized_keys"
    assert len(state.keys) == count


async def test_create_rejects_plural_consumption_limits(admin: httpx2.AsyncClient) -> None:
    response = await admin.post("/api_keys", json={**BASIC, "consumptionLimits": {"usd": 5}})
    assert response.status_code == 400
    assert "consumptionLimits" in response.json()["details"]


@pytest.mark.parametrize("missing", ["apiKeyType", "description"])
async def test_create_requires_type_and_description(admin: httpx2.AsyncClient, missing: str) -> None:
    body = {k: v for k, v in BASIC.items() if k != missing}
    response = await admin.post("/api_keys", json=body)
    assert response.status_code == 400
    assert response.json()["details"][missing]["_errors"] == ["Required"]


@pytest.mark.parametrize(("length", "status"), [(0, 400), (1, 200), (64, 200), (65, 400)])
async def test_create_description_is_1_to_64_characters(
    admin: httpx2.AsyncClient, length: int, status: int
) -> None:
    response = await admin.post("/api_keys", json={**BASIC, "description": "d" * length})
    assert response.status_code == status
    if status == 400:
        assert response.json()["details"]["description"]["_errors"]


@pytest.mark.parametrize(
    "field_value",
    [{"apiKeyType": "OWNER"}, {"limitPeriod": "WEEK"}, {"modelPrivacy": "NONE"}, {"description": 5}],
)
async def test_create_rejects_wrong_types_and_enums(
    admin: httpx2.AsyncClient, field_value: dict[str, Any]
) -> None:
    response = await admin.post("/api_keys", json={**BASIC, **field_value})
    assert response.status_code == 400
    assert next(iter(field_value)) in response.json()["details"]


@pytest.mark.parametrize(
    "expires",
    ["", "{date}", "{date}T12:30:00Z", "{date}T12:30:00.250Z"],
)
async def test_create_accepts_the_three_expires_at_forms(
    admin: httpx2.AsyncClient, state: SandboxState, expires: str
) -> None:
    value = expires.format(date=future(state))
    data = (await admin.post("/api_keys", json={**BASIC, "expiresAt": value})).json()["data"]
    if value == "":
        assert data["expiresAt"] is None
    else:
        assert data["expiresAt"].startswith(future(state))
        assert data["expiresAt"].endswith(".250Z" if ".250" in value else ".000Z")


@pytest.mark.parametrize(
    "value",
    [
        "2031-02-30",
        "2031-13-01",
        "2031-06-01T25:00:00Z",
        "2031-06-01T12:00:00+01:00",
        "2031-06-01T12:00Z",
        "2031-06-01 12:00:00",
        "tomorrow",
        None,
        20310601,
    ],
)
async def test_create_rejects_invalid_expires_at(admin: httpx2.AsyncClient, value: Any) -> None:
    response = await admin.post("/api_keys", json={**BASIC, "expiresAt": value})
    assert response.status_code == 400
    assert response.json()["details"]["expiresAt"]["_errors"]


async def test_create_rejects_an_expiry_in_the_past(admin: httpx2.AsyncClient, state: SandboxState) -> None:
    yesterday = (state.now() - timedelta(days=1)).strftime("%Y-%m-%d")
    response = await admin.post("/api_keys", json={**BASIC, "expiresAt": yesterday})
    assert response.status_code == 400
    assert "future" in response.json()["error"]


@pytest.mark.parametrize("amount", [0, 0.5, 9999999999, None])
async def test_create_accepts_limits_in_range_or_null(admin: httpx2.AsyncClient, amount: Any) -> None:
    response = await admin.post("/api_keys", json={**BASIC, "consumptionLimit": {"usd": amount}})
    assert response.status_code == 200
    assert response.json()["data"]["consumptionLimit"]["usd"] == amount


@pytest.mark.parametrize(
    "limit", [{"usd": -1}, {"usd": 10000000000}, {"diem": "5"}, {"vcu": True}, {"eur": 5}, [5], 5]
)
async def test_create_rejects_out_of_range_or_odd_limits(admin: httpx2.AsyncClient, limit: Any) -> None:
    response = await admin.post("/api_keys", json={**BASIC, "consumptionLimit": limit})
    assert response.status_code == 400
    assert "consumptionLimit" in response.json()["details"]


@pytest.mark.parametrize("raw", [b"", b"{", b"[]", b'"key"', b"null", b'{"description": NaN}'])
async def test_create_rejects_bad_json_or_a_non_object(admin: httpx2.AsyncClient, raw: bytes) -> None:
    response = await admin.post("/api_keys", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert isinstance(response.json()["error"], str)


async def test_huge_body_is_413_json(admin: httpx2.AsyncClient) -> None:
    response = await admin.post("/api_keys", json={**BASIC, "pad": "x" * (1024 * 1024 + 1)})
    assert response.status_code == 413
    assert "1 MiB" in response.json()["error"]


async def test_create_is_limited_to_20_per_minute(admin: httpx2.AsyncClient, state: SandboxState) -> None:
    for n in range(20):
        response = await admin.post("/api_keys", json={**BASIC, "description": f"burst {n}"})
        assert response.status_code == 200
        assert response.headers["x-ratelimit-limit-requests"] == "20"
        assert response.headers["x-ratelimit-remaining-requests"] == str(19 - n)
    refused = await admin.post("/api_keys", json=BASIC)
    assert refused.status_code == 429
    assert "20" in refused.json()["error"]
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"
    assert int(refused.headers["x-ratelimit-reset-requests"]) > state.now().timestamp()
    assert (await admin.get("/api_keys")).status_code == 200, "other routes are not limited"
    state.advance(61)
    assert (await admin.post("/api_keys", json=BASIC)).status_code == 200


async def test_create_stops_at_500_active_keys() -> None:
    big = seeded_state(key_count=500, seed=2)
    async with contract_client(big, big.demo.admin_key) as client:
        refused = await client.post("/api_keys", json=BASIC)
        assert refused.status_code == 400
        assert "500" in refused.json()["error"]
        victim = (await client.get("/api_keys")).json()["data"][-1]["id"]
        assert (await client.delete("/api_keys", params={"id": victim})).status_code == 200
        assert (await client.post("/api_keys", json=BASIC)).status_code == 200


async def test_expired_keys_do_not_count_toward_500() -> None:
    big = seeded_state(key_count=500, seed=3)
    async with contract_client(big, big.demo.admin_key) as client:
        assert (await client.post("/api_keys", json=BASIC)).status_code == 400
        victim = next(k for k in big.active_keys(big.demo.account_id) if k.id != big.demo.admin_key_id)
        victim.expires_at = big.now() - timedelta(seconds=1)
        assert (await client.post("/api_keys", json=BASIC)).status_code == 200
