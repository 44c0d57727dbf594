"""`get_spend`: where the account's money goes, key by key, from Venice's billing endpoints (beta).

Three reads: `/billing/usage-analytics` (required: spend by key and the daily chart),
`/billing/balance` and `/api_keys` (each optional: without them the report says what it
lacks and still answers). The balance lives here and only here (`get_limits` shows what
the server's own key may spend, not the account's balance).

A *jump* is a key whose last day in the chart is more than `JUMP_FACTOR` times the median
of its earlier days in the lookback, and at least `JUMP_FLOOR`: against its own baseline,
so a key that always spends $40 a day is not flagged and one that went from $2 to $9 is.
Earlier days count from the day the key was created (when it is an active key), so a new
key's days before it existed do not make a zero baseline; at least `MIN_BASELINE_DAYS`
earlier days are needed for a verdict. Venice charts days for its top 8 keys only, by
description: keys outside the top 8, and keys that share a description, get no verdict.
"""

from __future__ import annotations

import logging
import statistics
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import anyio
from mcp_types import CallToolResult
from pydantic import Field

from venice_keys_mcp import venice
from venice_keys_mcp.safety.fencing import UNTRUSTED_NOTE, clean_untrusted, fence
from venice_keys_mcp.tools.kit import Kit, result
from venice_keys_mcp.tools.views import FROM_VENICE, READS_LIKE, SUSPICIOUS, Output, caps, flag
from venice_keys_mcp.venice import ApiKey, VeniceError

if TYPE_CHECKING:  # the billing group loads the HTTP client: on first call, not at start-up
    from venice_keys_mcp.venice.billing import BillingBalance, KeyUsage, UsageAnalytics
from venice_keys_mcp.venice.models import LimitPeriod

logger = logging.getLogger("venice_keys_mcp.tools")

JUMP_FACTOR = 3.0
JUMP_FLOOR = 1.0  # in Venice's chart figures (USD and DIEM as it charts them): ignore pennies
MIN_BASELINE_DAYS = 3
NEAR_CAP = 0.8  # a key that has used this share of a cap this period is listed whatever its rank


class Balance(Output):
    usd: float | None = None
    diem: float | None = None
    diem_epoch: float | None = Field(default=None, description="DIEM allocated per epoch")
    can_consume: bool
    currency: str | None = Field(default=None, description="What is spent first")


class KeySpend(Output):
    id: str | None = Field(default=None, description="Absent: Venice's web app (no key)")
    description: str = Field(description=FROM_VENICE)
    last6: str | None = Field(default=None, description="Absent if not an active key")
    inactive: bool | None = Field(default=None, description="True: revoked or expired since")
    usd: float
    diem: float
    usd_cap: float | None = None
    diem_cap: float | None = None
    period: LimitPeriod | None = Field(default=None, description="Cap period; only for capped keys")
    period_usd: str | None = Field(default=None, description="Spent this period (capped keys)")
    period_diem: str | None = None
    cap_used: int | None = Field(default=None, description="Percent of its tightest cap used this period")
    last_day: float | None = Field(default=None, description="Last day's chart figure; absent if not charted")
    baseline: float | None = Field(default=None, description="Median of its earlier days")
    jumped: bool | None = Field(default=None, description="True: last day > 3x baseline and >= 1")
    suspicious: bool | None = Field(default=None, description=SUSPICIOUS)


class SpendReport(Output):
    lookback: str
    balance: Balance | None = Field(default=None, description="Absent if Venice did not answer")
    missing: list[str] | None = Field(default=None, description="What could not be read, and why")
    usd: float = Field(description="Total over the lookback")
    diem: float
    spenders: int = Field(description="Keys (and the web app) that spent")
    jumped: int
    near_cap: int = Field(description="Keys at 80%+ of a cap this period")
    keys: list[KeySpend] = Field(description="Top spenders, then any jumped or near-cap key")


