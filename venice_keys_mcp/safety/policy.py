"""Operator policy: what the agent may not do at all, whatever a human confirms.

Confirmation asks a person about one call; policy is the operator's standing answer.
Each refusal names the setting that governs it and how to change it, so a person who
hits one knows where to look. Works on plain values: no MCP, no HTTP.

What `VENICE_KEYS_MAX_USD` / `VENICE_KEYS_MAX_DIEM` mean: Venice enforces a key's cap per
limit period (EPOCH: each UTC day, the default; MONTH: each calendar month; LIFETIME:
once, never reset). The operator's maximum bounds that number, in the key's own period,
and is compared as is whatever the period: a maximum of 20 allows $20 a day on an EPOCH
key, $20 a month on a MONTH key, $20 in all on a LIFETIME key. It is not converted
between periods, since Venice does not convert either; refusals say which period the
cap is per, so nobody reads a daily cap as a total. Moving a capped key to a period that
resets more often is a widening, which a person must approve.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta

from pydantic import BaseModel, Field

from venice_keys_mcp.settings import env_name
from venice_keys_mcp.venice.models import KeyLimits, parse_expiry

__all__ = [
    "PolicyRefusal",
    "PolicySettings",
    "check_create",
    "check_revoke",
    "check_update",
    "describe_widening",
]

READ_ONLY_ENV = env_name("read_only")
ALLOW_ADMIN_KEYS_ENV = env_name("allow_admin_keys")
MAX_USD_ENV = env_name("max_usd")
MAX_DIEM_ENV = env_name("max_diem")
MAX_EXPIRY_DAYS_ENV = env_name("max_expiry_days")
#: Refusals that protect the server's own key name the setting that chose that key.
OWN_KEY_SETTING = env_name("admin_key")


class PolicySettings(BaseModel):
    """The policy knobs, taken from `Settings`; `own_key_*` identify the server's own key."""

    read_only: bool = False
    allow_admin_keys: bool = False
    max_usd: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    max_diem: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    max_expiry_days: int | None = None
    own_key_last6: str | None = None
    own_key_id: str | None = None


class PolicyRefusal(Exception):
    """A call this server's policy forbids; `setting` is the variable that governs it."""

    def __init__(self, message: str, setting: str) -> None:
        super().__init__(message)
        self.message = message
        self.setting = setting


# -- checks ----------------------------------------------------------------------------


def check_create(settings: PolicySettings, *, key_type: str, limits: KeyLimits, now: datetime) -> None:
    """Refuse a key creation the policy forbids (raises `PolicyRefusal`).

    The limit period (None: Venice's default, EPOCH) only changes how a refusal words the cap.
    """
    _check_writable(settings)
    if key_type.upper() == "ADMIN" and not settings.allow_admin_keys:
        raise PolicyRefusal(
            "Creating ADMIN keys is turned off on this server: an ADMIN key can create and revoke every "
            f"other key. Create an INFERENCE key, or have the operator set {ALLOW_ADMIN_KEYS_ENV}=1.",
            ALLOW_ADMIN_KEYS_ENV,
        )
    period = limits.limit_period or "EPOCH"
    _check_cap("USD", limits.usd_limit, settings.max_usd, MAX_USD_ENV, removing=False, period=period)
    _check_cap("DIEM", limits.diem_limit, settings.max_diem, MAX_DIEM_ENV, removing=False, period=period)
    _check_expiry(limits.expires_at, settings.max_expiry_days, now, removing=False)


def check_update(
    settings: PolicySettings,
    *,
    key_id: str,
    key_last6: str | None,
    changes: Mapping[str, object],
    now: datetime,
    current: KeyLimits | Mapping[str, object] | None = None,
) -> None:
    """Refuse an update the policy forbids (raises `PolicyRefusal`).

    `changes` holds only the fields being changed, by `KeyLimits` names; None removes a
    cap or the expiry. `current` holds the key's present values (see `describe_widening`);
    it is needed to judge changes to the server's own key, which may be narrowed but never
    widened.
    """
    _check_writable(settings)
    after = {name: value for name, value in changes.items() if name in KeyLimits.NAMES}
    now_values = _values(current) if current is not None else None
    if after and is_own_key(settings, key_id, key_last6):
        _check_own_key_update(after, now_values)
    period = str(after.get("limit_period") or (now_values or {}).get("limit_period") or "EPOCH")
    if "usd_limit" in after:
        _check_cap("USD", after["usd_limit"], settings.max_usd, MAX_USD_ENV, removing=True, period=period)  # type: ignore[arg-type]
    if "diem_limit" in after:
        _check_cap("DIEM", after["diem_limit"], settings.max_diem, MAX_DIEM_ENV, removing=True, period=period)  # type: ignore[arg-type]
    if "expires_at" in after:
        _check_expiry(_as_datetime(after["expires_at"]), settings.max_expiry_days, now, removing=True)


