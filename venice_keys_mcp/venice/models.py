"""Pydantic models mirroring the `/api_keys` and `/billing` subsets of Venice's OpenAPI files.

Response models are lenient about extra fields (Venice adds fields over time and a new
field must not break an admin tool); request models are strict, like Venice itself.
Field names follow Python style with the wire names as aliases.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from venice_keys_mcp.settings import MAX_CAP

KeyType = Literal["INFERENCE", "ADMIN"]
LimitPeriod = Literal["EPOCH", "MONTH", "LIFETIME"]
ModelPrivacy = Literal["ALL", "PRIVATE_TEXT", "PRIVATE_ONLY"]

MAX_DESCRIPTION = 64

#: What a Venice key id may look like. Venice issues UUIDs; any short run of letters, digits,
#: `-` and `_` is accepted, and nothing else: no `.`, `/`, `%`, space or control character, so
#: an id can never break a URL path, a query, a file name or a log line, and never be so long
#: that shortening it (for a file name) makes two ids collide.
KEY_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
KEY_ID_RULE = "1 to 64 letters, digits, '-' or '_'"
_KEY_ID_RE = re.compile(KEY_ID_PATTERN)


def is_key_id(value: object) -> bool:
    """Whether `value` can be a Venice key id (see `KEY_ID_PATTERN`)."""
    return isinstance(value, str) and _KEY_ID_RE.fullmatch(value) is not None


def _checked_key_id(value: str) -> str:
    if not is_key_id(value):
        # Never repeat the value: it came from the wire and may be hostile or huge.
        raise ValueError(f"is not a Venice key id ({KEY_ID_RULE})")
    return value


#: A key id in an answer: one that is not a Venice key id makes the answer unreadable.
KeyIdField = Annotated[str, AfterValidator(_checked_key_id)]


# `defer_build`: each model's validator is built on its first use, not at import. Start-up
# (an MCP host listing tools) uses none of them, and building all of them took about 4 ms.


class _Wire(BaseModel):
    """Response side: accept aliases or field names, ignore unknown fields."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True, defer_build=True)


