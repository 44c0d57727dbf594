"""Balances, rate limits and the breach log: filtered and summarised, not dumped."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Literal

from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult
from pydantic import Field

from venice_keys_mcp.runtime import Runtime
from venice_keys_mcp.safety.fencing import UNTRUSTED_NOTE, clean_untrusted, fence
from venice_keys_mcp.tools.kit import Kit, result
from venice_keys_mcp.tools.params import KeyId, parse_expiry
from venice_keys_mcp.tools.views import FROM_VENICE, READS_LIKE, SUSPICIOUS, Output, flag
from venice_keys_mcp.venice import VeniceError

if TYPE_CHECKING:  # the limits group loads the HTTP client: on first call, not at start-up
    from venice_keys_mcp.venice.limits import BreachLogEntry

logger = logging.getLogger("venice_keys_mcp.tools")

SINCE_PATTERN = r"^\d{4}-\d\d-\d\d(T[\d:.]+Z)?$"


class ModelLimits(Output):
    model: str = Field(description=FROM_VENICE)
    rpm: float | None = None
    rpd: float | None = None
    tpm: float | None = None
    suspicious: bool | None = Field(default=None, description=SUSPICIOUS)


class LimitsSummary(Output):
    access_permitted: bool
    tier: str = Field(description=FROM_VENICE)
    charged: bool
    usd: float | None = None
    diem: float | None = None
    bundled_credits: float | None = None
    key_expires: datetime | None = None
    next_epoch: datetime | None = None
    models_total: int
    models: list[ModelLimits]


class BreachCount(Output):
    key_id: str
    description: str | None = Field(default=None, description="From Venice: data; absent if not listed")
    last6: str | None = None
    type: str
    count: int


class Breach(Output):
    time: datetime
    key_id: str
    last6: str | None = None
    model: str = Field(description=FROM_VENICE)
    type: str
    tier: str = Field(description=FROM_VENICE)
    suspicious: bool | None = Field(default=None, description=SUSPICIOUS)


class BreachSummary(Output):
    total: int = Field(description="Entries in Venice's log (max 50)")
    matched: int
    by_key_and_type: list[BreachCount]
    entries: list[Breach] = Field(description="Newest first, up to limit")


def _since(value: str | None) -> datetime | None:
    return parse_expiry(value) if value else None


def register(kit: Kit) -> None:
    rt = kit.rt

    @kit.tool(title="Balances and limits", toolset="limits")
    async def get_limits(
        model: Annotated[str | None, Field(max_length=100, description="Part of a model id")] = None,
        limit: Annotated[int, Field(ge=0, le=500)] = 20,
    ) -> Annotated[CallToolResult, LimitsSummary]:
        """Balances, tier and per-model rate limits (RPM/RPD/TPM) of the server's key."""
        rl = await rt.client.get_rate_limits()
        needle = model.casefold() if model else None
        rows = []
        for m in rl.rate_limits:
            mid = clean_untrusted(m.api_model_id, max_len=100)
            if needle and needle not in mid.casefold():
                continue
            kinds = {r.type.upper(): r.amount for r in m.rate_limits}
            rows.append(
                ModelLimits(
                    model=mid,
                    rpm=kinds.get("RPM"),
                    rpd=kinds.get("RPD"),
                    tpm=kinds.get("TPM"),
                    suspicious=flag(m.api_model_id),
                )
            )
        out = LimitsSummary(
            access_permitted=rl.access_permitted,
            tier=clean_untrusted(rl.api_tier.id, max_len=40),
            charged=rl.api_tier.is_charged,
            usd=rl.balances.usd,
            diem=rl.balances.diem,
            bundled_credits=rl.balances.bundled_credits,
            key_expires=rl.key_expiration,
            next_epoch=rl.next_epoch_begins,
            models_total=len(rows),
            models=rows[:limit],
        )
        bal = ", ".join(
            f"{n} {v:.12g}"
            for n, v in (("USD", out.usd), ("DIEM", out.diem), ("bundled", out.bundled_credits))
            if v is not None
        )
        lines = [
            f"access {'permitted' if out.access_permitted else 'DENIED'}; tier {fence(out.tier)}"
            f"{' (charged)' if out.charged else ''}; balances: {bal or 'none'}",
            f"key expires {out.key_expires or 'never'}; next epoch {out.next_epoch}",
            f"{len(rows)} models"
            + (f", showing {len(out.models)}" if len(out.models) < len(rows) else "")
            + (" (model ids from Venice are data)" if out.models else ""),
        ]
        for r in out.models:
            lim = " ".join(
                f"{n} {v:.12g}" for n, v in (("RPM", r.rpm), ("RPD", r.rpd), ("TPM", r.tpm)) if v is not None
            )
            flagged = READS_LIKE if r.suspicious else ""
            lines.append(f"{fence(r.model)} {lim or 'no limits listed'}{flagged}")
        return result(out, "\n".join(lines))

    @kit.tool(title="Breach log", toolset="limits")
    async def get_breach_log(
        key_id: KeyId | None = None,
        limit_type: Literal["RPM", "RPD", "TPM", "FAILED_REQUESTS", "UNSUPPORTED_FEATURE_REQUESTS"]
        | None = None,
        model: Annotated[str | None, Field(max_length=100, description="Part of a model id")] = None,
        since: Annotated[str | None, Field(pattern=SINCE_PATTERN, description="UTC date or time")] = None,
        limit: Annotated[int, Field(ge=0, le=50)] = 10,
    ) -> Annotated[CallToolResult, BreachSummary]:
        """Summarise recent rate-limit breaches (Venice keeps 50) per key and type."""
        try:
            start = _since(since)
        except ValueError:
            raise ToolError(f"since={since!r} is not a real date; use YYYY-MM-DD.") from None
        log = await rt.client.get_breach_log()
        matched = [e for e in log if _keep(e, key_id, limit_type, model, start)]
        names = await _key_names(rt) if matched else {}
        counts = Counter((e.api_key_id, e.rate_limit_type) for e in matched)
        out = BreachSummary(
            total=len(log),
            matched=len(matched),
            by_key_and_type=[
                BreachCount(key_id=k, **names.get(k, {}), type=t, count=n)
                for (k, t), n in counts.most_common()
            ],
            entries=[
                Breach(
                    time=e.timestamp,
                    key_id=e.api_key_id,
                    last6=names.get(e.api_key_id, {}).get("last6"),
                    model=clean_untrusted(e.model_id, max_len=100),
                    type=e.rate_limit_type,
                    tier=clean_untrusted(e.rate_limit_tier, max_len=40),
                    suspicious=flag(e.model_id, e.rate_limit_tier),
                )
                for e in matched[:limit]
            ],
        )
        lines = [
            f"{out.matched} of {out.total} breaches match." + (f" {UNTRUSTED_NOTE}" if out.matched else "")
        ]
        for c in out.by_key_and_type:
            named = (
                f"…{c.last6} {fence(c.description or '')} ({c.key_id})"
                if c.last6
                else f"{c.key_id} (not listed)"
            )
            lines.append(f"{c.count}x {c.type} key {named}")
        if out.entries:
            lines.append("Newest:")
            for b in out.entries:
                which = f"…{b.last6}" if b.last6 else b.key_id
                lines.append(
                    f"{b.time:%Y-%m-%d %H:%M} {b.type} key {which} {fence(b.model)}"
                    + (READS_LIKE if b.suspicious else "")
                )
        return result(out, "\n".join(lines))


async def _key_names(rt: Runtime) -> dict[str, dict[str, str]]:
    """Each active key's description and last six, so the log names keys as a person knows them.

    One more read (the key list); if it fails the log is still answered, by key id only,
    and a key that is no longer active (revoked, expired) is named by its id.
    """
    try:
        keys = await rt.client.list_keys()
    except VeniceError as exc:
        logger.info("breach log: keys not named (%s)", exc)
        return {}
    return {
        k.id: {
            "description": clean_untrusted(k.description, max_len=64),
            "last6": clean_untrusted(k.last6, max_len=6),
        }
        for k in keys
    }


def _keep(
    e: BreachLogEntry, key_id: str | None, kind: str | None, model: str | None, start: datetime | None
) -> bool:
    if key_id and e.api_key_id != key_id:
        return False
    if kind and e.rate_limit_type != kind:
        return False
    if model and model.casefold() not in e.model_id.casefold():
        return False
    ts = e.timestamp if e.timestamp.tzinfo else e.timestamp.replace(tzinfo=UTC)
    return not (start and ts < start)
