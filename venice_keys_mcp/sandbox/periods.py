"""Limit periods: which period a key's `period_usage` counts, and its roll-over.

EPOCH resets at each UTC midnight, MONTH at 00:00 UTC on the 1st, LIFETIME never.
A key stores the label of the period its usage was counted in (a plain string, so the
state file keeps it with no special handling); `current_usage` compares it with the
label of the period the sandbox clock is in now and starts from zero when they differ.
Every reader of period usage goes through `current_usage`, so moving the clock
(`SandboxState.advance`) is enough to roll a period over.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from venice_keys_mcp.sandbox.state import StoredKey


def period_label(limit_period: str, now: datetime) -> str:
    """`EPOCH 2026-04-20`, `MONTH 2026-04` or `LIFETIME`: equal labels mean the same period."""
    day = now.astimezone(UTC)
    if limit_period == "EPOCH":
        return f"EPOCH {day:%Y-%m-%d}"
    if limit_period == "MONTH":
        return f"MONTH {day:%Y-%m}"
    return "LIFETIME"


def roll_over(key: StoredKey, now: datetime) -> None:
    """Zero the key's period usage if its period ended since the usage was counted.

    A key with no label yet (one saved before labels existed) keeps its usage and is
    stamped with the current period: nothing says that period has ended.
    """
    label = period_label(key.limit_period, now)
    if key.usage_period is not None and key.usage_period != label:
        key.period_usage = {name: 0.0 for name in key.period_usage}
    key.usage_period = label


def current_usage(key: StoredKey, now: datetime) -> dict[str, float]:
    """What the key has spent in the period `now` falls in (`{"usd": ..., "diem": ...}`)."""
    roll_over(key, now)
    return key.period_usage


def change_period(key: StoredKey, limit_period: str, now: datetime) -> None:
    """Switch the key's limit period, carrying the usage counted in the period now ending.

    Venice does not document what a switch does to usage; carrying it is the choice
    that never hands a key a fresh budget it would not otherwise have.
    """
    roll_over(key, now)
    key.limit_period = limit_period
    key.usage_period = period_label(limit_period, now)
