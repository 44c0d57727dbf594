"""`rotate_key` and `revoke_keys` end to end: the real client, the sandbox's state after each call.

Each is a gated action on the human channel (a form, the approval card, the terminal), and
each is driven under faults between and during its steps: nothing may be left
unaccounted, and the audit log must have every step.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from tests.server.conftest import answer, runtime_of
from tests.server.test_confirmation import audit, own, pick, snapshot, text
from tests.server.test_human_channel import approve_at_terminal, card_client, nonce_of, press
from venice_keys_mcp.safety.confirm import META_KEY
from venice_keys_mcp.sandbox.state import StoredKey

pytestmark = pytest.mark.anyio


def capped(server: Any) -> StoredKey:
    """An active INFERENCE key with a USD cap: the usual thing to rotate."""
    return pick(server, lambda k: k.api_key_type == "INFERENCE" and k.limits.get("usd") is not None)


def new_keys(server: Any, before: dict[str, Any]) -> list[StoredKey]:
    keys = runtime_of(server).sandbox.keys
    return [keys[i] for i in set(keys) - set(before)]


def typed(key: StoredKey) -> Any:
    return answer("accept", {"last6": key.last6})


# -- rotate_key -----------------------------------------------------------------------------------


@pytest.mark.eras
async def test_rotation_makes_a_like_key_and_lets_the_old_one_expire_after_the_grace(server, mode):
    old = capped(server)
    before = snapshot(server)
    start = datetime.now(UTC).replace(microsecond=0)
    async with Client(server, mode=mode, elicitation_callback=typed(old)) as c:
        r = await c.call_tool("rotate_key", {"key_id": old.id})
    end = datetime.now(UTC)
    sc = r.structured_content
    assert sc["status"] == "rotated", text(r)
    [new] = new_keys(server, before)
    assert (new.api_key_type, new.limits, new.limit_period, new.model_privacy) == (
        old.api_key_type,
        old.limits,
        old.limit_period,
        old.model_privacy,
    )
    assert new.description.endswith(" (rotated)") and len(new.description) <= 64
    kept = runtime_of(server).sandbox.keys[old.id]
    assert kept.expires_at is not None
    assert start + timedelta(hours=24) - timedelta(seconds=1) <= kept.expires_at <= end + timedelta(hours=24)
    assert sc["new"]["id"] == new.id and sc["new"]["last6"] == new.last6 and sc["old"]["id"] == old.id
    assert Path(sc["new"]["secret_file"]).read_text().startswith("VENICE_INFERENCE_KEY_")
    assert "lastUsedAt" in sc["check"] and "get_key" in sc["check"]
    entries = [(e["tool"], e["outcome"], e["confirmation"]) for e in audit(server)]
    assert entries[-2:] == [
        ("rotate_key", "created", "elicitation"),
        ("rotate_key", "rotated", "elicitation"),
    ]


async def test_rotation_with_no_grace_revokes_the_old_key(server, mode):
    old = capped(server)
    async with Client(server, mode=mode, elicitation_callback=typed(old)) as c:
        r = await c.call_tool("rotate_key", {"key_id": old.id, "grace_hours": 0})
    assert r.structured_content["status"] == "rotated", text(r)
    assert old.id not in runtime_of(server).sandbox.keys
    assert r.structured_content["old"]["expires"] == "revoked"


async def test_rotation_never_extends_the_old_keys_own_expiry(server, mode):
    old = pick(server, lambda k: k.expires_at is not None and k.api_key_type == "INFERENCE")
    was = old.expires_at
    async with Client(server, mode=mode, elicitation_callback=typed(old)) as c:
        r = await c.call_tool("rotate_key", {"key_id": old.id, "grace_hours": 720})
    assert r.structured_content["status"] == "rotated", text(r)
    assert runtime_of(server).sandbox.keys[old.id].expires_at <= was


async def test_rotation_declined_or_mistyped_changes_nothing(server, mode):
    old = capped(server)
    before = snapshot(server)
    for reply in (answer("decline"), answer("accept", {"last6": "nope!!"})):
        async with Client(server, mode=mode, elicitation_callback=reply) as c:
            r = await c.call_tool("rotate_key", {"key_id": old.id})
        assert r.structured_content["status"] in {"declined", "not_confirmed"}, text(r)
    assert snapshot(server) == before


async def test_the_servers_own_key_is_not_rotated(server, mode):
    before = snapshot(server)
    async with Client(server, mode=mode, elicitation_callback=answer("accept", {"last6": "x"})) as c:
        r = await c.call_tool("rotate_key", {"key_id": own(server)})
    assert r.is_error and "VENICE_ADMIN_KEY" in text(r)
    assert snapshot(server) == before


@pytest.mark.eras
async def test_rotation_through_the_card_and_the_terminal(server, mode):
    first, second = (
        capped(server),
        pick(server, lambda k: k.api_key_type == "INFERENCE" and k.id != capped(server).id),
    )
    before = snapshot(server)
    async with card_client(server, mode) as c:
        ask = await c.call_tool("rotate_key", {"key_id": first.id})
    assert ask.structured_content["status"] == "awaiting_approval" and snapshot(server) == before
    done = await press(
        server, mode, approval_id=ask.structured_content["approval_id"], decision="approve",
        nonce=nonce_of(ask), typed=first.last6,
    )  # fmt: skip
    assert done.structured_content["outcome"]["status"] == "rotated", text(done)
    assert done.meta[META_KEY]["kind"] == "reveal"  # the card offers the new secret
    async with Client(server, mode=mode) as c:
        aid = (await c.call_tool("rotate_key", {"key_id": second.id})).structured_content["approval_id"]
        approve_at_terminal(server, aid)
        r = await c.call_tool("rotate_key", {"key_id": second.id, "approval_id": aid})
        again = await c.call_tool("rotate_key", {"key_id": second.id, "approval_id": aid})
    assert r.structured_content["status"] == "rotated", text(r)
    assert again.structured_content["status"] == "refused"
    assert len(new_keys(server, before)) == 2


async def test_rotation_whose_second_step_fails_says_what_exists_and_how_to_finish(server, mode):
    old = capped(server)
    before = snapshot(server)
    runtime_of(server).sandbox.faults.add("PATCH", "/api_keys", status=503)
    async with Client(server, mode=mode, elicitation_callback=typed(old)) as c:
        r = await c.call_tool("rotate_key", {"key_id": old.id})
    sc = r.structured_content
    assert sc["status"] == "rotated_partially", text(r)
    [new] = new_keys(server, before)
    assert runtime_of(server).sandbox.keys[old.id].expires_at == old.expires_at  # untouched, still active
    assert sc["new"]["id"] == new.id and new.id in sc["message"] and sc["new"]["secret_file"] in sc["message"]
    assert f"patch_key key_id={old.id} expires_at=" in sc["message"]
    outcomes = [e["outcome"] for e in audit(server) if e["tool"] == "rotate_key"]
    assert outcomes[-2:] == ["created", "rotated_partially"]


async def test_rotation_whose_first_step_fails_leaves_the_old_key_alone(server, mode):
    old = capped(server)
    before = snapshot(server)
    runtime_of(server).sandbox.faults.add("POST", "/api_keys", status=400)
    async with Client(server, mode=mode, elicitation_callback=typed(old)) as c:
        r = await c.call_tool("rotate_key", {"key_id": old.id})
    assert r.is_error or r.structured_content["status"] == "not_rotated", text(r)
    assert snapshot(server) == before
    assert audit(server)[-1]["outcome"] == "failed"


async def test_rotation_whose_create_answer_is_lost_finds_the_key_and_touches_nothing_else(server, mode):
    """The create reached Venice but its answer was lost: the new key is found and named, the old kept."""
    old = capped(server)
    before = snapshot(server)
    runtime_of(server).sandbox.faults.add("POST", "/api_keys", drop="after")
    async with Client(server, mode=mode, elicitation_callback=typed(old)) as c:
        r = await c.call_tool("rotate_key", {"key_id": old.id})
    sc = r.structured_content
    assert sc["status"] == "not_rotated", text(r)
    [new] = new_keys(server, before)
    assert sc["new"]["id"] == new.id and new.id in sc["message"]  # accounted for: named, to revoke
    assert runtime_of(server).sandbox.keys[old.id].expires_at == old.expires_at
    assert [e["outcome"] for e in audit(server)][-1] == "created_secret_lost"


# -- revoke_keys ----------------------------------------------------------------------------------


def victims(server: Any, n: int) -> list[StoredKey]:
    state = runtime_of(server).sandbox
    return [k for k in state.keys.values() if k.id != own(server) and not state.is_expired(k)][:n]


@pytest.mark.eras
async def test_batch_revoke_asks_for_the_count_and_revokes_each_key(server, mode):
    doomed = victims(server, 3)
    ids = [k.id for k in doomed]
    seen: list[str] = []
    async with Client(server, mode=mode, elicitation_callback=answer("accept", {"count": "3"}, seen)) as c:
        r = await c.call_tool("revoke_keys", {"key_ids": [*ids, ids[0]]})  # a repeated id is one key
    sc = r.structured_content
    assert sc["status"] == "revoked_all" and sc["count"] == 3, text(r)
    assert [o["status"] for o in sc["outcomes"]] == ["revoked"] * 3
    assert all(k.id not in runtime_of(server).sandbox.keys for k in doomed)
    assert "Type the number of keys to revoke (3)" in seen[0] and all(
        f"…{k.last6}" in seen[0] for k in doomed
    )
    revoked = [e for e in audit(server) if e["outcome"] == "revoked"]
    assert sorted(e["key_id"] for e in revoked) == sorted(ids)


async def test_batch_revoke_with_the_wrong_count_changes_nothing(server, mode):
    ids = [k.id for k in victims(server, 2)]
    before = snapshot(server)
    async with Client(server, mode=mode, elicitation_callback=answer("accept", {"count": "5"})) as c:
        r = await c.call_tool("revoke_keys", {"key_ids": ids})
    assert r.structured_content["status"] == "not_confirmed" and snapshot(server) == before


async def test_batch_revoke_refuses_a_list_with_the_servers_own_key(server, mode):
    ids = [victims(server, 1)[0].id, own(server)]
    before = snapshot(server)
    async with Client(server, mode=mode, elicitation_callback=answer("accept", {"count": "2"})) as c:
        r = await c.call_tool("revoke_keys", {"key_ids": ids})
    assert r.is_error and "VENICE_ADMIN_KEY" in text(r)
    assert snapshot(server) == before


async def test_batch_revoke_is_capped_at_fifty(server, mode):
    async with Client(server, mode=mode) as c:
        r = await c.call_tool("revoke_keys", {"key_ids": [f"k{i}" for i in range(51)]})
    assert r.is_error and "key_ids" in text(r) and "50" in text(r)


async def test_batch_revoke_reports_each_keys_outcome_under_faults(server, mode):
    """One delete fails at Venice, one id is unknown: the rest are revoked, each outcome said and audited."""
    keys = victims(server, 3)
    unknown = "00000000-0000-0000-0000-000000000000"
    runtime_of(server).sandbox.faults.add("DELETE", "/api_keys", status=400, times=1)
    async with Client(server, mode=mode, elicitation_callback=answer("accept", {"count": "3"})) as c:
        r = await c.call_tool("revoke_keys", {"key_ids": [k.id for k in keys] + [unknown]})
    sc = r.structured_content
    assert sc["status"] == "revoked_some", text(r)
    by_id = {o["key_id"]: o["status"] for o in sc["outcomes"]}
    assert by_id[keys[0].id] == "failed" and by_id[unknown] == "already_gone"
    assert by_id[keys[1].id] == by_id[keys[2].id] == "revoked"
    state = runtime_of(server).sandbox
    assert keys[0].id in state.keys and keys[1].id not in state.keys and keys[2].id not in state.keys
    outcomes = {(e["key_id"], e["outcome"]) for e in audit(server)}
    assert {(keys[0].id, "failed"), (keys[1].id, "revoked"), (keys[2].id, "revoked")} <= outcomes


@pytest.mark.eras
async def test_batch_revoke_through_the_card(server, mode):
    keys = victims(server, 2)
    async with card_client(server, mode) as c:
        ask = await c.call_tool("revoke_keys", {"key_ids": [k.id for k in keys]})
    meta = ask.meta[META_KEY]
    assert meta["expect"] == "the number of keys to revoke (2)"
    wrong = await press(
        server, mode, approval_id=meta["approval_id"], decision="approve", nonce=meta["nonce"], typed="3"
    )
    assert wrong.structured_content["status"] == "not_confirmed"
    done = await press(
        server, mode, approval_id=meta["approval_id"], decision="approve", nonce=meta["nonce"], typed="2"
    )
    assert done.structured_content["outcome"]["status"] == "revoked_all", text(done)
    assert all(k.id not in runtime_of(server).sandbox.keys for k in keys)
