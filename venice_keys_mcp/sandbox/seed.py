"""`seeded_state()`: a demo account with keys that exercise every branch a client has.

Spend history (`/billing/usage-analytics`) agrees with the keys: no spend before a key was
made or after it was last used; a capped key's days in its current period add up to its
`currentPeriodUsage`; `usage.trailingSevenDays` is the sum of its last seven days. One key,
"Nightly batch jobs", spends today about six times its usual day (and so nears its cap).

Secrets are generated at run time, never written down. The demo wallets are Hardhat's
well-known public development accounts #0 (staked) and #1 (unstaked): everyone knows
their keys, which is exactly why they are safe to print.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from venice_keys_mcp.sandbox.state import (
    ADMIN,
    INFERENCE,
    Account,
    BreachEntry,
    DemoAccount,
    SandboxState,
    StoredKey,
)

DEMO_ACCOUNT_ID = "acct_demo"
# Hardhat / Anvil default accounts: public test keys, never to hold real funds.
STAKED_WALLET = (
    "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
)
UNSTAKED_WALLET = (
    "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
)
LARGE_ACCOUNT = 100  # from this many keys on, the breach log is full
HISTORY_DAYS = 90  # the longest lookback Venice's usage analytics allows
DIEM_ALLOCATION = 20.0  # the demo account's DIEM per epoch (12.3456 of it left)
WEB_APP_DIEM_A_DAY = 0.8  # spend in Venice's web app, by no key


@dataclass
class _Spec:
    description: str
    api_key_type: str = INFERENCE
    age_days: float = 30
    last_used_days: float | None = 0.5
    expires_in_days: float | None = None
    limits: dict[str, float | None] = field(default_factory=dict)
    limit_period: str = "EPOCH"
    model_privacy: str = "ALL"
    period_usage: dict[str, float] = field(default_factory=dict)
    daily: dict[str, float] = field(default_factory=dict)  # a usual day's spend (usd/diem)


# The first two are the server's own ADMIN key and the demo INFERENCE key.
_SPECS = [
    _Spec("venice-keys-mcp server (admin)", ADMIN, age_days=210, last_used_days=0.01),
    _Spec(
        "Chat app - production",
        age_days=180,
        limits={"usd": 25},
        period_usage={"usd": 3.2, "diem": 0},
        daily={"usd": 3.0},
    ),
    _Spec("Staging backend (no cap)", age_days=150, last_used_days=1, daily={"usd": 6.0}),
    _Spec(
        "Hackathon demo - expires soon",
        age_days=12,
        last_used_days=0.2,
        expires_in_days=2.5,
        daily={"usd": 2.5},
    ),
    _Spec("Old analytics export", age_days=300, last_used_days=124, daily={"usd": 1.0}),
    _Spec("CI deploy bot", ADMIN, age_days=95, last_used_days=3),
    _Spec(
        "Nightly batch jobs",
        age_days=60,
        last_used_days=0.1,
        limits={"usd": 50},
        period_usage={"usd": 48.9312, "diem": 0},  # today: the jump against its usual $8 a day
        daily={"usd": 8.0},
    ),
    _Spec(
        "Research notebooks - monthly budget",
        age_days=45,
        limits={"usd": 200, "diem": 20},
        limit_period="MONTH",
        period_usage={"usd": 71.25, "diem": 4.5},
    ),
    _Spec(
        "Partner pilot - lifetime cap",
        age_days=40,
        last_used_days=6,
        limits={"usd": 500},
        limit_period="LIFETIME",
        period_usage={"usd": 123.4567, "diem": 0},
    ),
    _Spec(
        "Clinical notes summarizer (private only)",
        age_days=20,
        limits={"diem": 5},
        model_privacy="PRIVATE_ONLY",
        period_usage={"usd": 0, "diem": 1.75},
        daily={"diem": 1.5},
    ),
    _Spec(
        "Translation worker",
        age_days=18,
        limits={"vcu": 300},
        model_privacy="PRIVATE_TEXT",
        daily={"usd": 4.0},
    ),
    _Spec("Mobile app beta (never used)", age_days=7, last_used_days=None),
    _Spec("Q1 contractor access", age_days=120, last_used_days=15, expires_in_days=-10, daily={"usd": 5.0}),
]

_BREACHES = [  # (key index, model id, type, hours ago)
    (1, "zai-org-glm-5-1", "RPM", 2),
    (1, "zai-org-glm-5-1", "TPM", 5),
    (6, "llama-3.3-70b", "RPD", 11),
    (6, "endpoint:api/v1/chat/completions", "FAILED_REQUESTS", 20),
    (3, "model:unknown", "UNSUPPORTED_FEATURE_REQUESTS", 26),
    (2, "venice-uncensored", "RPM", 30),
    (7, "qwen3-235b-a22b-instruct-2507", "TPM", 41),
    (4, "endpoint:api/v1/image/generate", "FAILED_REQUESTS", 55),
    (9, "mistral-31-24b", "UNSUPPORTED_FEATURE_REQUESTS", 70),
    (1, "zai-org-glm-5-1", "RPM", 96),
    (5, "model:unknown", "FAILED_REQUESTS", 120),
    (8, "text-embedding-bge-m3", "RPD", 150),
]


def _usage(rng: random.Random, key: StoredKey, spec: _Spec, now: datetime) -> None:
    """The key's period usage, spend history and trailing week, all consistent (module docstring)."""
    key.period_usage = {"usd": 0.0, "diem": 0.0, **spec.period_usage}
    _history(rng, key, spec, now)
    week = [(now.date() - timedelta(days=n)).isoformat() for n in range(7)]
    usd = round(sum(key.daily_spend.get(d, {}).get("usd", 0.0) for d in week), 4)
    diem = round(sum(key.daily_spend.get(d, {}).get("diem", 0.0) for d in week), 4)
    key.usage_7d = {"usd": usd, "vcu": round(diem * 3.5, 4), "diem": diem}


