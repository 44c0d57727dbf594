"""Updating and revoking keys: by id, only the fields sent, null removes, strict bodies."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx2
import pytest

from venice_keys_mcp.sandbox import SandboxState

from .conftest import ClientFactory

pytestmark = pytest.mark.anyio


async def new_key(admin: httpx2.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {"apiKeyType": "INFERENCE", "description": "to change", **fields}
    response = await admin.post("/api_keys", json=body)
    assert response.status_code == 200, response.text
    return response.json()["data"]  # type: ignore[no-any-return]


async def read(admin: httpx2.AsyncClient, key_id: str) -> dict[str, Any]:
    return (await admin.get(f"/api_keys/{key_id}")).json()["data"]  # type: ignore[no-any-return]


async def test_patch_requires_id(admin: httpx2.AsyncClient) -> None:
    response = await admin.patch("/api_keys", json={"description": "no id"})
    assert response.status_code == 400
    assert response.json()["details"]["id"]["_errors"] == ["Required"]


@pytest.mark.parametrize(
    "extra",
    [{"apiKeyType": "ADMIN"}, {"consumptionLimits": {"usd": 1}}, {"apiKey": "x"}, {"last6Chars": "abcdef"}],
)
async def test_patch_rejects_fields_that_cannot_change(
    admin: httpx2.AsyncClient, extra: dict[str, Any]
) -> None:
    key = await new_key(admin)
    response = await admin.patch("/api_keys", json={"id": key["id"], **extra})
    assert response.status_code == 400
    assert next(iter(extra)) in response.json()["details"]
    assert (await read(admin, key["id"]))["apiKeyType"] == "INFERENCE"


async def test_patch_changes_only_the_fields_sent(admin: httpx2.AsyncClient, state: SandboxState) -> None:
    expires = (state.now() + timedelta(days=10)).strftime("%Y-%m-%d")
    key = await new_key(
        admin,
        consumptionLimit={"usd": 5, "diem": 1},
        limitPeriod="MONTH",
        modelPrivacy="PRIVATE_TEXT",
        expiresAt=expires,
    )
    before = await read(admin, key["id"])
    response = await admin.patch("/api_keys", json={"id": key["id"], "description": "renamed"})
    assert response.status_code == 200
    after = await read(admin, key["id"])
    assert after["description"] == "renamed"
    same = ("consumptionLimits", "limitPeriod", "modelPrivacy", "expiresAt", "apiKeyType", "createdAt")
    assert {f: after[f] for f in same} == {f: before[f] for f in same}


async def test_patch_response_is_the_key_without_usage(admin: httpx2.AsyncClient) -> None:
    key = await new_key(admin, consumptionLimit={"usd": 5})
    body = (await admin.patch("/api_keys", json={"id": key["id"], "modelPrivacy": "PRIVATE_ONLY"})).json()
    assert body["success"] is True
    assert body["data"]["modelPrivacy"] == "PRIVATE_ONLY"
    assert "usage" not in body["data"] and "currentPeriodUsage" not in body["data"]
    assert body["data"]["consumptionLimits"] == {"usd": 5, "diem": None, "vcu": None}


@pytest.mark.parametrize("removal", ["", None])
async def test_patch_expires_at_empty_or_null_removes_the_expiry(
    admin: httpx2.AsyncClient, state: SandboxState, removal: str | None
) -> None:
    key = await new_key(admin, expiresAt=(state.now() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert (await read(admin, key["id"]))["expiresAt"] is not None
    response = await admin.patch("/api_keys", json={"id": key["id"], "expiresAt": removal})
    assert response.status_code == 200
    assert response.json()["data"]["expiresAt"] is None
    state.advance(timedelta(days=3).total_seconds())
    assert (await read(admin, key["id"]))["expiresAt"] is None


async def test_patch_sets_a_new_expiry_but_not_one_in_the_past(
    admin: httpx2.AsyncClient, state: SandboxState
) -> None:
    key = await new_key(admin)
    later = (state.now() + timedelta(days=5)).strftime("%Y-%m-%d")
    assert (
        (await admin.patch("/api_keys", json={"id": key["id"], "expiresAt": later}))
        .json()["data"]["expiresAt"]
        .startswith(later)
    )
    past = (state.now() - timedelta(days=5)).strftime("%Y-%m-%d")
    assert (await admin.patch("/api_keys", json={"id": key["id"], "expiresAt": past})).status_code == 400


async def test_patch_null_removes_one_cap_and_keeps_the_others(admin: httpx2.AsyncClient) -> None:
    key = await new_key(admin, consumptionLimit={"usd": 5, "diem": 2, "vcu": 9})
    await admin.patch("/api_keys", json={"id": key["id"], "consumptionLimit": {"usd": None}})
    assert (await read(admin, key["id"]))["consumptionLimits"] == {"usd": None, "diem": 2, "vcu": 9}
    await admin.patch("/api_keys", json={"id": key["id"], "consumptionLimit": {"diem": 7}})
    assert (await read(admin, key["id"]))["consumptionLimits"] == {"usd": None, "diem": 7, "vcu": 9}


async def test_patch_removing_every_cap_drops_current_period_usage(admin: httpx2.AsyncClient) -> None:
    key = await new_key(admin, consumptionLimit={"usd": 5})
    assert "currentPeriodUsage" in await read(admin, key["id"])
    await admin.patch("/api_keys", json={"id": key["id"], "consumptionLimit": {"usd": None}})
    assert "currentPeriodUsage" not in await read(admin, key["id"])


async def test_patch_unknown_id_is_400_not_found_or_expired(admin: httpx2.AsyncClient) -> None:
    response = await admin.patch("/api_keys", json={"id": "no-such-key", "description": "x"})
    assert (response.status_code, response.json()["error"]) == (400, "API key not found or expired")


async def test_patch_expired_id_is_400_not_found_or_expired(
    admin: httpx2.AsyncClient, state: SandboxState
) -> None:
    expired = next(k for k in state.keys.values() if state.is_expired(k))
    response = await admin.patch("/api_keys", json={"id": expired.id, "expiresAt": None})
    assert (response.status_code, response.json()["error"]) == (400, "API key not found or expired")


async def test_patch_validates_description_length(admin: httpx2.AsyncClient) -> None:
    key = await new_key(admin)
    response = await admin.patch("/api_keys", json={"id": key["id"], "description": "x" * 65})
    assert response.status_code == 400
    assert (await read(admin, key["id"]))["description"] == "to change"


async def test_delete_by_query_revokes_at_once(admin: httpx2.AsyncClient, make_client: ClientFactory) -> None:
    key = await new_key(admin)
    response = await admin.delete("/api_keys", params={"id": key["id"]})
    assert (response.status_code, response.json()) == (200, {"success": True})
    assert key["id"] not in {k["id"] for k in (await admin.get("/api_keys")).json()["data"]}
    assert (await make_client(key["apiKey"]).get("/api_keys/rate_limits")).status_code == 401


async def test_delete_by_json_body(admin: httpx2.AsyncClient) -> None:
    key = await new_key(admin)
    response = await admin.request("DELETE", "/api_keys", json={"id": key["id"]})
    assert (response.status_code, response.json()) == (200, {"success": True})
    assert (await admin.get(f"/api_keys/{key['id']}")).status_code == 400


async def test_delete_unknown_id_is_400_could_not_be_found(admin: httpx2.AsyncClient) -> None:
    response = await admin.delete("/api_keys", params={"id": "no-such-key"})
    assert (response.status_code, response.json()["error"]) == (400, "API key could not be found")


async def test_delete_twice_is_400_the_second_time(admin: httpx2.AsyncClient) -> None:
    key = await new_key(admin)
    assert (await admin.delete("/api_keys", params={"id": key["id"]})).status_code == 200
    assert (await admin.delete("/api_keys", params={"id": key["id"]})).status_code == 400


@pytest.mark.parametrize("body", [None, {}, {"id": ""}, {"id": 5}, []])
async def test_delete_without_an_id_is_400(admin: httpx2.AsyncClient, body: Any) -> None:
    response = (
        await admin.request("DELETE", "/api_keys", json=body)
        if body is not None
        else await admin.delete("/api_keys")
    )
    assert response.status_code == 400
