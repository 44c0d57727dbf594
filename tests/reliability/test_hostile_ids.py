"""A hostile upstream's key ids: refused at the client boundary, and no created key goes unrecorded.

Issue 12, finding 6: an answer naming the new key `..` (or an id long enough that the
secret file's shortened name collides with another) made the clean-up revoke raise a
`ValueError`: no audit entry, no revoke sent, a bare "failed unexpectedly". Each test
drives the real MCP server over the sandbox, with the hostile answer injected by the
sandbox's own fault plan; the key Venice really made is there to be found.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest
from mcp import Client

from tests.reliability.rig import Rig, approve_all, build_rig, text
from tests.reliability.test_upstream_faults import MINT, signed_mint
from venice_keys_mcp.venice import MalformedResponse, VeniceError
from venice_keys_mcp.venice.transport import InvalidKeyId

pytestmark = pytest.mark.anyio

HOSTILE_IDS = ["..", ".", "../../etc/passwd", "a" * 200, "id with space", "%2e%2e", "ключ"]


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return build_rig(tmp_path, timeout=0.5)


async def call(rig: Rig, tool: str, args: dict):
    async with Client(rig.server, mode="legacy", elicitation_callback=approve_all(rig.state)) as c:
        return await c.call_tool(tool, args)


def created_answer(key_id: str, description: str) -> bytes:
    """A create answer shaped like Venice's, but naming the key `key_id`; the secret is made here."""
    secret = "VENICE_INFERENCE_KEY_" + secrets.token_urlsafe(32)
    data = {
        "apiKey": secret,
        "apiKeyType": "INFERENCE",
        "consumptionLimit": {"usd": None, "diem": None, "vcu": None},
        "limitPeriod": "EPOCH",
        "modelPrivacy": "ALL",
        "description": description,
        "expiresAt": None,
        "id": key_id,
    }
    return json.dumps({"success": True, "data": data}).encode()


def entries_for(rig: Rig, tool: str) -> list:
    return [e for e in rig.runtime.audit.recent(50) if e.tool == tool]


@pytest.mark.parametrize("hostile", HOSTILE_IDS, ids=lambda s: repr(s[:12]))
async def test_create_answer_with_a_hostile_id_is_refused_recorded_and_the_real_key_named(
    rig: Rig, hostile: str
) -> None:
    before = rig.active_ids()
    rig.state.faults.add("POST", "/api_keys", body=created_answer(hostile, "hostile id"))
    r = await call(rig, "create_key", {"description": "hostile id"})
    assert not r.is_error, text(r)
    sc = r.structured_content
    (real,) = rig.active_ids() - before
    assert sc["status"] == "created_secret_lost" and sc["id"] == real
    assert "not a Venice key id" in text(r) and f"key_id={hostile} " not in text(r)
    assert rig.log.count("POST") == 1 and rig.log.count("DELETE") == 0
    (entry,) = entries_for(rig, "create_key")
    assert (entry.key_id, entry.outcome) == (real, "created_secret_lost")
    assert "not a Venice key id" in entry.detail
    secrets_dir = rig.runtime.secrets_dir
    assert not secrets_dir.exists() or not any(secrets_dir.iterdir())  # no file under any name


async def test_over_long_id_whose_file_name_would_collide_is_refused_and_the_other_file_kept(
    rig: Rig, tmp_path: Path
) -> None:
    """The old code shortened the id to 128 characters for the file name; two such ids shared a file."""
    long_id = "b" * 300
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir(mode=0o700)
    other = secrets_dir / ("b" * 128 + ".key")
    other.write_text("someone else's secret file\n")
    other.chmod(0o600)
    before = rig.active_ids()
    rig.state.faults.add("POST", "/api_keys", body=created_answer(long_id, "long id"))
    r = await call(rig, "create_key", {"description": "long id"})
    assert not r.is_error, text(r)
    (real,) = rig.active_ids() - before
    assert r.structured_content["status"] == "created_secret_lost" and r.structured_content["id"] == real
    assert other.read_text() == "someone else's secret file\n"
    (entry,) = entries_for(rig, "create_key")
    assert entry.outcome == "created_secret_lost" and entry.key_id == real


