"""`/api_keys/rate_limits` and its breach log: balances as the calling key sees them."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from venice_keys_mcp.sandbox.periods import current_usage
from venice_keys_mcp.sandbox.state import Account, StoredKey
from venice_keys_mcp.sandbox.wire import API, authenticate, iso, route, sandbox_state

BREACH_LOG_SHOWN = 50

# Per-model limits for the "paid" tier. Video and music models are limited elsewhere,
# so Venice lists them with an empty list; clients must accept that.
MODEL_LIMITS: list[tuple[str, list[tuple[str, int]]]] = [
    ("zai-org-glm-5-1", [("RPM", 50), ("RPD", 20000), ("TPM", 1000000)]),
    ("venice-uncensored", [("RPM", 75), ("RPD", 30000), ("TPM", 1500000)]),
    ("qwen3-235b-a22b-instruct-2507", [("RPM", 50), ("RPD", 20000), ("TPM", 750000)]),
    ("llama-3.3-70b", [("RPM", 100), ("RPD", 50000), ("TPM", 2000000)]),
    ("mistral-31-24b", [("RPM", 150), ("RPD", 75000), ("TPM", 2000000)]),
    ("qwen3-4b", [("RPM", 300), ("RPD", 150000), ("TPM", 3000000)]),
    ("text-embedding-bge-m3", [("RPM", 500), ("RPD", 200000), ("TPM", 5000000)]),
    ("flux-2-pro", [("RPM", 20), ("RPD", 5000)]),
    ("wan-2.5-preview-text-to-video", []),
    ("ace-step-v1-5-music", []),
]


def _remaining(cap: float | None, used: float) -> float | None:
    return None if cap is None else max(0.0, cap - used)


def clamped_balances(account: Account, key: StoredKey, now: datetime) -> dict[str, float]:
    """The account's balances, cut down to what the key may still spend this period."""
    used = current_usage(key, now)
    usd_left = _remaining(key.limits["usd"], used["usd"])
    diem_left = _remaining(key.limits["diem"], used["diem"])
    out: dict[str, float] = {}
    for currency, amount in account.balances.items():
        left = diem_left if currency == "DIEM" else usd_left  # bundled credits spend as USD
        out[currency] = round(amount if left is None else min(amount, left), 4)
    return out


def next_epoch(now: datetime) -> datetime:
    return datetime.combine(now.date() + timedelta(days=1), time(), now.tzinfo)


@route(f"{API}/rate_limits")
async def rate_limits(request: Request) -> JSONResponse:
    state = sandbox_state(request)
    key = authenticate(request, admin=False)
    account = state.accounts[key.account_id]
    balances = clamped_balances(account, key, state.now())
    data: dict[str, Any] = {
        "accessPermitted": any(amount > 0 for amount in balances.values()),
        "apiTier": {"id": account.tier, "isCharged": True},
        "balances": balances,
        "keyExpiration": iso(key.expires_at),
        "nextEpochBegins": iso(next_epoch(state.now())),
        "rateLimits": [
            {"apiModelId": model, "rateLimits": [{"type": kind, "amount": amount} for kind, amount in limits]}
            for model, limits in MODEL_LIMITS
        ],
    }
    return JSONResponse({"data": data})


@route(f"{API}/rate_limits/log")
async def breach_log(request: Request) -> JSONResponse:
    state = sandbox_state(request)
    key = authenticate(request, admin=True)
    entries = sorted(state.accounts[key.account_id].breaches, key=lambda e: e.timestamp, reverse=True)
    data = [
        {
            "apiKeyId": e.api_key_id,
            "modelId": e.model_id,
            "rateLimitTier": e.rate_limit_tier,
            "rateLimitType": e.rate_limit_type,
            "timestamp": iso(e.timestamp),
        }
        for e in entries[:BREACH_LOG_SHOWN]
    ]
    return JSONResponse({"object": "list", "data": data})
