"""The billing reads against the real sandbox over a loopback socket: shapes, retries, refusals."""

from __future__ import annotations

import pytest
from support.sandbox_process import SandboxProcess

from tests.client.conftest import Connect
from venice_keys_mcp.venice import (
    AdminKeyRequired,
    BillingBalance,
    MalformedResponse,
    RetryPolicy,
    UsageAnalytics,
    VeniceUnavailable,
)
from venice_keys_mcp.venice.billing import InvalidLookback

pytestmark = pytest.mark.anyio


async def test_balance_and_usage_over_loopback(sandbox: SandboxProcess, connect: Connect) -> None:
    client, _ = connect()
    balance = await client.get_billing_balance()
    assert isinstance(balance, BillingBalance)
    assert balance.can_consume is True and balance.balances.usd == 42.5 and balance.diem_epoch_allocation > 0

    usage = await client.get_usage_analytics("30d")
    assert isinstance(usage, UsageAnalytics) and usage.lookback == "30d"
    assert len(usage.by_date) == 30 and len(usage.by_key_daily) == 30
    ids = [k.api_key_id for k in usage.by_key]
    assert None in ids  # the web app's own spend, by no key
    listed = {k.id for k in await client.list_keys()}
    assert sandbox.admin_key_id not in ids  # the server's key spends nothing
    assert any(i is not None and i in listed for i in ids)
    assert usage.top_key_names == [k.description for k in usage.by_key[:8]]
    assert all("date" in day for day in usage.by_key_daily)


async def test_any_key_may_read_usage_but_the_balance_needs_an_admin_key(
    sandbox: SandboxProcess, connect: Connect
) -> None:
    client, _ = connect(sandbox.inference_key)
    assert (await client.get_usage_analytics()).lookback == "7d"
    with pytest.raises(AdminKeyRequired):
        await client.get_billing_balance()


@pytest.mark.parametrize("lookback", ["91d", "0d", "7", "d", "07d ", "1w", ""])
async def test_a_lookback_venice_would_refuse_is_refused_before_sending(
    connect: Connect, lookback: str
) -> None:
    client, counter = connect()
    with pytest.raises(InvalidLookback, match="1d to 90d"):
        await client.get_usage_analytics(lookback)
    assert counter.count() == 0


async def test_a_passing_503_is_retried_and_a_lasting_500_is_unavailable(
    sandbox: SandboxProcess, connect: Connect
) -> None:
    client, counter = connect()
    sandbox.add_fault("GET", "/billing/usage-analytics", status=503, times=1)
    assert (await client.get_usage_analytics()).by_key
    assert counter.count() == 2

    sandbox.add_fault("GET", "/billing/balance", status=500, times=-1)
    with pytest.raises(VeniceUnavailable, match="/billing/balance"):
        await client.get_billing_balance()


async def test_an_unreadable_answer_is_malformed_not_a_crash(
    sandbox: SandboxProcess, connect: Connect
) -> None:
    client, _ = connect(retry=RetryPolicy.never())
    sandbox.add_fault("GET", "/billing/usage-analytics", malformed=True)
    with pytest.raises(MalformedResponse, match="usage-analytics"):
        await client.get_usage_analytics()
    sandbox.add_fault("GET", "/billing/balance", status=200, body='{"data": {"canConsume": true}}')
    with pytest.raises(MalformedResponse, match="billing/balance"):
        await client.get_billing_balance()