def _history(rng: random.Random, key: StoredKey, spec: _Spec, now: datetime) -> None:
    if spec.last_used_days is None or not (spec.daily or spec.period_usage):
        return
    today = now.date()
    first = max(key.created_at.date(), today - timedelta(days=HISTORY_DAYS - 1))
    last = min(today, (now - timedelta(days=spec.last_used_days)).date())
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    in_period = _period_days(spec.limit_period, days, today)
    rates = dict(spec.daily)
    for currency, used in spec.period_usage.items():  # a MONTH or LIFETIME key spends evenly
        if spec.limit_period == "MONTH":
            rates[currency] = used / today.day  # even if it was last used before this month began
        elif spec.limit_period == "LIFETIME" and in_period:
            rates[currency] = used / len(in_period)
    for day in days:
        spend = {c: round(rates.get(c, 0.0) * rng.uniform(0.7, 1.3), 4) for c in ("usd", "diem")}
        key.daily_spend[day.isoformat()] = spend
    for currency, used in spec.period_usage.items():  # the current period adds up exactly
        if not in_period:
            key.daily_spend[today.isoformat()] = {"usd": 0.0, "diem": 0.0}
            in_period = [today]
        share = round(used / len(in_period), 4)
        for day in in_period:
            key.daily_spend[day.isoformat()][currency] = share
        key.daily_spend[in_period[-1].isoformat()][currency] = round(used - share * (len(in_period) - 1), 4)
    for spend in key.daily_spend.values():
        spend["units"] = round((spend["usd"] + spend["diem"]) * 40_000)


def _period_days(limit_period: str, days: list[date], today: date) -> list[date]:
    """The days of `days` in the key's current limit period (see sandbox/periods.py)."""
    if limit_period == "EPOCH":
        return [d for d in days if d == today]
    if limit_period == "MONTH":
        return [d for d in days if (d.year, d.month) == (today.year, today.month)]
    return list(days)


def _web_app(rng: random.Random, account: Account, now: datetime) -> None:
    for n in range(HISTORY_DAYS):
        diem = round(WEB_APP_DIEM_A_DAY * rng.uniform(0.5, 1.5), 4)
        day = (now.date() - timedelta(days=n)).isoformat()
        account.web_app_spend[day] = {"usd": 0.0, "diem": diem, "units": round(diem * 40_000)}


