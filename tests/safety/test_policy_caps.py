"""The operator caps `VENICE_KEYS_MAX_USD` / `VENICE_KEYS_MAX_DIEM` (issue 12, finding 8).

`inf` or `nan` used to be accepted: `inf` bounds nothing, and a NaN compares false with
every cap, so either turned the maximum off while `doctor` showed one set. And a refusal
never said which limit period its cap was per (EPOCH resets daily, so "$20" on an EPOCH key
is $20 a day). The maximum bounds the per-period number as is, whatever the period.
"""

from __future__ import annotations

import math
import secrets
from datetime import UTC, datetime
from pathlib import Path

import pytest
from mcp import Client
from pydantic import ValidationError

from venice_keys_mcp.safety.policy import PolicyRefusal, PolicySettings, check_create, check_update
from venice_keys_mcp.server import build_server
from venice_keys_mcp.settings import Settings, SettingsError
from venice_keys_mcp.venice import KeyLimits

NOW = datetime(2026, 6, 1, tzinfo=UTC)
CURRENT = {
    "usd_limit": None,
    "diem_limit": 2.0,
    "limit_period": "LIFETIME",
    "expires_at": None,
    "model_privacy": "ALL",
}


def create(
    policy: PolicySettings, usd: float | None, diem: float | None = None, period: str | None = None
) -> None:
    limits = KeyLimits(usd_limit=usd, diem_limit=diem, limit_period=period)
    check_create(policy, key_type="INFERENCE", limits=limits, now=NOW)


def update(policy: PolicySettings, **changes: object) -> None:
    """`new_usd=5.0` changes the USD cap to 5; a field not named is unchanged."""
    names = {"new_usd": "usd_limit", "new_diem": "diem_limit", "new_limit_period": "limit_period"}
    limits = {names[k]: v for k, v in changes.items()}
    check_update(policy, key_id="k1", key_last6=None, now=NOW, current=CURRENT, changes=limits)


NON_FINITE = ["inf", "-inf", "nan", "NaN", "Infinity", "1e999", "+inf"]


@pytest.mark.parametrize("name", ["VENICE_KEYS_MAX_USD", "VENICE_KEYS_MAX_DIEM"])
@pytest.mark.parametrize("raw", NON_FINITE)
def test_non_finite_caps_are_refused_with_one_sentence_naming_the_variable(name: str, raw: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.load({name: raw})
    said = str(caught.value)
    assert said.startswith(f"Invalid {name}: ") and "finite number" in said
    assert "\n" not in said and said.count(". ") == 0  # one sentence


@pytest.mark.parametrize("raw", ["-1", "abc", "10000000000", "1,5"])
def test_other_unusable_caps_are_refused_too(raw: str) -> None:
    with pytest.raises(SettingsError, match="Invalid VENICE_KEYS_MAX_USD"):
        Settings.load({"VENICE_KEYS_MAX_USD": raw})


def test_a_secret_pasted_into_a_cap_is_not_repeated() -> None:
    canary = "VENICE_ADMIN_KEY_" + secrets.token_urlsafe(24)
    with pytest.raises(SettingsError) as caught:
        Settings.load({"VENICE_KEYS_MAX_DIEM": canary})
    assert canary not in str(caught.value) and canary[-12:] not in str(caught.value)


@pytest.mark.parametrize("raw", ["0", "25", "0.5", "9999999999"])
def test_finite_caps_still_load(raw: str) -> None:
    assert Settings.load({"VENICE_KEYS_MAX_USD": raw}).max_usd == float(raw)


@pytest.mark.parametrize("value", [math.inf, math.nan])
def test_non_finite_caps_are_refused_when_given_directly(value: float) -> None:
    with pytest.raises(ValidationError):
        Settings(max_usd=value)
    with pytest.raises(ValidationError):
        PolicySettings(max_diem=value)


@pytest.mark.parametrize(
    ("period", "per"),
    [(None, "per UTC day"), ("EPOCH", "per UTC day"), ("MONTH", "per calendar month"),
     ("LIFETIME", "in total, never reset")],
)  # fmt: skip
def test_a_create_refusal_says_which_period_the_cap_is_per(period: str | None, per: str) -> None:
    policy = PolicySettings(max_usd=20)
    with pytest.raises(PolicyRefusal) as caught:
        create(policy, usd=50, period=period)
    said = str(caught.value)
    assert f"$50 {per} (limit period {period or 'EPOCH'})" in said
    assert "whatever that period is" in said and caught.value.setting == "VENICE_KEYS_MAX_USD"


@pytest.mark.parametrize("period", ["EPOCH", "MONTH", "LIFETIME"])
def test_the_maximum_is_compared_as_is_whatever_the_period(period: str) -> None:
    """Decided: the maximum bounds the per-period number; it is not converted between periods."""
    policy = PolicySettings(max_usd=20, max_diem=3)
    create(policy, usd=20, diem=3, period=period)
    with pytest.raises(PolicyRefusal):
        create(policy, usd=20.01, diem=3, period=period)
    with pytest.raises(PolicyRefusal):
        create(policy, usd=20, diem=3.5, period=period)


def test_an_update_refusal_names_the_period_the_key_will_have() -> None:
    policy = PolicySettings(max_diem=3)
    with pytest.raises(PolicyRefusal, match=r"5 DIEM in total, never reset \(limit period LIFETIME\)"):
        update(policy, new_diem=5)
    with pytest.raises(PolicyRefusal, match=r"5 DIEM per calendar month \(limit period MONTH\)"):
        update(policy, new_diem=5, new_limit_period="MONTH")
    with pytest.raises(PolicyRefusal, match=r"Removing the DIEM cap .*LIFETIME: in total"):
        update(policy, new_diem=None)


def test_a_nan_cap_is_never_within_the_maximum() -> None:
    with pytest.raises(PolicyRefusal):
        create(PolicySettings(max_usd=20), usd=math.nan)


@pytest.mark.anyio
async def test_the_tool_refusal_over_mcp_says_the_period(tmp_path: Path) -> None:
    settings = Settings.load(
        {"VENICE_KEYS_MAX_USD": "20"},
        sandbox=True,
        secrets_dir=tmp_path / "secrets",
        audit_log=tmp_path / "audit.jsonl",
    )
    server = build_server(settings)
    async with Client(server, mode="legacy") as c:
        args = {"description": "monthly", "usd_limit": 50, "limit_period": "MONTH"}
        r = await c.call_tool("create_key", args)
    said = "\n".join(getattr(p, "text", "") for p in r.content)
    assert r.is_error and "VENICE_KEYS_MAX_USD" in said
    assert "$50 per calendar month (limit period MONTH)" in said
