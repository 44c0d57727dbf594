"""`patch_key` never drops the cap it was not asked to change (issue 12, finding 9).

Venice's API does not say whether `PATCH /api_keys` merges or replaces `consumptionLimit`.
The sandbox can do either (`faults.consumption_limit_merge`); the tool must leave the
other cap in place under both, read every change back, and put back a cap that Venice
drops anyway, saying so in the result and the audit log. Each test drives the real MCP
server over the sandbox and looks at the sandbox's own state.
"""

from __future__ import annotations

from pathlib import Path

import httpx2
import pytest
from mcp import Client

from tests.reliability.rig import Rig, approve_all, build_rig, text
from venice_keys_mcp.sandbox import create_app
from venice_keys_mcp.venice import UpdateKeyRequest
from venice_keys_mcp.venice.models import LimitsInput

pytestmark = pytest.mark.anyio


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return build_rig(tmp_path, timeout=0.5)


def capped(rig: Rig, usd: float | None = 10, diem: float | None = 5) -> str:
    key_id = rig.victim()
    rig.state.keys[key_id].limits = {"usd": usd, "diem": diem, "vcu": None}
    return key_id


def caps(rig: Rig, key_id: str) -> tuple[float | None, float | None]:
    limits = rig.state.keys[key_id].limits
    return limits["usd"], limits["diem"]


async def call(rig: Rig, args: dict):
    async with Client(rig.server, mode="legacy", elicitation_callback=approve_all(rig.state)) as c:
        return await c.call_tool("patch_key", args)


def patch_entries(rig: Rig) -> list:
    return [e for e in rig.runtime.audit.recent(50) if e.tool == "patch_key"]


def drop_diem(rig: Rig, key_id: str, times: int) -> None:
    """Make the sandbox lose the key's DIEM cap after each of the next `times` changes it applies:
    an upstream that drops a cap whatever the request said."""
    left = [times]

    def after_change() -> None:
        if left[0] > 0:
            left[0] -= 1
            rig.state.keys[key_id].limits["diem"] = None

    rig.state.on_change = after_change


# ---- the sandbox itself -----------------------------------------------------------------------


@pytest.mark.parametrize(("merge", "diem_after"), [("merge", 5), ("replace", None)])
async def test_sandbox_patch_merges_or_replaces_consumption_limit_as_switched(
    rig: Rig, merge: str, diem_after: float | None
) -> None:
    key_id = capped(rig)
    rig.state.faults.consumption_limit_merge = merge  # type: ignore[assignment]
    await rig.runtime.client.update_key(UpdateKeyRequest(id=key_id, consumption_limit=LimitsInput(usd=20)))
    assert caps(rig, key_id) == (20, diem_after)


async def test_sandbox_switch_is_reachable_over_its_control_route_and_cleared_with_the_faults(
    rig: Rig,
) -> None:
    async with httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=create_app(rig.state)), base_url="http://sandbox"
    ) as http:
        bad = await http.post("/_sandbox/faults", json={"consumption_limit_merge": "sometimes"})
        assert bad.status_code == 400
        ok = await http.post("/_sandbox/faults", json={"consumption_limit_merge": "replace"})
        assert ok.status_code == 200 and rig.state.faults.consumption_limit_merge == "replace"
        listed = (await http.get("/_sandbox/faults")).json()
        assert listed["consumption_limit_merge"] == "replace"
        await http.delete("/_sandbox/faults")
    assert rig.state.faults.consumption_limit_merge == "merge"


# ---- the tool: the other cap survives either reading ------------------------------------------


@pytest.mark.parametrize("merge", ["merge", "replace"])
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"usd_limit": 8}, (8, 5)),  # narrowing USD: DIEM stays
        ({"diem_limit": 3}, (10, 3)),  # narrowing DIEM: USD stays
        ({"usd_limit": 30}, (30, 5)),  # widening USD (approved): DIEM stays
        ({"remove": ["usd_limit"]}, (None, 5)),  # removing USD (approved): DIEM stays
        ({"description": "renamed"}, (10, 5)),  # no cap in the request at all
    ],
    ids=["usd-down", "diem-down", "usd-up", "usd-removed", "no-cap"],
)
async def test_patch_keeps_the_cap_it_was_not_asked_to_change(
    rig: Rig, merge: str, args: dict, expected: tuple
) -> None:
    key_id = capped(rig)
    rig.state.faults.consumption_limit_merge = merge  # type: ignore[assignment]
    r = await call(rig, {"key_id": key_id, **args})
    assert not r.is_error, text(r)
    sc = r.structured_content
    assert sc["status"] == "updated" and "differences" not in sc, text(r)
    assert caps(rig, key_id) == expected
    assert rig.log.count("PATCH") == 1  # one request; the read-back is a GET
    assert rig.log.count("GET", f"/api_keys/{key_id}") >= 2  # read before, and read back after
    (entry,) = patch_entries(rig)
    assert entry.outcome == "updated"


