"""Everything the sandbox remembers: accounts, keys, breach logs, wallets, windows, clock.

The state holds data and the few operations every route needs (create, find, revoke a
key); the HTTP rules live in the route modules. One event loop drives it, and no
operation awaits half-way, so a read-check-write sequence cannot interleave.
Secrets are never stored: a key is found by the SHA-256 of its secret.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from venice_keys_mcp.sandbox.faults import FaultPlan
from venice_keys_mcp.sandbox.periods import period_label

ADMIN = "ADMIN"
INFERENCE = "INFERENCE"
KEY_TYPES = (INFERENCE, ADMIN)
LIMIT_PERIODS = ("EPOCH", "MONTH", "LIFETIME")
MODEL_PRIVACY = ("ALL", "PRIVATE_TEXT", "PRIVATE_ONLY")
SECRET_PREFIX = {ADMIN: "VENICE_ADMIN_KEY_", INFERENCE: "VENICE_INFERENCE_KEY_"}
BREACH_LOG_KEPT = 100  # the API shows 50; keep a little more so "at most 50" is visible


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def no_limits() -> dict[str, float | None]:
    return {"usd": None, "diem": None, "vcu": None}


@dataclass
class StoredKey:
    """One API key as the service stores it: everything but the secret itself."""

    id: str
    account_id: str
    api_key_type: str
    description: str
    created_at: datetime
    secret_sha256: str
    last6: str
    seq: int
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    limits: dict[str, float | None] = field(default_factory=no_limits)
    limit_period: str = "EPOCH"
    model_privacy: str = "ALL"
    usage_7d: dict[str, float] = field(default_factory=lambda: {"usd": 0.0, "vcu": 0.0, "diem": 0.0})
    period_usage: dict[str, float] = field(default_factory=lambda: {"usd": 0.0, "diem": 0.0})
    # The limit period `period_usage` was counted in (see periods.py); read usage through
    # `periods.current_usage`, which resets it once that period is over.
    usage_period: str | None = None
    # Spend by UTC day (`YYYY-MM-DD` -> {"usd", "diem", "units"}), what `/billing/usage-analytics` sums.
    daily_spend: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass
class BreachEntry:
    """One rate-limit breach, as `GET /api_keys/rate_limits/log` reports it."""

    api_key_id: str
    model_id: str
    rate_limit_type: str
    timestamp: datetime
    rate_limit_tier: str = "paid"


@dataclass
class Account:
    """A Venice user: balances (a missing currency is simply not reported) and its breach log."""

    id: str
    balances: dict[str, float] = field(default_factory=dict)
    tier: str = "paid"
    breaches: list[BreachEntry] = field(default_factory=list)
    # `/billing/balance`'s DIEM allocation of the epoch (None: the account stakes nothing).
    diem_allocation: float | None = None
    # Spend made in Venice's web app, by no key (usage analytics' "Web App" line), by UTC day.
    web_app_spend: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass
class Wallet:
    """A wallet the sandbox knows: which account it belongs to and whether it holds staked VVV."""

    address: str
    account_id: str
    staked: bool


@dataclass
class DemoAccount:
    """The seeded account's credentials, printed by `serve` and used by tests."""

    admin_key: str
    inference_key: str
    admin_key_id: str
    wallet_address: str
    wallet_private_key: str
    unstaked_wallet_address: str
    unstaked_wallet_private_key: str
    account_id: str = "acct_demo"
    inference_key_id: str = ""


@dataclass
class RateWindows:
    """Ephemeral counters (never persisted): request budgets, failures, blocks, creations."""

    budget: dict[str, tuple[datetime, int]] = field(default_factory=dict)
    failures: dict[str, deque[datetime]] = field(default_factory=dict)
    blocked_until: dict[str, datetime] = field(default_factory=dict)
    key_client_errors: dict[str, deque[datetime]] = field(default_factory=dict)
    creations: dict[str, deque[datetime]] = field(default_factory=dict)


class ShiftableClock:
    """Wall-clock UTC time (or a given base clock) plus an offset that `advance` moves."""

    def __init__(self, base: Callable[[], datetime] | None = None, offset: timedelta = timedelta()) -> None:
        self.base = base
        self.offset = offset

    def __call__(self) -> datetime:
        now = self.base() if self.base is not None else datetime.now(UTC)
        return now + self.offset


