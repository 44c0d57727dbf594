"""Venice's limits, known before Venice says no: no request is spent on a certain refusal.

Venice allows 20 key creations a minute and 500 active keys. `create_key` refuses the
21st creation of the minute and a creation at 500 keys itself, saying how long to wait
or how many keys exist; when Venice refuses anyway (its count includes other clients),
Venice's answer decides and the message says when to retry.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from mcp import Client

from tests.reliability.rig import build_rig, text
from venice_keys_mcp.sandbox import seeded_state

pytestmark = pytest.mark.anyio


async def test_21st_creation_in_a_minute_is_refused_without_a_post(tmp_path: Path) -> None:
    rig = build_rig(tmp_path)
    async with Client(rig.server, mode="2026-07-28") as c:
        for i in range(20):
            r = await c.call_tool("create_key", {"description": f"batch {i}"})
            assert r.structured_content["status"] == "created", text(r)
        keys_before, posts_before = rig.active_ids(), rig.log.count("POST")
        r = await c.call_tool("create_key", {"description": "one too many"})
    assert r.is_error
    wait = re.search(r"try again in (\d+) s", text(r))
    assert wait and 1 <= int(wait.group(1)) <= 61, text(r)
    assert "20 key creations a minute" in text(r)
    assert rig.log.count("POST") == posts_before == 20
    assert rig.active_ids() == keys_before


async def test_a_creation_that_never_left_does_not_use_up_the_minute(tmp_path: Path) -> None:
    rig = build_rig(tmp_path)
    rig.state.faults.add("POST", "/api_keys", drop="before", times=5)  # in process: nothing was sent
    async with Client(rig.server, mode="legacy") as c:
        for _ in range(5):
            assert (await c.call_tool("create_key", {"description": "not sent"})).is_error
        for i in range(20):
            r = await c.call_tool("create_key", {"description": f"batch {i}"})
            assert r.structured_content["status"] == "created", text(r)


async def test_creation_at_500_active_keys_is_refused_after_one_list_and_no_post(tmp_path: Path) -> None:
    rig = build_rig(tmp_path, state=seeded_state(key_count=500))
    async with Client(rig.server, mode="legacy") as c:
        r = await c.call_tool("create_key", {"description": "one more"})
    assert r.is_error
    assert "has 500 active keys" in text(r) and "revoke unused keys first" in text(r)
    assert rig.log.seen == [("GET", "/api_keys")]


async def test_venice_refusing_the_rate_anyway_says_when_to_retry(tmp_path: Path) -> None:
    rig = build_rig(tmp_path)
    rig.state.create_limit_per_minute = 2  # other clients of the account used the rest of the minute
    async with Client(rig.server, mode="legacy") as c:
        for i in range(2):
            assert (await c.call_tool("create_key", {"description": f"ok {i}"})).structured_content[
                "status"
            ] == ("created")
        r = await c.call_tool("create_key", {"description": "refused by Venice"})
    assert r.is_error and "Not created" in text(r)
    assert re.search(r"Try again after \d\d:\d\d:\d\d UTC", text(r)), text(r)
    assert rig.log.count("POST") == 3


async def test_venice_refusing_the_key_count_anyway_says_so(tmp_path: Path) -> None:
    rig = build_rig(tmp_path)
    rig.state.max_active_keys = len(rig.active_ids())  # the count moved under us
    async with Client(rig.server, mode="legacy") as c:
        r = await c.call_tool("create_key", {"description": "over Venice's count"})
    assert r.is_error and "Not created" in text(r) and "maximum" in text(r)
    assert "revoke unused keys first" in text(r)
    assert rig.log.count("POST") == 1
