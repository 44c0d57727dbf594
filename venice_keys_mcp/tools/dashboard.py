"""`key_dashboard`: every key at a glance, for a person; an MCP App page with a text fallback.

An Apps host renders `ui://venice-keys/dashboard.html` with this tool's result: each key
with its type, last six, a bar of current-period usage against its cap, expiry, last use
and hygiene flags, sortable and filterable, with Revoke (and Rotate, where this server has
it) buttons that call the gated tools and take the person through the same approval as
the approval card. A client without Apps reads the compact text: counts, then the
flagged keys, one line each.

The flags are computed here by one small pure function (`hygiene_flags`), on purpose
independent of any other report, so the page and its text never wait on another module.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Literal

from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult
from pydantic import Field

from venice_keys_mcp.safety.fencing import UNTRUSTED_NOTE, clean_untrusted, fence, looks_like_instructions
from venice_keys_mcp.tools.kit import Kit, result
from venice_keys_mcp.tools.views import FROM_VENICE, Output, now_utc
from venice_keys_mcp.ui import page
from venice_keys_mcp.venice import ApiKey

DASHBOARD_URI = "ui://venice-keys/dashboard.html"
#: Keys in one answer: a 500-key account (the largest the sandbox seeds) is one page.
PAGE_SIZE = 500
#: Flagged keys the text names one line each; the rest are counted (the page shows all).
TEXT_LINES = 40
UNUSED_DAYS = 90
EXPIRING_DAYS = 14
NEAR_CAP = 0.8
#: The gated tools the page offers as buttons, when this server has them.
ACTIONS = ("revoke_key", "rotate_key")

Flag = Literal[
    "never_used", "unused_90d", "no_cap", "no_expiry", "expiring_soon", "admin", "near_cap", "suspicious"
]
#: Flags in the order the text and the page list them, with the words a person reads.
FLAG_WORDS: dict[str, str] = {
    "admin": "ADMIN",
    "near_cap": "near cap",
    "expiring_soon": f"expires within {EXPIRING_DAYS} days",
    "suspicious": "description reads like instructions",
    "never_used": "never used",
    "unused_90d": f"unused {UNUSED_DAYS}+ days",
    "no_cap": "no cap",
    "no_expiry": "no expiry",
}


def period_use(k: ApiKey) -> tuple[float, float | None, Literal["USD", "DIEM"]]:
    """(used this period, its cap, unit): USD when capped in USD or uncapped, else DIEM."""
    lim, cur = k.consumption_limits, k.current_period_usage
    unit: Literal["USD", "DIEM"] = "DIEM" if lim.usd is None and lim.diem is not None else "USD"
    used = (cur.diem if unit == "DIEM" else cur.usd) if cur else Decimal(0)
    return float(used), (lim.diem if unit == "DIEM" else lim.usd), unit


def hygiene_flags(k: ApiKey, now: datetime) -> list[Flag]:
    """What a careful admin would look at twice, for one key at `now` (pure: the clock is given)."""
    flags: list[Flag] = []
    if k.api_key_type == "ADMIN":
        flags.append("admin")
    used, cap, _ = period_use(k)
    if cap is not None and cap > 0 and used >= cap * NEAR_CAP:
        flags.append("near_cap")
    if k.expires_at is not None and now <= k.expires_at <= now + timedelta(days=EXPIRING_DAYS):
        flags.append("expiring_soon")
    if looks_like_instructions(k.description):
        flags.append("suspicious")
    if k.last_used_at is None:
        flags.append("never_used")
    elif k.last_used_at < now - timedelta(days=UNUSED_DAYS):
        flags.append("unused_90d")
    if k.consumption_limits.usd is None and k.consumption_limits.diem is None:
        flags.append("no_cap")
    if k.expires_at is None:
        flags.append("no_expiry")
    return flags


class DashboardKey(Output):
    id: str
    type: Literal["INFERENCE", "ADMIN"]
    last6: str
    description: str = Field(description=FROM_VENICE)
    used: float = Field(description="Spent in the current cap period, in `unit`")
    cap: float | None = Field(default=None, description="The period's cap in `unit`; absent: no cap")
    unit: Literal["USD", "DIEM"]
    period: str
    expires: str | None = Field(default=None, description="ISO date-time; absent: never")
    last_used: str | None = Field(default=None, description="ISO date-time; absent: never")
    flags: list[Flag]
    server_key: bool | None = Field(default=None, description="True: the key this server uses")


class Dashboard(Output):
    total: int = Field(description="Active keys in the account")
    page: int
    pages: int
    as_of: str = Field(description="When the flags were computed (ISO, UTC)")
    counts: dict[str, int] = Field(description="Keys per hygiene flag, across the whole account")
    actions: list[str] = Field(description="Gated tools the page may offer (approval needed)")
    keys: list[DashboardKey]


def _iso(dt: datetime | None) -> str | None:
    return dt.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z") if dt else None


def dashboard_key(k: ApiKey, now: datetime, own_last6: str | None) -> DashboardKey:
    used, cap, unit = period_use(k)
    return DashboardKey(
        id=k.id,
        type=k.api_key_type,
        last6=clean_untrusted(k.last6, max_len=6),
        description=clean_untrusted(k.description, max_len=64),
        used=used,
        cap=cap,
        unit=unit,
        period=k.limit_period,
        expires=_iso(k.expires_at),
        last_used=_iso(k.last_used_at),
        flags=hygiene_flags(k, now),
        server_key=True if own_last6 is not None and k.last6 == own_last6 else None,
    )


def render_text(d: Dashboard) -> str:
    """The fallback for clients without Apps: counts first, then each flagged key on one line."""
    order = list(FLAG_WORDS)
    # Most telling first: an ADMIN or near-cap key before one that merely has no expiry.
    flagged = sorted((k for k in d.keys if k.flags), key=lambda k: min(order.index(f) for f in k.flags))
    head = f"{d.total} keys" + (f" (page {d.page}/{d.pages})" if d.pages > 1 else "")
    counts = ", ".join(f"{FLAG_WORDS[f]} {d.counts[f]}" for f in FLAG_WORDS if d.counts.get(f))
    lines = [head + (f"; {counts}" if counts else "; nothing flagged")]
    if flagged:
        lines.append(UNTRUSTED_NOTE)
    for k in flagged[:TEXT_LINES]:
        use = ""
        if k.cap is not None:
            use = f" ${k.used:.2f}/${k.cap:g}" if k.unit == "USD" else f" {k.used:g}/{k.cap:g} DIEM"
        words = ", ".join(FLAG_WORDS[f] for f in k.flags)
        kind = "ADMIN" if k.type == "ADMIN" else "INF"
        own = " (this server's key)" if k.server_key else ""
        lines.append(f"{k.id} {kind} …{k.last6} {fence(k.description)}{use}{own}: {words}")
    if len(flagged) > TEXT_LINES:
        lines.append(f"…and {len(flagged) - TEXT_LINES} more flagged; narrow with list_keys filters.")
    return "\n".join(lines)


def register(kit: Kit) -> None:
    rt = kit.rt

    def actions() -> list[str]:
        """The buttons to offer: the gated tools this server has (all registered by the first call)."""
        names = {s.name for s in kit.specs}
        return [a for a in ACTIONS if a in names]

    @kit.tool(title="Key dashboard", toolset="workflows", meta={"ui": {"resourceUri": DASHBOARD_URI}})
    async def key_dashboard(
        page: Annotated[int, Field(ge=1, le=100)] = 1,
    ) -> Annotated[CallToolResult, Dashboard]:
        """Every key with usage, expiry and hygiene flags, for the person (a page in Apps hosts)."""
        keys = await rt.client.list_keys()
        now = now_utc()
        pages = max(1, math.ceil(len(keys) / PAGE_SIZE))
        if page > pages:
            raise ToolError(f"page {page} is past the last page ({pages}) of {len(keys)} keys.")
        every = [dashboard_key(k, now, rt.own_key_last6) for k in keys]
        counts: dict[str, int] = {}
        for k in every:
            for f in k.flags:
                counts[f] = counts.get(f, 0) + 1
        start = (page - 1) * PAGE_SIZE
        out = Dashboard(
            total=len(keys),
            page=page,
            pages=pages,
            as_of=_iso(now) or "",
            counts=counts,
            actions=actions(),
            keys=every[start : start + PAGE_SIZE],
        )
        return result(out, render_text(out))


def dashboard_html() -> str:
    """The dashboard page: one self-contained HTML page, its shared parts inlined (no external loads)."""
    return page("dashboard.html")