def seeded_state(
    *, key_count: int | None = None, seed: int | None = None, clock: Callable[[], datetime] | None = None
) -> SandboxState:
    """A fresh state with the demo account; `key_count` pads it to that many active keys.

    `clock` (default: wall-clock UTC) is the state's clock from the start, so a test can seed
    the account as it would look on any date (the spend history depends on the day of the month).
    """
    rng = random.Random(seed)
    spend_rng = random.Random(None if seed is None else seed + 1)  # spend does not move the key ids
    state = SandboxState()
    if clock is not None:
        state.clock = clock
    now = state.now()
    account = state.add_account(DEMO_ACCOUNT_ID, {"USD": 42.5, "DIEM": 12.3456, "BUNDLED_CREDITS": 5.0})
    account.diem_allocation = DIEM_ALLOCATION
    _web_app(spend_rng, account, now)
    state.add_wallet(STAKED_WALLET[0], account.id, staked=True)
    state.add_wallet(UNSTAKED_WALLET[0], account.id, staked=False)

    secrets: list[str] = []
    keys: list[StoredKey] = []
    for spec in _SPECS:
        secret, key = state.create_key(
            account.id,
            api_key_type=spec.api_key_type,
            description=spec.description,
            expires_at=None if spec.expires_in_days is None else now + timedelta(days=spec.expires_in_days),
            limits=spec.limits,
            limit_period=spec.limit_period,
            model_privacy=spec.model_privacy,
            created_at=now - timedelta(days=spec.age_days, minutes=rng.randint(0, 600)),
            key_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        )
        key.last_used_at = None if spec.last_used_days is None else now - timedelta(days=spec.last_used_days)
        _usage(spend_rng, key, spec, now)
        secrets.append(secret)
        keys.append(key)

    for index, model_id, kind, hours in _BREACHES:
        state.log_breach(
            account.id, BreachEntry(keys[index].id, model_id, kind, now - timedelta(hours=hours))
        )

    if key_count is not None:
        _pad(state, rng, account.id, key_count, now)
        if key_count >= LARGE_ACCOUNT:
            _fill_breach_log(state, rng, account.id, now)

    state.demo = DemoAccount(
        admin_key=secrets[0],
        inference_key=secrets[1],
        admin_key_id=keys[0].id,
        wallet_address=STAKED_WALLET[0],
        wallet_private_key=STAKED_WALLET[1],
        unstaked_wallet_address=UNSTAKED_WALLET[0],
        unstaked_wallet_private_key=UNSTAKED_WALLET[1],
        account_id=account.id,
        inference_key_id=keys[1].id,
    )
    return state


def _pad(state: SandboxState, rng: random.Random, account_id: str, key_count: int, now: datetime) -> None:
    missing = key_count - len(state.active_keys(account_id))
    for n in range(missing):
        _, key = state.create_key(
            account_id,
            api_key_type=INFERENCE,
            description=f"Load test key #{n + 1:03d}",
            created_at=now - timedelta(days=400, minutes=-n),  # older than the showcase keys
            key_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        )
        if n % 3:
            key.last_used_at = now - timedelta(hours=rng.randint(1, 2000))


def _fill_breach_log(state: SandboxState, rng: random.Random, account_id: str, now: datetime) -> None:
    key_ids = [k.id for k in state.active_keys(account_id)]
    models = [
        "zai-org-glm-5-1",
        "llama-3.3-70b",
        "venice-uncensored",
        "model:unknown",
        "endpoint:api/v1/embeddings",
    ]
    kinds = ["RPM", "TPM", "RPD", "FAILED_REQUESTS", "UNSUPPORTED_FEATURE_REQUESTS"]
    for n in range(60 - len(state.accounts[account_id].breaches)):
        entry = BreachEntry(
            rng.choice(key_ids), models[n % 5], kinds[(n // 5) % 5], now - timedelta(days=7, hours=n)
        )
        state.log_breach(account_id, entry)