async def test_patch_whose_answer_is_lost_in_replace_mode_keeps_the_other_cap(rig: Rig) -> None:
    key_id = capped(rig)
    rig.state.faults.consumption_limit_merge = "replace"
    rig.state.faults.add("PATCH", "/api_keys", drop="after")
    r = await call(rig, {"key_id": key_id, "usd_limit": 8})
    assert not r.is_error and r.structured_content["status"] == "updated", text(r)
    assert "reading back" in text(r) and caps(rig, key_id) == (8, 5)
    assert rig.log.count("PATCH") == 1


# ---- an upstream that drops a cap anyway ------------------------------------------------------


async def test_a_cap_dropped_anyway_is_restored_once_and_reported(rig: Rig) -> None:
    key_id = capped(rig)
    drop_diem(rig, key_id, times=1)
    r = await call(rig, {"key_id": key_id, "usd_limit": 8})
    assert not r.is_error, text(r)
    sc = r.structured_content
    assert sc["status"] == "updated"
    assert sc["differences"] == ["DIEM cap: approved 5, Venice reports none"]
    assert "restored by a corrective update" in text(r) and "DIEM 5" in text(r)
    assert caps(rig, key_id) == (8, 5) and sc["key"]["diem_cap"] == 5
    assert rig.log.count("PATCH") == 2
    first, fix = patch_entries(rig)
    assert first.outcome == "updated_with_differences"
    assert "DIEM cap: approved 5, Venice reports none" in first.detail
    assert (fix.outcome, fix.confirmation) == ("restored", "restore")


async def test_a_cap_that_stays_dropped_is_reported_with_the_caps_as_they_are(rig: Rig) -> None:
    key_id = capped(rig)
    drop_diem(rig, key_id, times=2)  # the corrective update loses it too
    r = await call(rig, {"key_id": key_id, "usd_limit": 8})
    assert not r.is_error, text(r)
    sc = r.structured_content
    assert sc["status"] == "updated_with_differences"
    assert "did not hold" in text(r) and "the key's caps are now USD 8, DIEM none" in text(r)
    assert caps(rig, key_id) == (8, None)
    assert rig.log.count("PATCH") == 2  # one corrective update, not a loop
    first, fix = patch_entries(rig)
    assert first.outcome == "updated_with_differences" and fix.outcome == "restore_failed"
    assert "DIEM none" in fix.detail


async def test_a_corrective_update_that_fails_says_what_the_caps_are(rig: Rig) -> None:
    key_id = capped(rig)
    drop_diem(rig, key_id, times=1)
    rig.state.faults.add("PATCH", "/api_keys")  # the first PATCH passes through untouched
    rig.state.faults.add("PATCH", "/api_keys", status=400)  # the corrective one is refused
    r = await call(rig, {"key_id": key_id, "usd_limit": 8})
    assert not r.is_error, text(r)
    assert r.structured_content["status"] == "updated_with_differences"
    assert "Restoring the DIEM cap failed" in text(r) and "USD 8, DIEM none" in text(r)
    assert caps(rig, key_id) == (8, None)
    assert [e.outcome for e in patch_entries(rig)] == ["updated_with_differences", "restore_failed"]


async def test_a_difference_that_widens_nothing_is_reported_and_left_alone(rig: Rig) -> None:
    key_id = capped(rig)

    def rename() -> None:
        rig.state.keys[key_id].description = "not what was asked"
        rig.state.on_change = None

    rig.state.on_change = rename
    r = await call(rig, {"key_id": key_id, "description": "asked for", "usd_limit": 8})
    assert not r.is_error, text(r)
    sc = r.structured_content
    assert sc["status"] == "updated_with_differences" and len(sc["differences"]) == 1
    assert sc["differences"][0].startswith("description: approved")
    assert rig.log.count("PATCH") == 1 and caps(rig, key_id) == (8, 5)
    (entry,) = patch_entries(rig)
    assert entry.outcome == "updated_with_differences"


async def test_when_the_read_back_fails_the_answer_to_the_change_is_still_checked(rig: Rig) -> None:
    key_id = capped(rig)
    drop_diem(rig, key_id, times=1)
    rig.state.faults.add("GET", "/api_keys/*", times=2)  # read for the approval and before sending: untouched
    rig.state.faults.add("GET", "/api_keys/*", status=400, times=-1)  # the read-back fails
    r = await call(rig, {"key_id": key_id, "usd_limit": 8})
    assert not r.is_error, text(r)
    sc = r.structured_content
    assert sc["status"] == "updated_with_differences"
    assert sc["differences"] == ["DIEM cap: approved 5, Venice reports none"]
    assert "Reading the key back to check it failed" in text(r) and "check its caps with get_key" in text(r)
    (entry,) = patch_entries(rig)
    assert entry.outcome == "updated_with_differences" and "reading back to check failed" in entry.detail