def _values(limits: KeyLimits | Mapping[str, object]) -> Mapping[str, object]:
    return limits.values() if isinstance(limits, KeyLimits) else limits


def check_revoke(settings: PolicySettings, *, key_id: str, key_last6: str | None) -> None:
    """Refuse revoking the server's own key, which would lock the server out."""
    _check_writable(settings)
    if is_own_key(settings, key_id, key_last6):
        raise PolicyRefusal(
            f"Key {key_id} is the admin key this server runs with ({OWN_KEY_SETTING}); revoking it would "
            "lock the server out, so it refuses. Revoke it in the Venice dashboard, or restart the server "
            f"with a different {OWN_KEY_SETTING} first.",
            OWN_KEY_SETTING,
        )


def _check_writable(settings: PolicySettings) -> None:
    if settings.read_only:
        raise PolicyRefusal(
            f"This server is read-only ({READ_ONLY_ENV}=1): it changes no keys. "
            f"Ask the operator to unset {READ_ONLY_ENV} to allow changes.",
            READ_ONLY_ENV,
        )


def is_own_key(settings: PolicySettings, key_id: str, key_last6: str | None) -> bool:
    by_id = settings.own_key_id is not None and key_id == settings.own_key_id
    by_last6 = settings.own_key_last6 is not None and key_last6 == settings.own_key_last6
    return by_id or by_last6


def _check_own_key_update(after: Mapping[str, object], current: Mapping[str, object] | None) -> None:
    dashboard = "Change it in the Venice dashboard instead."
    if "expires_at" in after:
        # Extending widens it; adding or shortening an expiry could lock the server out.
        raise PolicyRefusal(
            f"This is the admin key the server runs with ({OWN_KEY_SETTING}); the server does not change "
            f"its own key's expiry, since that could lock it out or extend its own access. {dashboard}",
            OWN_KEY_SETTING,
        )
    if current is None:
        raise PolicyRefusal(
            f"This is the admin key the server runs with ({OWN_KEY_SETTING}), and its current settings are "
            f"unknown, so the server cannot show the change only narrows it. {dashboard}",
            OWN_KEY_SETTING,
        )
    widening = describe_widening(current, after)
    if widening:
        raise PolicyRefusal(
            f"This is the admin key the server runs with ({OWN_KEY_SETTING}); the server may narrow its own "
            f"key but never widen it, and this change {'; '.join(widening)}. {dashboard}",
            OWN_KEY_SETTING,
        )


#: How each limit period bounds spending, for refusals: "$20 {per}".
PERIOD_PER = {"EPOCH": "per UTC day", "MONTH": "per calendar month", "LIFETIME": "in total, never reset"}


def _check_cap(
    unit: str, value: float | None, maximum: float | None, env: str, *, removing: bool, period: str = "EPOCH"
) -> None:
    """Refuse a cap above `maximum` (or none at all). The comparison is per limit period, as is:
    see the module docstring; the refusal names the period so the number reads right."""
    if maximum is None:
        return
    per = PERIOD_PER.get(period, "per limit period")
    meaning = (
        f"{env} bounds the cap Venice enforces in the key's own limit period ({period}: {per}), "
        "whatever that period is"
    )
    if value is None:
        action = "Removing the" if removing else "A key without a"
        raise PolicyRefusal(
            f"{action} {unit} cap is not allowed here: this server requires every key to have a {unit} cap "
            f"of at most {_amount(unit, maximum)} ({meaning}). Set a cap within it, or have the operator "
            f"change {env}.",
            env,
        )
    if not value <= maximum:  # written so that a NaN is refused too
        raise PolicyRefusal(
            f"A {unit} cap of {_amount(unit, value)} {per} (limit period {period}) is above this server's "
            f"maximum of {_amount(unit, maximum)} ({meaning}). Use a lower cap, or have the operator "
            f"raise {env}.",
            env,
        )


def _check_expiry(
    expires_at: datetime | None, max_days: int | None, now: datetime, *, removing: bool
) -> None:
    if max_days is None:
        return
    if expires_at is None:
        action = "Removing the expiry" if removing else "A key that never expires"
        raise PolicyRefusal(
            f"{action} is not allowed here: this server requires every key to expire within {max_days} days "
            f"({MAX_EXPIRY_DAYS_ENV}). Set an expiry, or have the operator change {MAX_EXPIRY_DAYS_ENV}.",
            MAX_EXPIRY_DAYS_ENV,
        )
    limit = _utc(now) + timedelta(days=max_days)
    if _utc(expires_at) > limit:
        raise PolicyRefusal(
            f"An expiry of {_when(expires_at)} is later than this server allows: at most {max_days} days "
            f"from now, {_when(limit)} ({MAX_EXPIRY_DAYS_ENV}). Choose an earlier date, or have the operator "
            f"raise {MAX_EXPIRY_DAYS_ENV}.",
            MAX_EXPIRY_DAYS_ENV,
        )


