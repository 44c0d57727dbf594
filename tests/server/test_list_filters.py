"""`list_keys` filters select exactly the keys they name, checked against the account's own data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from mcp import Client

from tests.server.conftest import runtime_of
from venice_keys_mcp.venice import ApiKey

pytestmark = pytest.mark.anyio


async def listed_ids(c: Client, **filters: object) -> set[str]:
    r = await c.call_tool("list_keys", {"page_size": 100, **filters})
    assert not r.is_error, r.content
    return {k["id"] for k in r.structured_content["keys"]}


def ids(keys: list[ApiKey], keep) -> set[str]:
    return {k.id for k in keys if keep(k)}


async def test_each_filter_selects_exactly_its_keys(server, mode):
    rt = runtime_of(server)
    now = datetime.now(UTC)
    async with Client(server, mode=mode) as c:
        fresh = await c.call_tool("create_key", {"description": "made just now"})
        assert not fresh.is_error
        keys = await rt.client.list_keys()

        def idle_since(k: ApiKey) -> datetime:
            return k.last_used_at or k.created_at  # type: ignore[return-value]

        expected = {
            "unused_days=90": ids(keys, lambda k: idle_since(k) <= now - timedelta(days=90)),
            "never_used": ids(keys, lambda k: k.last_used_at is None),
            "expiring_days=7": ids(
                keys, lambda k: k.expires_at is not None and k.expires_at <= now + timedelta(days=7)
            ),
            "no_cap": ids(
                keys, lambda k: k.consumption_limits.usd is None and k.consumption_limits.diem is None
            ),
            "key_type=ADMIN": ids(keys, lambda k: k.api_key_type == "ADMIN"),
        }
        got = {
            "unused_days=90": await listed_ids(c, unused_days=90),
            "never_used": await listed_ids(c, never_used=True),
            "expiring_days=7": await listed_ids(c, expiring_days=7),
            "no_cap": await listed_ids(c, no_cap=True),
            "key_type=ADMIN": await listed_ids(c, key_type="ADMIN"),
        }
        both = await listed_ids(c, never_used=True, no_cap=True)

    assert got == expected
    # Each filter is a real selection on the seeded account, neither everything nor nothing.
    assert all(0 < len(v) < len(keys) for v in expected.values()), {k: len(v) for k, v in expected.items()}
    assert both == expected["never_used"] & expected["no_cap"]
    new_id = {k.id for k in keys if k.description == "made just now"}
    assert new_id <= got["never_used"] and not new_id & got["unused_days=90"]  # new is not stale


async def test_a_page_past_the_end_is_refused_and_says_how_many_pages(server, mode):
    async with Client(server, mode=mode) as c:
        r = await c.call_tool("list_keys", {"page": 9})
    assert r.is_error
    message = " ".join(getattr(b, "text", "") for b in r.content)
    assert "page 9 is past the last page (1)" in message


async def test_large_caps_and_limits_are_shown_whole_not_rounded(server, mode):
    """A $1,234,567.5 cap must read as that, not `1.23457e+06` (six significant digits)."""
    async with Client(server, mode=mode) as c:
        created = await c.call_tool("create_key", {"description": "big budget", "usd_limit": 1234567.5})
        listed = await c.call_tool("list_keys", {"search": "big budget"})
        detail = await c.call_tool("get_key", {"key_id": created.structured_content["id"]})
        limits = await c.call_tool("get_limits", {"limit": 500})
    for r in (listed, detail):
        shown = " ".join(getattr(b, "text", "") for b in r.content)
        assert "$1234567.5/EPOCH" in shown and "e+" not in shown, shown
    tpm = " ".join(getattr(b, "text", "") for b in limits.content)
    assert "e+" not in tpm and "TPM 1000000" in tpm