class SandboxState:
    """All sandbox state; tests replace `.clock` or call `.advance(seconds)` to move time."""

    def __init__(self) -> None:
        self.clock: Callable[[], datetime] = ShiftableClock()
        self.faults = FaultPlan()
        self.accounts: dict[str, Account] = {}
        self.keys: dict[str, StoredKey] = {}
        self.wallets: dict[str, Wallet] = {}
        self.windows = RateWindows()
        self.jwt_secret: bytes = secrets.token_bytes(32)
        # Limits, all adjustable by tests. The request budget is generous so load tests
        # do not trip it; the others are Venice's documented values.
        self.request_budget = 5000
        self.create_limit_per_minute = 20
        self.max_active_keys = 500
        self.abuse_threshold = 20
        self.abuse_window_seconds = 30.0
        self.abuse_block_seconds = 30.0
        self.failed_requests_threshold = 50
        self.on_change: Callable[[], None] | None = None
        self._demo: DemoAccount | None = None
        self._by_secret: dict[str, str] = {}
        self._seq = 0

    # time -----------------------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock()

    def advance(self, seconds: float) -> datetime:
        """Move the sandbox clock forward (tokens expire, windows reset, keys expire)."""
        delta = timedelta(seconds=seconds)
        if isinstance(self.clock, ShiftableClock):
            self.clock.offset += delta
        else:
            self.clock = ShiftableClock(self.clock, delta)
        return self.now()

    # demo -------------------------------------------------------------------------------

    @property
    def demo(self) -> DemoAccount:
        if self._demo is None:
            raise RuntimeError("This sandbox state has no demo account; build it with seeded_state().")
        return self._demo

    @demo.setter
    def demo(self, value: DemoAccount) -> None:
        self._demo = value

    @property
    def has_demo(self) -> bool:
        return self._demo is not None

    # accounts and wallets ---------------------------------------------------------------

    def add_account(self, account_id: str | None = None, balances: dict[str, float] | None = None) -> Account:
        account = Account(id=account_id or f"acct_{uuid.uuid4().hex[:12]}", balances=dict(balances or {}))
        self.accounts[account.id] = account
        return account

    def add_wallet(self, address: str, account_id: str, *, staked: bool = True) -> Wallet:
        wallet = Wallet(address=address, account_id=account_id, staked=staked)
        self.wallets[address.lower()] = wallet
        return wallet

    def wallet(self, address: str) -> Wallet | None:
        return self.wallets.get(address.lower())

    # keys -------------------------------------------------------------------------------

    def create_key(
        self,
        account_id: str,
        *,
        api_key_type: str,
        description: str,
        expires_at: datetime | None = None,
        limits: dict[str, float | None] | None = None,
        limit_period: str = "EPOCH",
        model_privacy: str = "ALL",
        created_at: datetime | None = None,
        key_id: str | None = None,
    ) -> tuple[str, StoredKey]:
        """Create a key and return `(secret, key)`; the secret exists only in the return value."""
        if api_key_type not in KEY_TYPES:
            raise ValueError(f"api_key_type must be one of {KEY_TYPES}")
        secret = SECRET_PREFIX[api_key_type] + secrets.token_urlsafe(32)
        self._seq += 1
        key = StoredKey(
            id=key_id or str(uuid.uuid4()),
            account_id=account_id,
            api_key_type=api_key_type,
            description=description,
            created_at=created_at or self.now(),
            secret_sha256=sha256_hex(secret),
            last6=secret[-6:],
            seq=self._seq,
            expires_at=expires_at,
            limits={**no_limits(), **(limits or {})},
            limit_period=limit_period,
            model_privacy=model_privacy,
            usage_period=period_label(limit_period, self.now()),
        )
        self.insert_key(key)
        return secret, key

    def insert_key(self, key: StoredKey) -> None:
        """Add an already-built key (persistence uses this; so does `create_key`)."""
        self.keys[key.id] = key
        self._by_secret[key.secret_sha256] = key.id
        self._seq = max(self._seq, key.seq)

    def key_for_secret(self, secret: str) -> StoredKey | None:
        key_id = self._by_secret.get(sha256_hex(secret))
        return self.keys.get(key_id) if key_id else None

    def is_expired(self, key: StoredKey) -> bool:
        return key.expires_at is not None and key.expires_at <= self.now()

    def active_key(self, account_id: str, key_id: str) -> StoredKey | None:
        """The account's key with that id, unless it does not exist or has expired."""
        key = self.keys.get(key_id)
        if key is None or key.account_id != account_id or self.is_expired(key):
            return None
        return key

    def active_keys(self, account_id: str) -> list[StoredKey]:
        """The account's non-expired keys, newest first."""
        found = [k for k in self.keys.values() if k.account_id == account_id and not self.is_expired(k)]
        found.sort(key=lambda k: (k.created_at, k.seq), reverse=True)
        return found

    def revoke(self, key_id: str) -> None:
        key = self.keys.pop(key_id)
        self._by_secret.pop(key.secret_sha256, None)

    def touch(self, key: StoredKey) -> None:
        """Record that the key was just used (persisted with the next change or at shutdown)."""
        key.last_used_at = self.now()

    # breach log -------------------------------------------------------------------------

    def log_breach(self, account_id: str, entry: BreachEntry) -> None:
        log = self.accounts[account_id].breaches
        log.append(entry)
        del log[:-BREACH_LOG_KEPT]

    # persistence hook -------------------------------------------------------------------

    def changed(self) -> None:
        """Call after every change to accounts or keys; saves the state when a file is set."""
        if self.on_change is not None:
            self.on_change()
