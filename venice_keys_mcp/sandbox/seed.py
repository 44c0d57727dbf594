"""`seeded_state()`: a demo account with keys that exercise every branch a client has.

Secrets are generated at run time, never written down. The demo wallets are Hardhat's
well-known public development accounts #0 (staked) and #1 (unstaked): everyone knows
their keys, which is exactly why they are safe to print.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from venice_keys_mcp.sandbox.state import ADMIN, INFERENCE, BreachEntry, DemoAccount, SandboxState, StoredKey

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


# The first two are the server's own ADMIN key and the demo INFERENCE key.
_SPECS = [
    _Spec("venice-keys-mcp server (admin)", ADMIN, age_days=210, last_used_days=0.01),
    _Spec("Chat app - production", age_days=180, limits={"usd": 25}, period_usage={"usd": 3.2, "diem": 0}),
    _Spec("Staging backend (no cap)", age_days=150, last_used_days=1),
    _Spec("Hackathon demo - expires soon", age_days=12, last_used_days=0.2, expires_in_days=2.5),
    _Spec("Old analytics export", age_days=300, last_used_days=124),
    _Spec("CI deploy bot", ADMIN, age_days=95, last_used_days=3),
    _Spec(
        "Nightly batch jobs",
        age_days=60,
        last_used_days=0.1,
        limits={"usd": 50},
        period_usage={"usd": 48.9312, "diem": 0},
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
    ),
    _Spec("Translation worker", age_days=18, limits={"vcu": 300}, model_privacy="PRIVATE_TEXT"),
    _Spec("Mobile app beta (never used)", age_days=7, last_used_days=None),
    _Spec("Q1 contractor access", age_days=120, last_used_days=15, expires_in_days=-10),
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


def _usage(rng: random.Random, key: StoredKey, spec: _Spec) -> None:
    key.period_usage = {"usd": 0.0, "diem": 0.0, **spec.period_usage}
    if spec.last_used_days is None or spec.last_used_days > 7:
        return  # idle keys have no trailing-week usage
    usd = round(rng.uniform(0.5, 90), 4)
    diem = round(rng.uniform(0, 12), 4)
    key.usage_7d = {"usd": usd, "vcu": round(diem * 3.5, 4), "diem": diem}


def seeded_state(*, key_count: int | None = None, seed: int | None = None) -> SandboxState:
    """A fresh state with the demo account; `key_count` pads it to that many active keys."""
    rng = random.Random(seed)
    state = SandboxState()
    now = state.now()
    account = state.add_account(DEMO_ACCOUNT_ID, {"USD": 42.5, "DIEM": 12.3456, "BUNDLED_CREDITS": 5.0})
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
        _usage(rng, key, spec)
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
