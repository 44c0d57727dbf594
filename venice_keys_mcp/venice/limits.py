"""The rate-limit endpoints: the calling key's balances and limits, and the account's breach log."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from venice_keys_mcp.venice import _wire
from venice_keys_mcp.venice.models import _Wire
from venice_keys_mcp.venice.transport import Auth, Transport

RateLimitType = Literal["RPD", "RPM", "TPM", "FAILED_REQUESTS", "UNSUPPORTED_FEATURE_REQUESTS"]


class RateLimitRule(_Wire):
    type: str
    amount: float


class ModelRateLimits(_Wire):
    api_model_id: str = Field(default="", alias="apiModelId")
    rate_limits: list[RateLimitRule] = Field(alias="rateLimits")


class ApiTier(_Wire):
    id: str
    is_charged: bool = Field(alias="isCharged")


class Balances(_Wire):
    usd: float | None = Field(default=None, alias="USD")
    diem: float | None = Field(default=None, alias="DIEM")
    bundled_credits: float | None = Field(default=None, alias="BUNDLED_CREDITS")


class RateLimits(_Wire):
    """Balances and per-model limits of the calling key (`GET /api_keys/rate_limits`)."""

    access_permitted: bool = Field(alias="accessPermitted")
    api_tier: ApiTier = Field(alias="apiTier")
    balances: Balances
    key_expiration: datetime | None = Field(default=None, alias="keyExpiration")
    next_epoch_begins: datetime | None = Field(default=None, alias="nextEpochBegins")
    rate_limits: list[ModelRateLimits] = Field(alias="rateLimits")


class BreachLogEntry(_Wire):
    api_key_id: str = Field(alias="apiKeyId")
    model_id: str = Field(alias="modelId")
    rate_limit_tier: str = Field(alias="rateLimitTier")
    rate_limit_type: RateLimitType = Field(alias="rateLimitType")
    timestamp: datetime


class LimitEndpoints(Transport):
    """`GET /api_keys/rate_limits` and `GET /api_keys/rate_limits/log`."""

    async def get_rate_limits(self) -> RateLimits:
        """Balances and per-model rate limits of the configured key (any key type)."""
        answer = await self._read("/api_keys/rate_limits", Auth.ANY)
        return self._decode(answer, lambda p: _wire.parse_model(p, RateLimits))

    async def get_breach_log(self) -> list[BreachLogEntry]:
        """The account's last rate-limit breaches, newest first."""
        answer = await self._read("/api_keys/rate_limits/log", Auth.ADMIN)
        return self._decode(answer, lambda p: _wire.parse_model_list(p, BreachLogEntry))
