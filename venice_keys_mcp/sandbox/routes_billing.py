"""`/billing/balance` and `/billing/usage-analytics` (beta): the account's money, by day and by key.

Both answer bare objects (no `{"data": ...}` envelope), as Venice's billing endpoints do.
Usage comes from each key's `daily_spend` and the account's web-app spend (see seed.py);
keys revoked in the sandbox take their history with them, expired keys keep it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from venice_keys_mcp.sandbox.state import Account, SandboxState
from venice_keys_mcp.sandbox.wire import BILLING, ApiError, authenticate, route, sandbox_state

MAX_LOOKBACK_DAYS = 90
DEFAULT_LOOKBACK = "7d"
TOP_KEYS = 8  # the daily chart names this many keys, as Venice's does
WEB_APP = "Web App"
# Usage by model: the sandbox runs no models, so each day's spend is split between two.
MODEL_SPLIT = (("GLM 5.1", "LLM", 0.7), ("Venice Uncensored", "LLM", 0.3))
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@route(f"{BILLING}/balance")
async def balance(request: Request) -> JSONResponse:
    state = sandbox_state(request)
    key = authenticate(request, admin=True)
    account = state.accounts[key.account_id]
    usd = account.balances.get("USD")
    diem = account.balances.get("DIEM") if account.diem_allocation is not None else None
    currency = "DIEM" if diem else "USD" if usd else None
    return JSONResponse(
        {
            "canConsume": bool(diem and diem > 0) or bool(usd and usd > 0),
            "consumptionCurrency": currency,
            "balances": {"diem": diem, "usd": usd},
            "diemEpochAllocation": account.diem_allocation or 0,
        }
    )


def _bad(message: str, field: str) -> ApiError:
    return ApiError(400, message, details={"_errors": [], field: {"_errors": [message]}})


def _window(request: Request, today: date) -> tuple[str, list[date]]:
    """The days asked for, oldest first, and how the answer names them (`7d` or `start:end`)."""
    query = request.query_params
    start, end = query.get("startDate"), query.get("endDate")
    if start is not None or end is not None:
        if start is None or end is None:
            raise _bad(
                "startDate and endDate must be given together", "startDate" if start is None else "endDate"
            )
        try:
            first, last = date.fromisoformat(start), date.fromisoformat(end)
        except ValueError:
            raise _bad("Dates must be real dates in YYYY-MM-DD form", "startDate") from None
        if not (_DAY.match(start) and _DAY.match(end)) or first > last:
            raise _bad("startDate must be a YYYY-MM-DD date on or before endDate", "startDate")
        if (last - first).days >= MAX_LOOKBACK_DAYS:
            raise _bad(f"The range may span at most {MAX_LOOKBACK_DAYS} days", "endDate")
        return f"{start}:{end}", [first + timedelta(days=n) for n in range((last - first).days + 1)]
    lookback = query.get("lookback", DEFAULT_LOOKBACK)
    if not re.fullmatch(r"[1-9]\d*d", lookback) or int(lookback[:-1]) > MAX_LOOKBACK_DAYS:
        raise _bad(
            f'lookback must be a number of days followed by "d", at most {MAX_LOOKBACK_DAYS}d', "lookback"
        )
    days = int(lookback[:-1])
    return lookback, [today - timedelta(days=n) for n in range(days - 1, -1, -1)]


def _spenders(
    state: SandboxState, account: Account
) -> list[tuple[str | None, str, dict[str, dict[str, float]]]]:
    """(key id or None, description, spend by day) for every key of the account and the web app."""
    rows: list[tuple[str | None, str, dict[str, dict[str, float]]]] = [
        (k.id, k.description, k.daily_spend) for k in state.keys.values() if k.account_id == account.id
    ]
    rows.append((None, WEB_APP, account.web_app_spend))
    return rows


def _ms(day: date) -> int:
    return int(datetime.combine(day, datetime.min.time(), UTC).timestamp() * 1000)


@route(f"{BILLING}/usage-analytics")
async def usage_analytics(request: Request) -> JSONResponse:
    state = sandbox_state(request)
    key = authenticate(request, admin=False)  # any key: the answer is its whole account's
    account = state.accounts[key.account_id]
    label, days = _window(request, state.now().date())
    names = [d.isoformat() for d in days]

    by_key: list[dict[str, Any]] = []
    daily_by_name: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    by_date = {n: {"USD": 0.0, "DIEM": 0.0} for n in names}
    for key_id, description, spend in _spenders(state, account):
        totals = {"usd": 0.0, "diem": 0.0, "units": 0.0}
        for name in names:
            day = spend.get(name)
            if not day:
                continue
            for field in totals:
                totals[field] += day.get(field, 0.0)
            by_date[name]["USD"] += day.get("usd", 0.0)
            by_date[name]["DIEM"] += day.get("diem", 0.0)
        if not (totals["usd"] or totals["diem"]):
            continue
        by_key.append(
            {
                "apiKeyId": key_id,
                "description": description,
                "totalUsd": round(totals["usd"], 4),
                "totalDiem": round(totals["diem"], 4),
                "totalUnits": round(totals["units"]),
                "_daily": spend,
            }
        )
    by_key.sort(key=lambda row: row["totalUsd"] + row["totalDiem"], reverse=True)
    top = by_key[:TOP_KEYS]
    top_names = list(dict.fromkeys(row["description"] for row in top))
    for row in top:  # the chart is keyed by description: two keys of one name add up
        for name in names:
            day = row["_daily"].get(name) or {}
            daily_by_name[name][row["description"]] += day.get("usd", 0.0) + day.get("diem", 0.0)
    for row in by_key:
        del row["_daily"]

    total_usd = sum(row["totalUsd"] for row in by_key)
    total_diem = sum(row["totalDiem"] for row in by_key)
    total_units = sum(row["totalUnits"] for row in by_key)
    by_model = [
        {
            "modelName": model,
            "unitType": "tokens",
            "modelType": kind,
            "totalUsd": round(total_usd * share, 4),
            "totalDiem": round(total_diem * share, 4),
            "totalUnits": round(total_units * share),
        }
        for model, kind, share in MODEL_SPLIT
        if total_usd or total_diem
    ]
    return JSONResponse(
        {
            "lookback": label,
            "byDate": [
                {"date": n, "USD": round(v["USD"], 4), "DIEM": round(v["DIEM"], 4)}
                for n, v in by_date.items()
            ],
            "byModel": by_model,
            "byModelDaily": [
                {
                    "date": _ms(day),
                    **{
                        model: round(
                            (by_date[day.isoformat()]["USD"] + by_date[day.isoformat()]["DIEM"]) * share, 4
                        )
                        for model, _, share in MODEL_SPLIT
                    },
                }
                for day in days
            ]
            if by_model
            else [],
            "topModels": [m["modelName"] for m in by_model],
            "byKey": by_key,
            "byKeyDaily": [
                {"date": _ms(day), **{n: round(daily_by_name[day.isoformat()][n], 4) for n in top_names}}
                for day in days
            ]
            if top_names
            else [],
            "topKeyNames": top_names,
        }
    )
