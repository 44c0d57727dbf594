"""Limit periods roll over with the sandbox clock: EPOCH daily, MONTH on the 1st, LIFETIME never.

Each test pins the clock just before a boundary, gives a capped key some spend, then
moves the clock with `advance` and reads the key back the two ways a client sees
period usage: `currentPeriodUsage` on `GET /api_keys/{id}`, and the capped balances and
`accessPermitted` of `GET /api_keys/rate_limits` called with that key.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import httpx2
import pytest

from venice_keys_mcp.sandbox import SandboxState
from venice_keys_mcp.sandbox.persist import load_state_file, save_state

from .conftest import ClientFactory, contract_client

pytestmark = pytest.mark.anyio
ACCOUNT_USD = 42.5  # the seeded account's USD balance


def pin_clock(state: SandboxState, moment: datetime) -> None:
    state.clock = lambda: moment


def spent_key(state: SandboxState, period: str, usd_spent: float, cap: float = 25.0) -> tuple[str, str]:
    """A key capped at `cap` USD per `period` that has spent `usd_spent`; `(secret, id)`."""
    secret, key = state.create_key(
        state.demo.account_id,
        api_key_type="INFERENCE",
        description=f"{period} capped",
        limits={"usd": cap},
        limit_period=period,
    )
    key.period_usage["usd"] = usd_spent
    return secret, key.id


async def period_usd(admin: httpx2.AsyncClient, key_id: str) -> str:
    return (await admin.get(f"/api_keys/{key_id}")).json()["data"]["currentPeriodUsage"]["usd"]  # type: ignore[no-any-return]


async def usd_balance(client: httpx2.AsyncClient) -> float:
    return (await client.get("/api_keys/rate_limits")).json()["data"]["balances"]["USD"]  # type: ignore[no-any-return]


async def test_epoch_usage_resets_at_utc_midnight(
    state: SandboxState, admin: httpx2.AsyncClient, make_client: ClientFactory
) -> None:
    pin_clock(state, datetime(2026, 4, 20, 23, 59, tzinfo=UTC))
    secret, key_id = spent_key(state, "EPOCH", 21.0)
    caller = make_client(secret)
    assert (await period_usd(admin, key_id), await usd_balance(caller)) == ("21.0000", 4.0)
    state.advance(30)  # 23:59:30, same day
    assert (await period_usd(admin, key_id), await usd_balance(caller)) == ("21.0000", 4.0)
    state.advance(60)  # 00:00:30 the next day
    assert (await period_usd(admin, key_id), await usd_balance(caller)) == ("0.0000", 25.0)


async def test_a_spent_epoch_cap_permits_access_again_the_next_day(
    state: SandboxState, make_client: ClientFactory
) -> None:
    pin_clock(state, datetime(2026, 4, 20, 18, 0, tzinfo=UTC))
    secret, key_id = spent_key(state, "EPOCH", 25.0)
    state.keys[key_id].limits["diem"] = 0  # so USD is the only thing it could spend
    caller = make_client(secret)
    assert (await caller.get("/api_keys/rate_limits")).json()["data"]["accessPermitted"] is False
    state.advance(6 * 3600 + 1)
    data = (await caller.get("/api_keys/rate_limits")).json()["data"]
    assert (data["accessPermitted"], data["balances"]["USD"]) == (True, 25.0)


async def test_month_usage_survives_midnight_and_resets_on_the_first(
    state: SandboxState, admin: httpx2.AsyncClient, make_client: ClientFactory
) -> None:
    pin_clock(state, datetime(2026, 4, 29, 23, 59, tzinfo=UTC))
    secret, key_id = spent_key(state, "MONTH", 21.0)
    caller = make_client(secret)
    state.advance(120)  # 30 April, 00:01: a new UTC day, same month
    assert (await period_usd(admin, key_id), await usd_balance(caller)) == ("21.0000", 4.0)
    state.advance(86400 - 180)  # 30 April, 23:58
    assert await period_usd(admin, key_id) == "21.0000"
    state.advance(180)  # 1 May, 00:01
    assert (await period_usd(admin, key_id), await usd_balance(caller)) == ("0.0000", 25.0)


async def test_lifetime_usage_never_resets(
    state: SandboxState, admin: httpx2.AsyncClient, make_client: ClientFactory
) -> None:
    pin_clock(state, datetime(2026, 12, 31, 23, 59, tzinfo=UTC))
    secret, key_id = spent_key(state, "LIFETIME", 123.4567, cap=500.0)
    caller = make_client(secret)
    for seconds in (120, 86400, 31 * 86400, 400 * 86400):  # a day, a month, a year
        state.advance(seconds)
        assert (await period_usd(admin, key_id), await usd_balance(caller)) == ("123.4567", ACCOUNT_USD)
    state.keys[key_id].limits["usd"] = 130.0
    assert await usd_balance(caller) == pytest.approx(130.0 - 123.4567)


async def test_usage_counted_in_a_new_period_is_kept_until_that_one_ends(
    state: SandboxState, admin: httpx2.AsyncClient
) -> None:
    pin_clock(state, datetime(2026, 4, 20, 23, 59, tzinfo=UTC))
    _, key_id = spent_key(state, "EPOCH", 21.0)
    state.advance(120)
    assert await period_usd(admin, key_id) == "0.0000"
    state.keys[key_id].period_usage["usd"] = 2.5  # spent on the 21st
    state.advance(3600)
    assert await period_usd(admin, key_id) == "2.5000"
    state.advance(86400)
    assert await period_usd(admin, key_id) == "0.0000"


async def test_switching_the_period_keeps_the_usage_then_follows_the_new_period(
    state: SandboxState, admin: httpx2.AsyncClient
) -> None:
    pin_clock(state, datetime(2026, 4, 30, 12, 0, tzinfo=UTC))
    _, key_id = spent_key(state, "EPOCH", 21.0)
    patched = await admin.patch("/api_keys", json={"id": key_id, "limitPeriod": "MONTH"})
    assert patched.json()["data"]["limitPeriod"] == "MONTH"
    assert await period_usd(admin, key_id) == "21.0000"
    state.advance(11 * 3600)  # 30 April, 23:00: an EPOCH key would not have reset yet either
    assert await period_usd(admin, key_id) == "21.0000"
    state.advance(2 * 3600)  # 1 May, 01:00
    assert await period_usd(admin, key_id) == "0.0000"


async def test_the_period_survives_a_restart_and_still_rolls_over(
    state: SandboxState, tmp_path: Path
) -> None:
    pin_clock(state, datetime(2026, 4, 20, 22, 0, tzinfo=UTC))
    _, key_id = spent_key(state, "EPOCH", 21.0)
    path = tmp_path / "state.json"
    save_state(state, path)
    for hours, expected in ((1, "21.0000"), (3, "0.0000")):  # 23:00 same day; 01:00 next day
        loaded = load_state_file(path)
        assert loaded is not None
        pin_clock(loaded, datetime(2026, 4, 20, 22, 0, tzinfo=UTC))
        loaded.advance(hours * 3600)
        async with contract_client(loaded, loaded.demo.admin_key) as admin:
            assert await period_usd(admin, key_id) == expected


async def test_a_state_file_saved_before_periods_were_stored_keeps_its_usage(
    state: SandboxState, tmp_path: Path
) -> None:
    _, key_id = spent_key(state, "EPOCH", 21.0)
    path = tmp_path / "state.json"
    save_state(state, path)
    data = json.loads(path.read_text())
    for row in data["keys"]:
        del row["usage_period"]
    path.write_text(json.dumps(data))
    loaded = load_state_file(path)
    assert loaded is not None
    async with contract_client(loaded, loaded.demo.admin_key) as admin:
        assert await period_usd(admin, key_id) == "21.0000"
        loaded.advance(86400)
        assert await period_usd(admin, key_id) == "0.0000"
