"""The billing endpoints (beta): the account's balance and its spend by day and by key."""

from __future__ import annotations

import re

from pydantic import Field

from venice_keys_mcp.venice import _wire
from venice_keys_mcp.venice.errors import VeniceError
from venice_keys_mcp.venice.models import _Wire
from venice_keys_mcp.venice.transport import Auth, Transport

#: Venice's `lookback` query: a number of days and "d", at most 90 (`7d`, `30d`).
LOOKBACK_PATTERN = r"^[1-9]\d*d$"
MAX_LOOKBACK_DAYS = 90


class BillingAmounts(_Wire):
    """Remaining balances; `None` when the account has none of that kind (no stake: no DIEM)."""

    diem: float | None = None
    usd: float | None = None


class BillingBalance(_Wire):
    """`GET /billing/balance`: what the account may still spend, account-wide (not per key)."""

    can_consume: bool = Field(alias="canConsume")
    consumption_currency: str | None = Field(default=None, alias="consumptionCurrency")
    balances: BillingAmounts
    diem_epoch_allocation: float = Field(default=0.0, alias="diemEpochAllocation")


class KeyUsage(_Wire):
    """One key's spend over the lookback; `api_key_id` is None for the web app's own use."""

    api_key_id: str | None = Field(default=None, alias="apiKeyId")
    description: str = ""
    total_usd: float = Field(default=0.0, alias="totalUsd")
    total_diem: float = Field(default=0.0, alias="totalDiem")
    total_units: float = Field(default=0.0, alias="totalUnits")


class DailyUsage(_Wire):
    date: str
    usd: float = Field(default=0.0, alias="USD")
    diem: float = Field(default=0.0, alias="DIEM")


class UsageAnalytics(_Wire):
    """`GET /billing/usage-analytics` (beta), the parts a key admin reads.

    `by_key_daily` is Venice's chart data: one entry a day, `date` (milliseconds since the
    epoch) plus one number per key *description* (not id), for the top 8 keys only
    (`top_key_names`). The models' breakdowns are left out: nothing here reads them.
    """

    lookback: str
    by_date: list[DailyUsage] = Field(default_factory=list, alias="byDate")
    by_key: list[KeyUsage] = Field(alias="byKey")
    by_key_daily: list[dict[str, float]] = Field(default_factory=list, alias="byKeyDaily")
    top_key_names: list[str] = Field(default_factory=list, alias="topKeyNames")


class InvalidLookback(VeniceError, ValueError):
    """A `lookback` Venice would refuse (not `Nd`, or beyond 90 days): refused before sending."""


class BillingEndpoints(Transport):
    """`GET /billing/balance` and `GET /billing/usage-analytics`."""

    async def get_billing_balance(self) -> BillingBalance:
        """The account's remaining USD and DIEM (`GET /billing/balance`, an ADMIN key)."""
        answer = await self._read("/billing/balance", Auth.ADMIN)
        return self._decode(answer, lambda p: _wire.parse_bare_model(p, BillingBalance))

    async def get_usage_analytics(self, lookback: str = "7d") -> UsageAnalytics:
        """Spend by day and by key over the last `lookback` days (`GET /billing/usage-analytics`, beta).

        Any key may ask (the answer covers its whole account). `lookback` is checked here,
        as Venice would check it, so a wrong one costs no request.
        """
        if not (isinstance(lookback, str) and re.fullmatch(LOOKBACK_PATTERN, lookback)) or (
            int(lookback[:-1]) > MAX_LOOKBACK_DAYS
        ):
            raise InvalidLookback(f"lookback must be 1d to {MAX_LOOKBACK_DAYS}d (a number of days and 'd').")
        answer = await self._read("/billing/usage-analytics", Auth.ANY, params={"lookback": lookback})
        return self._decode(answer, lambda p: _wire.parse_bare_model(p, UsageAnalytics))
