"""`/billing/balance` and `/billing/usage-analytics`: Venice's shapes and a history that agrees with the keys.

Every answer here goes through the contract hook (tests/sandbox/conftest.py), so each one
is also validated against tests/contract/venice-billing.openapi.yaml.
"""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta

import httpx2
import pytest

from venice_keys_mcp.sandbox import SandboxState, seeded_state
from venice_keys_mcp.sandbox.persist import dump_state, restore_state

from .conftest import contract_client
from .openapi_contract import assert_matches_openapi, path_template

pytestmark = pytest.mark.anyio


async def test_balance_is_the_accounts_and_needs_an_admin_key(
    admin: httpx2.AsyncClient, inference: httpx2.AsyncClient, state: SandboxState
) -> None:
    answer = await admin.get("/billing/balance")
    assert answer.status_code == 200
    body = answer.json()
    account = state.accounts[state.demo.account_id]
    assert body["balances"] == {"usd": account.balances["USD"], "diem": account.balances["DIEM"]}
    assert body["diemEpochAllocation"] == account.diem_allocation
    assert body["canConsume"] is True and body["consumptionCurrency"] == "DIEM"
    refused = await inference.get("/billing/balance")
    assert refused.status_code == 401


async def test_analytics_default_to_seven_days_with_keys_sorted_and_the_chart_on_the_top_eight(
    inference: httpx2.AsyncClient, state: SandboxState
) -> None:
    body = (await inference.get("/billing/usage-analytics")).json()  # any key may ask
    today = state.now().date()
    assert body["lookback"] == "7d"
    assert [d["date"] for d in body["byDate"]] == [
        (today - timedelta(days=n)).isoformat() for n in range(6, -1, -1)
    ]
    spend = [k["totalUsd"] + k["totalDiem"] for k in body["byKey"]]
    assert spend == sorted(spend, reverse=True) and len(spend) > 8  # some keys fall off the chart
    assert body["topKeyNames"] == [k["description"] for k in body["byKey"][:8]]
    assert len(body["byKeyDaily"]) == 7
    assert all(set(day) == {"date", *body["topKeyNames"]} for day in body["byKeyDaily"])
    assert {"apiKeyId": None, "description": "Web App"}.items() <= next(
        k for k in body["byKey"] if k["apiKeyId"] is None
    ).items()
    # The days add up to the keys.
    assert sum(d["USD"] for d in body["byDate"]) == pytest.approx(
        sum(k["totalUsd"] for k in body["byKey"]), abs=1e-3
    )


@pytest.mark.parametrize(
    "query",
    [
        {"lookback": "91d"},
        {"lookback": "0d"},
        {"lookback": "7"},
        {"lookback": "week"},
        {"startDate": "2026-01-01"},
        {"startDate": "2026-02-30", "endDate": "2026-03-01"},
        {"startDate": "2026-03-02", "endDate": "2026-03-01"},
    ],
)
async def test_a_bad_period_is_a_detailed_400(admin: httpx2.AsyncClient, query: dict[str, str]) -> None:
    answer = await admin.get("/billing/usage-analytics", params=query)
    assert answer.status_code == 400
    assert answer.json()["details"]  # DetailedError, validated by the hook


async def test_a_date_range_is_answered_as_start_colon_end(
    admin: httpx2.AsyncClient, state: SandboxState
) -> None:
    end = state.now().date()
    start = end - timedelta(days=29)
    body = (
        await admin.get("/billing/usage-analytics", params={"startDate": str(start), "endDate": str(end)})
    ).json()
    thirty = (await admin.get("/billing/usage-analytics", params={"lookback": "30d"})).json()
    assert body["lookback"] == f"{start}:{end}"
    assert body["byKey"] == thirty["byKey"]


async def _listed(admin: httpx2.AsyncClient) -> list[dict]:
    return (await admin.get("/api_keys")).json()["data"]


async def _by_key(admin: httpx2.AsyncClient, days: int) -> dict[str | None, dict]:
    body = (await admin.get("/billing/usage-analytics", params={"lookback": f"{days}d"})).json()
    return {k["apiKeyId"]: k for k in body["byKey"]}