class _Request(BaseModel):
    """Request side: strict, serialised by alias."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid", defer_build=True)


class ConsumptionLimits(_Wire):
    """Caps on spend; `None` means no cap. `vcu` is deprecated but always present."""

    usd: float | None = None
    diem: float | None = None
    vcu: float | None = None


class UsageFigures(_Wire):
    usd: Decimal
    vcu: Decimal | None = None
    diem: Decimal


class Usage(_Wire):
    trailing_seven_days: UsageFigures = Field(alias="trailingSevenDays")


class PeriodUsage(_Wire):
    usd: Decimal
    diem: Decimal


class KeyLimits(BaseModel):
    """What a key may spend and do, by the names of the tools' arguments: one vocabulary.

    Tools, policy and the approval texts all speak of `usd_limit`, `diem_limit`,
    `limit_period`, `model_privacy` and `expires_at`; Venice's spelling of them
    (`consumptionLimits.usd`, `limitPeriod`, ...) is read in one place (`ApiKey.limits`)
    and written in one place (`request_fields`). None: no cap, no expiry, or Venice's
    default period (EPOCH) and privacy (ALL).
    """

    model_config = ConfigDict(frozen=True, defer_build=True)

    NAMES: ClassVar[tuple[str, ...]] = (
        "usd_limit",
        "diem_limit",
        "limit_period",
        "model_privacy",
        "expires_at",
    )
    CAPS: ClassVar[tuple[str, ...]] = ("usd_limit", "diem_limit")

    usd_limit: float | None = None
    diem_limit: float | None = None
    limit_period: LimitPeriod | None = None
    model_privacy: ModelPrivacy | None = None
    expires_at: datetime | None = None

    def values(self) -> dict[str, Any]:
        """Every field by name, None included (a key's present state, for comparing)."""
        return {name: getattr(self, name) for name in self.NAMES}

    def request_fields(self, patch: tuple[str, ...] = ()) -> dict[str, Any]:
        """These limits as fields of a create, mint or patch request (`CreateKeyRequest(**fields)`).

        A new key (no `patch`) sends the fields that are set. A patch sends the fields it
        names, None meaning "remove"; when it names either cap it sends both (this object
        holds the key's other cap as it is), since Venice may replace `consumptionLimit` whole.
        """
        names = patch or tuple(n for n in self.NAMES if getattr(self, n) is not None)
        fields: dict[str, Any] = {}
        if any(cap in names for cap in self.CAPS):
            caps = {"usd": self.usd_limit, "diem": self.diem_limit}
            fields["consumption_limit"] = LimitsInput(
                **(caps if patch else {k: v for k, v in caps.items() if v is not None})
            )
        if "expires_at" in names:
            fields["expires_at"] = wire_time(self.expires_at)
        for name in ("limit_period", "model_privacy"):
            if name in names and getattr(self, name) is not None:
                fields[name] = getattr(self, name)
        return fields


def parse_expiry(value: str | None) -> datetime | None:
    """Venice's `expiresAt` forms (`YYYY-MM-DD`, or with `THH:MM:SS[.mmm]Z`) as UTC; "" or None: none."""
    if not value:
        return None
    if len(value) == 10:
        return datetime.combine(date.fromisoformat(value), time(0, 0), tzinfo=UTC)
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def wire_time(when: datetime | None) -> str | None:
    """Venice's `expiresAt` form: a date at midnight UTC, else the time to the second (or millisecond)."""
    if when is None:
        return None
    if (when.hour, when.minute, when.second, when.microsecond) == (0, 0, 0, 0):
        return when.strftime("%Y-%m-%d")
    if when.microsecond:
        return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


class ApiKey(_Wire):
    """A key as `GET /api_keys`, `GET /api_keys/{id}` and `PATCH /api_keys` return it (masked)."""

    id: KeyIdField
    api_key_type: KeyType = Field(alias="apiKeyType")
    description: str = ""
    created_at: datetime | None = Field(default=None, alias="createdAt")
    expires_at: datetime | None = Field(default=None, alias="expiresAt")
    last_used_at: datetime | None = Field(default=None, alias="lastUsedAt")
    last6: str = Field(alias="last6Chars")
    consumption_limits: ConsumptionLimits = Field(alias="consumptionLimits")
    limit_period: LimitPeriod = Field(default="EPOCH", alias="limitPeriod")
    model_privacy: ModelPrivacy = Field(default="ALL", alias="modelPrivacy")
    usage: Usage | None = None
    current_period_usage: PeriodUsage | None = Field(default=None, alias="currentPeriodUsage")

    @property
    def limits(self) -> KeyLimits:
        """What this key may spend and do, in the tools' and the policy's words."""
        c = self.consumption_limits
        return KeyLimits(
            usd_limit=c.usd,
            diem_limit=c.diem,
            limit_period=self.limit_period,
            model_privacy=self.model_privacy,
            expires_at=self.expires_at,
        )


class CreatedKey(_Wire):
    """The answer to a create or a web3 mint: the only time Venice shows the secret.

    `secret` is excluded from `repr` so that a log line or traceback that prints the
    model never prints the secret.
    """

    id: KeyIdField
    secret: str = Field(alias="apiKey", repr=False)
    api_key_type: KeyType = Field(alias="apiKeyType")
    description: str = ""
    expires_at: datetime | None = Field(default=None, alias="expiresAt")
    consumption_limit: ConsumptionLimits = Field(alias="consumptionLimit")
    limit_period: LimitPeriod = Field(default="EPOCH", alias="limitPeriod")
    model_privacy: ModelPrivacy = Field(default="ALL", alias="modelPrivacy")

    @property
    def last6(self) -> str:
        return self.secret[-6:]


class RateLimitHeaders(_Wire):
    """The `x-ratelimit-*-requests` headers of the last response, when present."""

    limit: int | None = None
    remaining: int | None = None
    reset_at: datetime | None = None


# ---- requests --------------------------------------------------------------------------


class LimitsInput(_Request):
    """A `consumptionLimit` body. Unset fields are not sent; `None` sent means "remove the cap"."""

    usd: float | None = Field(default=None, ge=0, le=MAX_CAP)
    diem: float | None = Field(default=None, ge=0, le=MAX_CAP)
    vcu: float | None = Field(default=None, ge=0, le=MAX_CAP)


class CreateKeyRequest(_Request):
    api_key_type: KeyType = Field(alias="apiKeyType")
    description: str = Field(min_length=1, max_length=MAX_DESCRIPTION)
    expires_at: str | None = Field(default=None, alias="expiresAt")
    consumption_limit: LimitsInput | None = Field(default=None, alias="consumptionLimit")
    limit_period: LimitPeriod | None = Field(default=None, alias="limitPeriod")
    model_privacy: ModelPrivacy | None = Field(default=None, alias="modelPrivacy")

    def to_body(self) -> dict[str, object]:
        """The JSON body: only fields that were set, by their wire names."""
        return self.model_dump(by_alias=True, exclude_unset=True, mode="json")


class UpdateKeyRequest(_Request):
    """A PATCH body. A field left unset is not sent (unchanged); `None` removes (caps, expiry)."""

    id: str = Field(min_length=1)
    description: str | None = Field(default=None, min_length=1, max_length=MAX_DESCRIPTION)
    expires_at: str | None = Field(default=None, alias="expiresAt")
    consumption_limit: LimitsInput | None = Field(default=None, alias="consumptionLimit")
    limit_period: LimitPeriod | None = Field(default=None, alias="limitPeriod")
    model_privacy: ModelPrivacy | None = Field(default=None, alias="modelPrivacy")

    def to_body(self) -> dict[str, object]:
        return self.model_dump(by_alias=True, exclude_unset=True, mode="json")


class Web3MintRequest(_Request):
    address: str
    signature: str
    token: str
    api_key_type: KeyType = Field(alias="apiKeyType")
    description: str | None = Field(default=None, min_length=1, max_length=MAX_DESCRIPTION)
    expires_at: str | None = Field(default=None, alias="expiresAt")
    consumption_limit: LimitsInput | None = Field(default=None, alias="consumptionLimit")
    limit_period: LimitPeriod | None = Field(default=None, alias="limitPeriod")
    model_privacy: ModelPrivacy | None = Field(default=None, alias="modelPrivacy")

    def to_body(self) -> dict[str, object]:
        return self.model_dump(by_alias=True, exclude_unset=True, mode="json")
