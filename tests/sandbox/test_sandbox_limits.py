"""Rate limits, balances and the breach log, as the calling key sees them."""

from __future__ import annotations

import re
from datetime import datetime

import httpx2
import pytest

from venice_keys_mcp.sandbox import SandboxState, seeded_state

from .conftest import ClientFactory, contract_client

pytestmark = pytest.mark.anyio
ENTRY_FIELDS = {"apiKeyId", "modelId", "rateLimitTier", "rateLimitType", "timestamp"}


async def test_rate_limits_lists_models_with_rpm_rpd_tpm_and_empty_video_music(
    admin: httpx2.AsyncClient,
) -> None:
    data = (await admin.get("/api_keys/rate_limits")).json()["data"]
    assert data["accessPermitted"] is True
    assert set(data["apiTier"]) == {"id", "isCharged"}
    by_model = {m["apiModelId"]: m["rateLimits"] for m in data["rateLimits"]}
    text_models = [
        m for m, limits in by_model.items() if {x["type"] for x in limits} == {"RPM", "RPD", "TPM"}
    ]
    assert len(text_models) >= 3
    empty = [m for m, limits in by_model.items() if limits == []]
    assert any("video" in m for m in empty) and any("music" in m for m in empty)


async def test_admin_key_without_caps_sees_the_whole_balance(admin: httpx2.AsyncClient) -> None:
    balances = (await admin.get("/api_keys/rate_limits")).json()["data"]["balances"]
    assert balances == {"USD": 42.5, "DIEM": 12.3456, "BUNDLED_CREDITS": 5.0}


async def test_balances_are_clamped_to_the_calling_keys_remaining_cap(
    state: SandboxState, inference: httpx2.AsyncClient
) -> None:
    key = state.keys[state.demo.inference_key_id]
    key.limits["usd"], key.period_usage["usd"] = 25, 21.0
    balances = (await inference.get("/api_keys/rate_limits")).json()["data"]["balances"]
    assert balances["USD"] == pytest.approx(4.0)
    assert balances["BUNDLED_CREDITS"] == pytest.approx(4.0)
    assert balances["DIEM"] == pytest.approx(12.3456)


async def test_access_not_permitted_once_the_cap_is_spent(
    state: SandboxState, inference: httpx2.AsyncClient
) -> None:
    key = state.keys[state.demo.inference_key_id]
    key.limits["usd"], key.limits["diem"], key.period_usage["usd"] = 25, 0, 25
    data = (await inference.get("/api_keys/rate_limits")).json()["data"]
    assert data["accessPermitted"] is False
    assert data["balances"] == {"USD": 0, "DIEM": 0, "BUNDLED_CREDITS": 0}


async def test_a_currency_the_account_lacks_is_missing(
    state: SandboxState, admin: httpx2.AsyncClient
) -> None:
    del state.accounts[state.demo.account_id].balances["DIEM"]
    balances = (await admin.get("/api_keys/rate_limits")).json()["data"]["balances"]
    assert "DIEM" not in balances and "USD" in balances


async def test_no_expiry_is_null_and_next_epoch_is_next_utc_midnight(
    state: SandboxState, make_client: ClientFactory
) -> None:
    secret, _ = state.create_key(state.demo.account_id, api_key_type="INFERENCE", description="x")
    data = (await make_client(secret).get("/api_keys/rate_limits")).json()["data"]
    assert data["keyExpiration"] is None
    epoch = datetime.fromisoformat(data["nextEpochBegins"].replace("Z", "+00:00"))
    now = state.now()
    assert (epoch.hour, epoch.minute, epoch.second) == (0, 0, 0)
    assert 0 < (epoch - now).total_seconds() <= 86400


async def test_rate_limits_reports_the_key_expiry(state: SandboxState, make_client: ClientFactory) -> None:
    secret, _ = state.create_key(
        state.demo.account_id,
        api_key_type="INFERENCE",
        description="x",
        expires_at=state.now().replace(year=2099),
    )
    data = (await make_client(secret).get("/api_keys/rate_limits")).json()["data"]
    assert data["keyExpiration"].startswith("2099-")


async def test_breach_log_is_newest_first_with_exact_fields(admin: httpx2.AsyncClient) -> None:
    body = (await admin.get("/api_keys/rate_limits/log")).json()
    assert body["object"] == "list"
    data = body["data"]
    assert 10 <= len(data) <= 50
    assert all(set(e) == ENTRY_FIELDS for e in data)
    stamps = [e["timestamp"] for e in data]
    assert stamps == sorted(stamps, reverse=True)


async def test_seeded_breach_log_has_every_type_and_odd_model_ids(admin: httpx2.AsyncClient) -> None:
    data = (await admin.get("/api_keys/rate_limits/log")).json()["data"]
    assert {e["rateLimitType"] for e in data} == {
        "RPM",
        "TPM",
        "RPD",
        "FAILED_REQUESTS",
        "UNSUPPORTED_FEATURE_REQUESTS",
    }
    models = {e["modelId"] for e in data}
    assert "model:unknown" in models
    assert any(re.fullmatch(r"endpoint:api/v1/[a-z/_]+", m) for m in models)


async def test_breach_log_shows_at_most_50() -> None:
    big = seeded_state(key_count=120, seed=4)
    assert len(big.accounts[big.demo.account_id].breaches) > 50
    async with contract_client(big, big.demo.admin_key) as client:
        data = (await client.get("/api_keys/rate_limits/log")).json()["data"]
    assert len(data) == 50
    newest = max(e.timestamp for e in big.accounts[big.demo.account_id].breaches)
    assert data[0]["timestamp"][:19] == newest.strftime("%Y-%m-%dT%H:%M:%S")