# -- what widens a key -----------------------------------------------------------------

#: Narrowest first. PRIVATE_ONLY < PRIVATE_TEXT < ALL.
_PRIVACY_RANK = {"PRIVATE_ONLY": 0, "PRIVATE_TEXT": 1, "ALL": 2}
#: Narrowest first: a cap that never resets allows least, one that resets daily most.
_PERIOD_RANK = {"LIFETIME": 0, "MONTH": 1, "EPOCH": 2}
_PERIOD_WORDS = {"LIFETIME": "never resets", "MONTH": "resets monthly", "EPOCH": "resets daily"}
_MISSING = object()


def describe_widening(before: KeyLimits | Mapping[str, object], after: Mapping[str, object]) -> list[str]:
    """Sentences for each change in `after` that lets the key do or spend more.

    Both speak `KeyLimits` names: `usd_limit`, `diem_limit` (a cap, None = no cap),
    `expires_at` (datetime, ISO string, "" or None = never), `model_privacy` and
    `limit_period`. `before` should hold the key's current values; a field missing there
    is treated as narrowest, so any change to it counts. `after` holds only the fields
    being changed. An empty list means the change only narrows the key (or changes nothing).
    """
    before, changes = _values(before), after
    out: list[str] = []
    for field, unit in (("usd_limit", "USD"), ("diem_limit", "DIEM")):
        if field in changes:
            out += _cap_widening(unit, before.get(field, _MISSING), changes[field])
    if "expires_at" in changes:
        out += _expiry_widening(before.get("expires_at", _MISSING), changes["expires_at"])
    if "model_privacy" in changes:
        out += _rank_widening(
            "model access",
            _PRIVACY_RANK,
            "ALL",
            before.get("model_privacy", _MISSING),
            changes["model_privacy"],
        )
    if "limit_period" in changes and _has_cap_after(before, changes):
        b, a = before.get("limit_period", _MISSING), changes["limit_period"]
        for sentence in _rank_widening("the limit period", _PERIOD_RANK, "EPOCH", b, a):
            words = _PERIOD_WORDS.get(str(a or "EPOCH"), "")
            out.append(f"{sentence}: the cap {words}" if words else sentence)
    return out


def _cap_widening(unit: str, before: object, after: object) -> list[str]:
    if before is _MISSING:
        if after is None:
            return [f"removes the {unit} cap"]
        return [f"sets the {unit} cap to {_amount(unit, after)} (the current cap is unknown)"]
    if after is None:
        return [] if before is None else [f"removes the {unit} cap (was {_amount(unit, before)})"]
    if before is not None and float(after) > float(before):  # type: ignore[arg-type]
        return [f"raises the {unit} cap from {_amount(unit, before)} to {_amount(unit, after)}"]
    return []


def _expiry_widening(before: object, after: object) -> list[str]:
    new = _as_datetime(after)
    if before is _MISSING:
        if new is None:
            return ["removes the expiry"]
        return [f"sets the expiry to {_when(new)} (the current expiry is unknown)"]
    old = _as_datetime(before)
    if new is None:
        return [] if old is None else [f"removes the expiry (was {_when(old)})"]
    if old is not None and new > old:
        return [f"extends the expiry from {_when(old)} to {_when(new)}"]
    return []


def _rank_widening(
    what: str, ranks: Mapping[str, int], default: str, before: object, after: object
) -> list[str]:
    new = str(after) if after is not None else default
    new_rank = ranks.get(new, len(ranks))  # an unknown value counts as widest
    if before is _MISSING:
        if new_rank > 0:
            return [f"sets {what} to {new} (the current setting is unknown)"]
        return []
    old = str(before) if before is not None else default
    if new_rank > ranks.get(old, len(ranks)):
        return [f"widens {what} from {old} to {new}"]
    return []


def _has_cap_after(before: Mapping[str, object], changes: Mapping[str, object]) -> bool:
    """Whether a spending cap remains for the limit period to apply to."""
    for field in KeyLimits.CAPS:
        value = changes.get(field, before.get(field, _MISSING))
        if value is not None:
            return True
    return False


def _as_datetime(value: object) -> datetime | None:
    if value is None or value == "" or value is _MISSING:
        return None
    if isinstance(value, datetime):
        return _utc(value)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        when = parse_expiry(value.strip())
        return _utc(when) if when else None
    raise TypeError(f"not an expiry: {value!r}")


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _when(value: datetime) -> str:
    return _utc(value).strftime("%Y-%m-%d %H:%M UTC")


def _amount(unit: str, value: object) -> str:
    number = f"{float(value):,.2f}".rstrip("0").rstrip(".")  # type: ignore[arg-type]
    return f"${number}" if unit == "USD" else f"{number} DIEM"