def register(kit: Kit) -> None:
    rt = kit.rt

    @kit.tool(title="Spend per key", toolset="spend")
    async def get_spend(
        lookback: Annotated[int, Field(ge=1, le=90, description="Days")] = 7,
        limit: Annotated[int, Field(ge=1, le=50, description="Top spenders shown")] = 10,
    ) -> Annotated[CallToolResult, SpendReport]:
        """Balance, top spenders, each key's spend against its cap, keys whose daily spend jumped."""
        found: dict[str, Any] = {}
        missing: list[str] = []
        failed: list[VeniceError] = []

        async def read(name: str, what: str | None, call: Any) -> None:
            try:
                found[name] = await call()
            except VeniceError as exc:
                if what is None:  # the analytics: without them there is no report
                    failed.append(exc)
                    return
                logger.info("get_spend: %s unavailable (%s)", what, exc)
                missing.append(f"{what}: {exc.message}")

        async with anyio.create_task_group() as tg:  # three reads at once: one wait, not three
            tg.start_soon(read, "usage", None, lambda: rt.client.get_usage_analytics(f"{lookback}d"))
            tg.start_soon(read, "balance", "balance", rt.client.get_billing_balance)
            tg.start_soon(read, "keys", "key list (caps, names)", rt.client.list_keys)
        if failed:
            raise failed[0]
        usage: UsageAnalytics = found["usage"]
        out = build_report(usage, found.get("balance"), found.get("keys"), limit=limit, missing=missing)
        return result(out, render(out))


def build_report(
    usage: UsageAnalytics,
    balance: BillingBalance | None,
    keys: list[ApiKey] | None,
    *,
    limit: int,
    missing: list[str] | None = None,
) -> SpendReport:
    """The report from what Venice answered; pure, so each rule is tested on its own data too."""
    active = {k.id: k for k in keys} if keys is not None else {}
    series = _daily_series(usage)
    rows = [_key_spend(u, active.get(u.api_key_id or ""), keys is not None, series) for u in usage.by_key]
    rows.sort(key=lambda r: r.usd + r.diem, reverse=True)
    shown = rows[:limit] + [r for r in rows[limit:] if r.jumped or _near(r)]
    listed_ids = {r.id for r in rows}
    capped_idle = [  # capped keys that spent nothing in the lookback (one may still be near its cap)
        _key_spend(venice.KeyUsage(apiKeyId=k.id, description=k.description), k, True, {})
        for k in active.values()
        if k.id not in listed_ids and k.current_period_usage is not None
    ]
    shown += [r for r in capped_idle if _near(r)]
    return SpendReport(
        lookback=usage.lookback,
        balance=Balance(
            usd=balance.balances.usd,
            diem=balance.balances.diem,
            diem_epoch=balance.diem_epoch_allocation or None,
            can_consume=balance.can_consume,
            currency=clean_untrusted(balance.consumption_currency, max_len=20)
            if balance.consumption_currency
            else None,
        )
        if balance is not None
        else None,
        missing=sorted(missing) if missing else None,  # the reads finish in any order
        usd=round(sum(r.usd for r in rows), 4),
        diem=round(sum(r.diem for r in rows), 4),
        spenders=len(rows),
        jumped=sum(1 for r in rows if r.jumped),
        near_cap=sum(1 for r in [*rows, *capped_idle] if _near(r)),
        keys=shown,
    )


def _near(r: KeySpend) -> bool:
    return r.cap_used is not None and r.cap_used >= NEAR_CAP * 100


def _daily_series(usage: UsageAnalytics) -> dict[str, list[tuple[datetime, float]]]:
    """Each charted description's days, oldest first; names two keys share, or "date", are left out."""
    counts: dict[str, int] = {}
    for u in usage.by_key:
        counts[u.description] = counts.get(u.description, 0) + 1
    days = sorted(
        (datetime.fromtimestamp(day["date"] / 1000, UTC), day)
        for day in usage.by_key_daily
        if isinstance(day.get("date"), int | float)
    )
    return {
        name: [(when, float(day.get(name, 0.0))) for when, day in days]
        for name in usage.top_key_names
        if name != "date" and counts.get(name) == 1
    }


