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


async def test_breach_log_names_each_key_by_description_and_last_six(make_server):
    """A person knows keys by description and last six, not by UUID; a revoked key keeps its id."""
    server = make_server(confirm="off")
    async with Client(server, mode="legacy") as c:
        before = (await c.call_tool("get_breach_log", {"limit": 50})).structured_content
        gone = before["by_key_and_type"][-1]["key_id"]
        assert not (await c.call_tool("revoke_key", {"key_id": gone})).is_error
        listed = (await c.call_tool("list_keys", {"page_size": 100})).structured_content["keys"]
        answer = await c.call_tool("get_breach_log", {"limit": 50})
    keys = {k["id"]: k for k in listed}
    text = answer.content[0].text
    rows = answer.structured_content["by_key_and_type"]
    assert gone in {r["key_id"] for r in rows}  # Venice's log keeps a revoked key's breaches
    assert {r["key_id"] for r in rows} - {gone} <= set(keys)
    for row in rows:
        if row["key_id"] == gone:
            assert "description" not in row and "last6" not in row
            assert f"key {gone} (not listed)" in text
            continue
        key = keys[row["key_id"]]
        assert (row["description"], row["last6"]) == (key["description"], key["last6"])
        assert f"{row['type']} key …{key['last6']} «{key['description']}» ({key['id']})" in text
    for entry in answer.structured_content["entries"]:
        assert entry.get("last6") == keys.get(entry["key_id"], {}).get("last6")