async def test_history_matches_each_capped_keys_current_period_usage(
    admin: httpx2.AsyncClient, state: SandboxState
) -> None:
    today = state.now().date()
    days_in = {"EPOCH": 1, "MONTH": today.day, "LIFETIME": 90}  # the seeded LIFETIME key is 40 days old
    checked = set()
    for key in await _listed(admin):
        used = key.get("currentPeriodUsage")
        if used is None or not (float(used["usd"]) or float(used["diem"])):
            continue
        spent = (await _by_key(admin, days_in[key["limitPeriod"]])).get(key["id"])
        assert spent is not None, key["description"]
        assert spent["totalUsd"] == pytest.approx(float(used["usd"]), abs=1e-3), key["description"]
        assert spent["totalDiem"] == pytest.approx(float(used["diem"]), abs=1e-3), key["description"]
        checked.add(key["limitPeriod"])
    assert checked == {"EPOCH", "MONTH", "LIFETIME"}


async def test_history_matches_each_keys_trailing_week(admin: httpx2.AsyncClient) -> None:
    week = await _by_key(admin, 7)
    listed = await _listed(admin)
    for key in listed:
        seven = key["usage"]["trailingSevenDays"]
        spent = week.get(key["id"], {"totalUsd": 0.0, "totalDiem": 0.0})
        assert spent["totalUsd"] == pytest.approx(float(seven["usd"]), abs=1e-3), key["description"]
        assert spent["totalDiem"] == pytest.approx(float(seven["diem"]), abs=1e-3), key["description"]
    never = [k for k in listed if k["lastUsedAt"] is None]
    assert never and not {k["id"] for k in never} & set(await _by_key(admin, 90))


async def test_one_key_jumps_against_its_own_baseline_and_the_others_do_not(
    admin: httpx2.AsyncClient,
) -> None:
    body = (await admin.get("/billing/usage-analytics", params={"lookback": "14d"})).json()
    jumped = []
    for name in body["topKeyNames"]:
        series = [day[name] for day in body["byKeyDaily"]]
        earlier = [v for v in series[:-1] if v]  # days the key was in use
        if earlier and series[-1] > 3 * statistics.median(earlier):
            jumped.append(name)
    assert jumped == ["Nightly batch jobs"]


async def test_an_expired_keys_spend_stays_in_the_history(admin: httpx2.AsyncClient) -> None:
    listed = {k["id"] for k in await _listed(admin)}
    month = await _by_key(admin, 30)
    gone = [k for key_id, k in month.items() if key_id is not None and key_id not in listed]
    assert [k["description"] for k in gone] == ["Q1 contractor access"]


def test_spend_history_survives_a_save_and_load(state: SandboxState) -> None:
    restored = restore_state(dump_state(state))
    assert {k.id: k.daily_spend for k in restored.keys.values()} == {
        k.id: k.daily_spend for k in state.keys.values()
    }
    account = restored.accounts[state.demo.account_id]
    assert account.web_app_spend and account.diem_allocation == state.accounts[account.id].diem_allocation


def test_billing_paths_are_checked_against_the_billing_subset() -> None:
    assert path_template("/api/v1/billing/usage-analytics") == "/billing/usage-analytics"
    good = {
        "canConsume": True,
        "consumptionCurrency": None,
        "balances": {"usd": 1, "diem": None},
        "diemEpochAllocation": 0,
    }
    assert_matches_openapi("GET", "/billing/balance", 200, good)
    with pytest.raises(AssertionError, match="balances"):
        assert_matches_openapi("GET", "/billing/balance", 200, {**good, "balances": {"usd": 1}})
    with pytest.raises(AssertionError):
        assert_matches_openapi("GET", "/billing/balance", 200, {**good, "extra": 1})
    assert_matches_openapi("GET", "/billing/usage-analytics", 400, {"error": "bad", "details": {}})


@pytest.mark.parametrize(
    "now",
    [
        datetime(2026, 3, 1, 3, 0, tzinfo=UTC),  # the 1st, before the keys used "half a day ago" were used
        datetime(2026, 3, 1, 23, 0, tzinfo=UTC),
        datetime(2026, 3, 2, 1, 0, tzinfo=UTC),
        datetime(2026, 7, 31, 23, 59, tzinfo=UTC),
        datetime(2028, 2, 29, 12, 0, tzinfo=UTC),
    ],
)
async def test_on_any_date_one_key_jumps_and_history_matches_period_usage(now: datetime) -> None:
    """The seed depends on the date (month start, time of day): the same promises hold on each."""
    state = seeded_state(seed=3, clock=lambda: now)
    async with contract_client(state, state.demo.admin_key) as admin:
        await test_one_key_jumps_against_its_own_baseline_and_the_others_do_not(admin)
        await test_history_matches_each_capped_keys_current_period_usage(admin, state)
        await test_history_matches_each_keys_trailing_week(admin)