async def test_mint_answer_with_a_hostile_id_is_refused_and_recorded(rig: Rig) -> None:
    args = await signed_mint(rig, "minted hostile")
    before = rig.active_ids()
    rig.state.faults.add("POST", MINT, body=created_answer("..", "minted hostile"))
    r = await call(rig, "mint_web3_key", args)
    assert not r.is_error, text(r)
    (real,) = rig.active_ids() - before
    assert r.structured_content["status"] == "created_secret_lost" and r.structured_content["id"] == real
    (entry,) = entries_for(rig, "mint_web3_key")
    assert (entry.key_id, entry.outcome) == (real, "created_secret_lost")


async def test_a_hostile_id_in_the_account_makes_listing_a_clear_error_and_nothing_is_created(
    rig: Rig,
) -> None:
    """The account itself holds a key Venice names `..`: the list is refused, so no create is sent."""
    rig.state.create_key(rig.state.demo.account_id, api_key_type="INFERENCE", description="odd", key_id="..")
    r = await call(rig, "list_keys", {})
    assert r.is_error and "not a Venice key id" in text(r)
    r = await call(rig, "create_key", {"description": "after odd"})
    assert r.is_error and "not a Venice key id" in text(r)
    assert rig.log.count("POST") == 0


async def test_create_whose_read_back_also_names_a_hostile_id_ends_unknown_and_recorded(rig: Rig) -> None:
    """Venice answers the create with `..` and then lists the new key as `..` too: nothing to trust."""
    hostile_list = {"object": "list", "data": [
        {"id": "..", "apiKeyType": "INFERENCE", "description": "all hostile", "last6Chars": "abcdef",
         "consumptionLimits": {"usd": None, "diem": None, "vcu": None}},
    ]}  # fmt: skip
    rig.state.faults.add("GET", "/api_keys")  # the listing before the create passes through untouched
    rig.state.faults.add("GET", "/api_keys", body=json.dumps(hostile_list).encode(), times=-1)
    rig.state.faults.add("POST", "/api_keys", body=created_answer("..", "all hostile"))
    r = await call(rig, "create_key", {"description": "all hostile"})
    assert not r.is_error, text(r)
    assert r.structured_content["status"] == "outcome_unknown"
    assert "reading back failed" in text(r) and "Do not create it again yet" in text(r)
    (entry,) = entries_for(rig, "create_key")
    assert entry.outcome == "outcome_unknown" and entry.key_id is None
    assert rig.log.count("POST") == 1 and rig.log.count("DELETE") == 0


async def test_client_refuses_hostile_ids_in_requests_before_sending(rig: Rig) -> None:
    client = rig.runtime.client
    for bad in HOSTILE_IDS:
        for call_ in (client.get_key, client.delete_key):
            with pytest.raises(InvalidKeyId) as caught:
                await call_(bad)
            assert isinstance(caught.value, VeniceError) and isinstance(caught.value, ValueError)
    assert rig.log.count() == 0


async def test_client_refuses_an_answer_naming_a_hostile_id(rig: Rig) -> None:
    key_id = rig.victim()
    answer = {"data": {"id": "../admin", "apiKeyType": "INFERENCE", "last6Chars": "abcdef",
                       "consumptionLimits": {"usd": None, "diem": None, "vcu": None}}}  # fmt: skip
    rig.state.faults.add("GET", "/api_keys/*", body=json.dumps(answer).encode())
    with pytest.raises(MalformedResponse, match="not a Venice key id"):
        await rig.runtime.client.get_key(key_id)


async def test_an_unplanned_failure_after_the_create_was_sent_is_recorded_and_names_the_key(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever breaks once a key exists at Venice (here, the secret's file writer), the call ends
    with an audit entry and a result naming the key, not a bare "failed unexpectedly"."""

    def broken(*args: object, **kwargs: object) -> Path:
        raise RuntimeError("disk driver fell over")

    monkeypatch.setattr("venice_keys_mcp.tools.create.deliver_secret", broken)
    before = rig.active_ids()
    r = await call(rig, "create_key", {"description": "unplanned"})
    assert not r.is_error, text(r)
    (real,) = rig.active_ids() - before
    sc = r.structured_content
    assert sc["status"] == "outcome_unknown" and sc["id"] == real
    assert f"revoke_key key_id={real}" in text(r) and "RuntimeError" in text(r)
    (entry,) = entries_for(rig, "create_key")
    assert (entry.key_id, entry.outcome) == (real, "outcome_unknown")
    assert "RuntimeError: disk driver fell over" in entry.detail
