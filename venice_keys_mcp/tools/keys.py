"""Reading keys: `list_keys` (filtered, paged, one line per key) and `get_key`."""

import math
from datetime import timedelta
from typing import Annotated, Literal

from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult
from pydantic import Field

from venice_keys_mcp.safety.fencing import UNTRUSTED_NOTE
from venice_keys_mcp.tools.kit import Kit, result
from venice_keys_mcp.tools.params import KeyId
from venice_keys_mcp.tools.views import (
    KeyDetail,
    KeyLine,
    Output,
    key_detail,
    key_line,
    now_utc,
    render_detail,
    render_line,
)
from venice_keys_mcp.venice import ApiKey

DEFAULT_PAGE_SIZE = 20


class KeyList(Output):
    total: int = Field(description="Active keys in the account")
    matched: int = Field(description="Keys matching the filters")
    page: int
    pages: int
    keys: list[KeyLine]


def filter_keys(
    keys: list[ApiKey],
    *,
    key_type: str | None,
    search: str | None,
    unused_days: int | None,
    never_used: bool,
    expiring_days: int | None,
    no_cap: bool,
) -> list[ApiKey]:
    """The filters an admin asks for; all given filters must hold."""
    now = now_utc()
    needle = search.casefold() if search else None
    out = []
    for k in keys:
        if key_type and k.api_key_type != key_type:
            continue
        if (
            needle
            and needle not in k.description.casefold()
            and needle not in (k.id + " " + k.last6).casefold()
        ):
            continue
        if never_used and k.last_used_at is not None:
            continue
        # A key never used is idle since it was made: one created an hour ago is not stale.
        idle_since = k.last_used_at or k.created_at
        if unused_days is not None and idle_since and idle_since > now - timedelta(days=unused_days):
            continue
        if expiring_days is not None and (
            k.expires_at is None or k.expires_at > now + timedelta(days=expiring_days)
        ):
            continue
        if no_cap and (k.consumption_limits.usd is not None or k.consumption_limits.diem is not None):
            continue
        out.append(k)
    return out


def register(kit: Kit) -> None:
    rt = kit.rt

    @kit.tool(title="List keys", toolset="keys")
    async def list_keys(
        key_type: Literal["INFERENCE", "ADMIN"] | None = None,
        search: Annotated[str | None, Field(max_length=64, description="In description, id or last6")] = None,
        unused_days: Annotated[int | None, Field(ge=1, le=3650, description="Not used for N+ days")] = None,
        never_used: bool = False,
        expiring_days: Annotated[
            int | None, Field(ge=0, le=3650, description="Expires within N days")
        ] = None,
        no_cap: Annotated[bool, Field(description="No USD/DIEM cap")] = False,
        page: Annotated[int, Field(ge=1, le=500)] = 1,
        page_size: Annotated[int, Field(ge=1, le=100)] = DEFAULT_PAGE_SIZE,
    ) -> Annotated[CallToolResult, KeyList]:
        """Active keys, newest first, one line each; use filters, not pages. Never shows secrets."""
        keys = await rt.client.list_keys()
        matched = filter_keys(
            keys,
            key_type=key_type,
            search=search,
            unused_days=unused_days,
            never_used=never_used,
            expiring_days=expiring_days,
            no_cap=no_cap,
        )
        pages = max(1, math.ceil(len(matched) / page_size))
        if page > pages:
            raise ToolError(f"page {page} is past the last page ({pages}) of {len(matched)} matching keys.")
        start = (page - 1) * page_size
        lines = [key_line(k) for k in matched[start : start + page_size]]
        out = KeyList(total=len(keys), matched=len(matched), page=page, pages=pages, keys=lines)
        head = f"{len(matched)} of {len(keys)} keys match"
        if matched:
            head += f"; showing {start + 1}-{start + len(lines)} (page {page}/{pages})"
            if page < pages:
                head += f"; next: page={page + 1}"
        body = [head, UNTRUSTED_NOTE] if lines else [head]
        return result(out, "\n".join(body + [render_line(k) for k in lines]))

    @kit.tool(title="Get key", toolset="keys")
    async def get_key(key_id: KeyId) -> Annotated[CallToolResult, KeyDetail]:
        """One key in full: caps, period, privacy, usage, dates. Never its secret."""
        detail = key_detail(await rt.client.get_key(key_id), own_last6=rt.own_key_last6)
        return result(detail, render_detail(detail))