def _jump(
    points: list[tuple[datetime, float]], created: datetime | None
) -> tuple[float | None, float | None, bool | None]:
    """(last day, baseline, jumped) by the rule in the module docstring; Nones when there is no verdict."""
    if not points:
        return None, None, None
    last = points[-1][1]
    start = created.astimezone(UTC).date() if created else None
    earlier = [v for when, v in points[:-1] if start is None or when.date() >= start]
    if len(earlier) < MIN_BASELINE_DAYS:
        return round(last, 4), None, None
    baseline = statistics.median(earlier)
    jumped = last >= JUMP_FLOOR and last > JUMP_FACTOR * baseline
    return round(last, 4), round(baseline, 4), True if jumped else None


def _key_spend(
    u: KeyUsage, key: ApiKey | None, keys_known: bool, series: dict[str, list[tuple[datetime, float]]]
) -> KeySpend:
    last, baseline, jumped = _jump(series.get(u.description, []), key.created_at if key else None)
    row: dict[str, Any] = {
        "id": u.api_key_id,
        "description": clean_untrusted(u.description, max_len=64),
        "usd": round(u.total_usd, 4),
        "diem": round(u.total_diem, 4),
        "last_day": last,
        "baseline": baseline,
        "jumped": jumped,
        "suspicious": flag(u.description),
    }
    if u.api_key_id is not None and keys_known and key is None:
        row["inactive"] = True
    if key is not None:
        row["last6"] = clean_untrusted(key.last6, max_len=6)
        lim, cur = key.consumption_limits, key.current_period_usage
        if lim.usd is not None or lim.diem is not None:
            row.update(usd_cap=lim.usd, diem_cap=lim.diem, period=key.limit_period)
            if cur is not None:
                row.update(period_usd=str(cur.usd), period_diem=str(cur.diem))
                shares = [
                    float(used) / cap
                    for used, cap in ((cur.usd, lim.usd), (cur.diem, lim.diem))
                    if cap is not None and cap > 0
                ]
                if shares:
                    row["cap_used"] = round(100 * max(shares))
    return KeySpend(**row)


def _money(usd: float, diem: float) -> str:
    return f"${usd:.2f}" + (f" + {diem:.4g} DIEM" if diem else "")


def render_row(r: KeySpend) -> str:
    """`<id> …abc123 «desc» $90.64 | cap $50/EPOCH: 98% used | last day 48.93 vs 8.1 JUMP`."""
    if r.id is None:
        who = f"web app {fence(r.description)}"
    elif r.inactive:
        who = f"{r.id} (not active: revoked or expired) {fence(r.description)}"
    else:
        who = " ".join(p for p in (r.id, f"…{r.last6}" if r.last6 else "", fence(r.description)) if p)
    parts = [f"{who} {_money(r.usd, r.diem)}"]
    if r.period is not None:
        used = f": {r.cap_used}% used" if r.cap_used is not None else ""
        parts.append(f"cap {caps(r.usd_cap, r.diem_cap)}/{r.period}{used}")
    elif r.id is not None and not r.inactive and r.last6:
        parts.append("no cap")
    if r.last_day is not None:
        parts.append(
            f"last day {r.last_day:.4g}"
            + (f" vs usual {r.baseline:.4g}" if r.baseline is not None else "")
            + (" JUMP" if r.jumped else "")
        )
    return " | ".join(parts) + (READS_LIKE if r.suspicious else "")


def render(out: SpendReport) -> str:
    lines = []
    b = out.balance
    if b is not None:
        money = [f"USD {b.usd:g}" if b.usd is not None else "no USD"]
        if b.diem is not None:
            money.append(f"DIEM {b.diem:g}" + (f" of {b.diem_epoch:g}/epoch" if b.diem_epoch else ""))
        if b.currency:
            money.append(f"spending {b.currency}")
        if not b.can_consume:
            money.append("CANNOT spend: balance empty")
        lines.append("Balance: " + "; ".join(money))
    for gap in out.missing or []:
        lines.append(f"Not read: {gap}")
    lines.append(
        f"Spend over {out.lookback}: {_money(out.usd, out.diem)} by {out.spenders} spenders; "
        f"{out.jumped} jumped (last day > {JUMP_FACTOR:g}x usual), {out.near_cap} at 80%+ of a cap."
    )
    if out.keys:
        lines.append(UNTRUSTED_NOTE)
        lines.extend(render_row(r) for r in out.keys)
    return "\n".join(lines)
