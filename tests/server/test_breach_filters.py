"""`get_breach_log` filters and counts exactly what Venice's log holds, checked against the log itself."""

from __future__ import annotations

from collections import Counter
from datetime import UTC

import pytest
from mcp import Client

from tests.server.conftest import runtime_of

pytestmark = pytest.mark.anyio


async def test_breach_filters_select_exactly_their_entries(server, mode):
    log = await runtime_of(server).client.get_breach_log()
    assert len(log) >= 10
    key_id = Counter(e.api_key_id for e in log).most_common(1)[0][0]
    model = log[0].model_id
    cut = sorted(e.timestamp for e in log)[len(log) // 2]
    since = cut.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    async with Client(server, mode=mode) as c:
        by_key = (await c.call_tool("get_breach_log", {"key_id": key_id, "limit": 50})).structured_content
        by_model = (await c.call_tool("get_breach_log", {"model": model, "limit": 50})).structured_content
        recent = (await c.call_tool("get_breach_log", {"since": since, "limit": 50})).structured_content
        everything = (await c.call_tool("get_breach_log", {"limit": 50})).structured_content

    assert by_key["matched"] == sum(e.api_key_id == key_id for e in log) == len(by_key["entries"])
    assert {b["key_id"] for b in by_key["entries"]} == {key_id}
    assert by_model["matched"] == sum(model.casefold() in e.model_id.casefold() for e in log)
    newer = [e for e in log if e.timestamp.replace(microsecond=0) >= cut.replace(microsecond=0)]
    assert recent["matched"] == len(newer) and 0 < len(newer) < len(log)
    # The summary counts every (key, type) pair of the log, and the counts add up.
    expected = Counter((e.api_key_id, e.rate_limit_type) for e in log)
    got = {(r["key_id"], r["type"]): r["count"] for r in everything["by_key_and_type"]}
    assert got == dict(expected) and everything["total"] == len(log)
