"""The Venice side: a typed async client, its models and its errors. Knows nothing of MCP.

Names are imported on first use (PEP 562): `from venice_keys_mcp.venice import VeniceError`
loads the errors alone, and only `VeniceClient` pulls in the client and its wire layer. An
MCP host starts the server at every session, and the server builds its client on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from venice_keys_mcp.venice._retry import RetryClock, RetryPolicy
    from venice_keys_mcp.venice.client import DEFAULT_BASE_URL, VeniceClient
    from venice_keys_mcp.venice.errors import (
        AbuseBlocked,
        AdminKeyRequired,
        AuthenticationFailed,
        EndpointNotFound,
        InvalidRequest,
        KeyLimitReached,
        KeyNotFound,
        MalformedResponse,
        NetworkError,
        NotConfigured,
        OutcomeUnknown,
        PaymentRequired,
        RateLimited,
        VeniceAPIError,
        VeniceError,
        VeniceUnavailable,
        Web3Rejected,
    )
    from venice_keys_mcp.venice.models import (
        ApiKey,
        ApiTier,
        Balances,
        BillingAmounts,
        BillingBalance,
        BreachLogEntry,
        ConsumptionLimits,
        CreatedKey,
        CreateKeyRequest,
        DailyUsage,
        KeyLimits,
        KeyType,
        KeyUsage,
        LimitPeriod,
        LimitsInput,
        ModelPrivacy,
        ModelRateLimits,
        PeriodUsage,
        RateLimitHeaders,
        RateLimitRule,
        RateLimits,
        RateLimitType,
        UpdateKeyRequest,
        Usage,
        UsageAnalytics,
        UsageFigures,
        Web3MintRequest,
    )

#: submodule -> the names it exports here
_EXPORTS: dict[str, tuple[str, ...]] = {
    "_retry": ("RetryClock", "RetryPolicy"),
    "client": (
        "DEFAULT_BASE_URL",
        "VeniceClient",
    ),
    "errors": (
        "AbuseBlocked",
        "AdminKeyRequired",
        "AuthenticationFailed",
        "EndpointNotFound",
        "InvalidRequest",
        "KeyLimitReached",
        "KeyNotFound",
        "MalformedResponse",
        "NetworkError",
        "NotConfigured",
        "OutcomeUnknown",
        "PaymentRequired",
        "RateLimited",
        "VeniceAPIError",
        "VeniceError",
        "VeniceUnavailable",
        "Web3Rejected",
    ),
    "models": (
        "ApiKey",
        "ApiTier",
        "Balances",
        "BillingAmounts",
        "BillingBalance",
        "BreachLogEntry",
        "ConsumptionLimits",
        "CreatedKey",
        "CreateKeyRequest",
        "DailyUsage",
        "KeyType",
        "KeyUsage",
        "LimitPeriod",
        "KeyLimits",
        "LimitsInput",
        "ModelPrivacy",
        "ModelRateLimits",
        "PeriodUsage",
        "RateLimitHeaders",
        "RateLimitRule",
        "RateLimits",
        "RateLimitType",
        "UpdateKeyRequest",
        "Usage",
        "UsageAnalytics",
        "UsageFigures",
        "Web3MintRequest",
    ),
}
_HOME = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = [
    "DEFAULT_BASE_URL",
    "AbuseBlocked",
    "AdminKeyRequired",
    "ApiKey",
    "ApiTier",
    "AuthenticationFailed",
    "Balances",
    "BillingAmounts",
    "BillingBalance",
    "BreachLogEntry",
    "ConsumptionLimits",
    "CreateKeyRequest",
    "CreatedKey",
    "DailyUsage",
    "EndpointNotFound",
    "InvalidRequest",
    "KeyLimitReached",
    "KeyLimits",
    "KeyNotFound",
    "KeyType",
    "KeyUsage",
    "LimitPeriod",
    "LimitsInput",
    "MalformedResponse",
    "ModelPrivacy",
    "ModelRateLimits",
    "NetworkError",
    "NotConfigured",
    "OutcomeUnknown",
    "PaymentRequired",
    "PeriodUsage",
    "RateLimitHeaders",
    "RateLimitRule",
    "RateLimitType",
    "RateLimited",
    "RateLimits",
    "RetryClock",
    "RetryPolicy",
    "UpdateKeyRequest",
    "Usage",
    "UsageAnalytics",
    "UsageFigures",
    "VeniceAPIError",
    "VeniceClient",
    "VeniceError",
    "VeniceUnavailable",
    "Web3MintRequest",
    "Web3Rejected",
]


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
