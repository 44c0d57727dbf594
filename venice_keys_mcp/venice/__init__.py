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
    from venice_keys_mcp.venice.billing import (
        BillingAmounts,
        BillingBalance,
        DailyUsage,
        KeyUsage,
        UsageAnalytics,
    )
    from venice_keys_mcp.venice.client import VeniceClient
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
    from venice_keys_mcp.venice.limits import (
        ApiTier,
        Balances,
        BreachLogEntry,
        ModelRateLimits,
        RateLimitRule,
        RateLimits,
        RateLimitType,
    )
    from venice_keys_mcp.venice.models import (
        ApiKey,
        ConsumptionLimits,
        CreatedKey,
        CreateKeyRequest,
        KeyLimits,
        KeyType,
        LimitPeriod,
        LimitsInput,
        ModelPrivacy,
        PeriodUsage,
        RateLimitHeaders,
        UpdateKeyRequest,
        Usage,
        UsageFigures,
        Web3MintRequest,
    )
    from venice_keys_mcp.venice.transport import DEFAULT_BASE_URL

#: submodule -> the names it exports here
_EXPORTS: dict[str, tuple[str, ...]] = {
    "_retry": ("RetryClock", "RetryPolicy"),
    "billing": (
        "BillingAmounts",
        "BillingBalance",
        "DailyUsage",
        "KeyUsage",
        "UsageAnalytics",
    ),
    "limits": (
        "ApiTier",
        "Balances",
        "BreachLogEntry",
        "ModelRateLimits",
        "RateLimitRule",
        "RateLimits",
        "RateLimitType",
    ),
    "transport": ("DEFAULT_BASE_URL",),
    "client": ("VeniceClient",),
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
        "ConsumptionLimits",
        "CreatedKey",
        "CreateKeyRequest",
        "KeyType",
        "LimitPeriod",
        "KeyLimits",
        "LimitsInput",
        "ModelPrivacy",
        "PeriodUsage",
        "RateLimitHeaders",
        "UpdateKeyRequest",
        "Usage",
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
