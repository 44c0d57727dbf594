"""Operator policy end to end: one test per setting, through the real Client on both eras.

A refusal is an error (or `status: refused`) whose message names the setting that
governs it, nothing changes in the sandbox, and the audit log gains one `refused` entry.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from mcp import Client
from mcp.server.mcpserver import MCPServer

from tests.server.conftest import answer, runtime_of
from venice_keys_mcp.server import tool_names

READ_TOOLS, WRITE_TOOLS = tool_names()

pytestmark = pytest.mark.anyio


def text(r: Any) -> str:
    return "\n".join(c.text for c in r.content if getattr(c, "text", None))


def snapshot(server: MCPServer) -> dict[str, dict[str, Any]]:
    return {
        key_id: {k: v for k, v in dataclasses.asdict(key).items() if k != "last_used_at"}
        for key_id, key in runtime_of(server).sandbox.keys.items()
    }


def audit(server: MCPServer) -> list[dict[str, Any]]:
    path = runtime_of(server).audit.path
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def day(offset_days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=offset_days)).strftime("%Y-%m-%d")


async def refused(
    server: MCPServer, mode: str, tool: str, args: dict[str, Any], setting: str, *, key_id: str | None = None
) -> str:
    """Call `tool`, expect a refusal naming `setting`, no change, and one audit entry; return the message."""
    before, entries = snapshot(server), len(audit(server))
    seen: list[str] = []
    async with Client(server, mode=mode, elicitation_callback=answer("accept", {"approve": True}, seen)) as c:
        r = await c.call_tool(tool, args)
    sc = r.structured_content or {}
    assert r.is_error or sc.get("status") == "refused", text(r)
    message = text(r) if r.is_error else sc["message"]
    assert setting in message, message
    assert seen == [], "a refused call must not ask the person first"
    assert snapshot(server) == before
    log = audit(server)
    assert len(log) == entries + 1
    assert (log[-1]["tool"], log[-1]["outcome"], log[-1]["confirmation"]) == (tool, "refused", "policy")
    assert setting in log[-1]["detail"]
    if key_id is not None:
        assert log[-1]["key_id"] == key_id
    return message


async def allowed(
    server: MCPServer, mode: str, tool: str, args: dict[str, Any], status: str
) -> dict[str, Any]:
    async with Client(server, mode=mode, elicitation_callback=answer("accept", {"approve": True})) as c:
        r = await c.call_tool(tool, args)
    assert not r.is_error and r.structured_content["status"] == status, text(r)
    return r.structured_content


def capped_key(server: MCPServer, unit: str) -> Any:
    rt = runtime_of(server)
    return next(
        k
        for k in rt.sandbox.keys.values()
        if k.limits.get(unit) is not None and k.id != rt.sandbox.demo.admin_key_id
    )


# -- VENICE_KEYS_READ_ONLY -------------------------------------------------------------


async def test_read_only_lists_no_write_tools_and_changes_nothing(make_server, mode):
    server = make_server(read_only=True)
    before = snapshot(server)
    async with Client(server, mode=mode) as c:
        names = {t.name for t in (await c.list_tools()).tools}
        r = await c.call_tool("revoke_key", {"key_id": runtime_of(server).sandbox.demo.inference_key_id})
        reads = await c.call_tool("list_keys", {})
    assert names == set(READ_TOOLS) and not names & set(WRITE_TOOLS)
    assert r.is_error and "revoke_key" in text(r) and "VENICE_KEYS_READ_ONLY" in text(r), text(r)
    assert "unknown tool" not in text(r).lower()
    assert not reads.is_error
    assert snapshot(server) == before


@pytest.mark.parametrize("tool", WRITE_TOOLS)
async def test_read_only_refuses_each_write_tool_by_its_setting_and_audits_it(make_server, mode, tool):
    """Unlisted is not unknown: a call anyway names VENICE_KEYS_READ_ONLY and leaves an audit entry."""
    server = make_server(read_only=True)
    key_id = runtime_of(server).sandbox.demo.inference_key_id
    args = {
        "revoke_key": {"key_id": key_id},
        "patch_key": {"key_id": key_id, "usd_limit": 1},
        "create_key": {"description": "not while read-only"},
        "mint_web3_key": {"address": "0x" + "11" * 20, "signature": "0x" + "22" * 65, "token": "t"},
        "approve_action": {"approval_id": "ap_x", "decision": "approve", "nonce": "n"},
        "revoke_keys": {"key_ids": [key_id]},
        "rotate_key": {"key_id": key_id},
    }[tool]
    message = await refused(server, mode, tool, args, "VENICE_KEYS_READ_ONLY", key_id=args.get("key_id"))
    assert "nothing was changed" in message


# -- VENICE_KEYS_ALLOW_ADMIN_KEYS ------------------------------------------------------


async def test_admin_key_creation_is_refused_unless_allowed(server, mode):
    await refused(
        server,
        mode,
        "create_key",
        {"description": "root", "key_type": "ADMIN"},
        "VENICE_KEYS_ALLOW_ADMIN_KEYS",
    )


async def test_admin_key_minting_is_refused_unless_allowed(server, mode):
    demo = runtime_of(server).sandbox.demo
    async with Client(server, mode=mode) as c:
        token = (await c.call_tool("get_web3_token", {})).structured_content["token"]
    sig = Account.sign_message(
        encode_defunct(text=token), private_key=demo.wallet_private_key
    ).signature.hex()
    args = {
        "address": demo.wallet_address,
        "signature": sig if sig.startswith("0x") else "0x" + sig,
        "token": token,
        "key_type": "ADMIN",
    }
    await refused(server, mode, "mint_web3_key", args, "VENICE_KEYS_ALLOW_ADMIN_KEYS")


async def test_admin_key_creation_allowed_when_set(make_server, mode):
    server = make_server(allow_admin_keys=True)
    sc = await allowed(server, mode, "create_key", {"description": "ops", "key_type": "ADMIN"}, "created")
    assert runtime_of(server).sandbox.keys[sc["id"]].api_key_type == "ADMIN"


# -- VENICE_KEYS_MAX_USD / VENICE_KEYS_MAX_DIEM ----------------------------------------

CAPS = [
    ("usd", "usd_limit", "VENICE_KEYS_MAX_USD", "max_usd"),
    ("diem", "diem_limit", "VENICE_KEYS_MAX_DIEM", "max_diem"),
]


@pytest.mark.parametrize(("unit", "arg", "env", "setting"), CAPS)
async def test_create_needs_a_cap_within_the_maximum(make_server, mode, unit, arg, env, setting):
    server = make_server(**{setting: 50})
    await refused(server, mode, "create_key", {"description": "uncapped"}, env)
    message = await refused(server, mode, "create_key", {"description": "too big", arg: 60}, env)
    assert "60" in message and "50" in message
    sc = await allowed(server, mode, "create_key", {"description": "fits", arg: 50}, "created")
    assert runtime_of(server).sandbox.keys[sc["id"]].limits[unit] == 50


@pytest.mark.parametrize(("unit", "arg", "env", "setting"), CAPS)
async def test_patch_cannot_raise_or_remove_a_cap_past_the_maximum(
    make_server, mode, unit, arg, env, setting
):
    server = make_server(**{setting: 50})
    key = capped_key(server, unit)
    await refused(server, mode, "patch_key", {"key_id": key.id, arg: 60}, env, key_id=key.id)
    await refused(server, mode, "patch_key", {"key_id": key.id, "remove": [arg]}, env, key_id=key.id)
    await allowed(server, mode, "patch_key", {"key_id": key.id, arg: 1}, "updated")
    assert runtime_of(server).sandbox.keys[key.id].limits[unit] == 1


async def test_minting_without_a_cap_is_refused_under_a_maximum(make_server, mode):
    server = make_server(max_usd=10)
    demo = runtime_of(server).sandbox.demo
    async with Client(server, mode=mode) as c:
        token = (await c.call_tool("get_web3_token", {})).structured_content["token"]
    sig = Account.sign_message(
        encode_defunct(text=token), private_key=demo.wallet_private_key
    ).signature.hex()
    args = {
        "address": demo.wallet_address,
        "signature": sig if sig.startswith("0x") else "0x" + sig,
        "token": token,
    }
    await refused(server, mode, "mint_web3_key", args, "VENICE_KEYS_MAX_USD")


# -- VENICE_KEYS_MAX_EXPIRY_DAYS -------------------------------------------------------


async def test_create_needs_an_expiry_within_the_maximum(make_server, mode):
    server = make_server(max_expiry_days=30)
    env = "VENICE_KEYS_MAX_EXPIRY_DAYS"
    await refused(server, mode, "create_key", {"description": "forever"}, env)
    await refused(server, mode, "create_key", {"description": "too long", "expires_at": day(40)}, env)
    sc = await allowed(server, mode, "create_key", {"description": "short", "expires_at": day(10)}, "created")
    assert runtime_of(server).sandbox.keys[sc["id"]].expires_at is not None


async def test_patch_cannot_remove_or_push_an_expiry_past_the_maximum(make_server, mode):
    server = make_server(max_expiry_days=30)
    env = "VENICE_KEYS_MAX_EXPIRY_DAYS"
    rt = runtime_of(server)
    key = next(
        k for k in rt.sandbox.keys.values() if k.expires_at is not None and not rt.sandbox.is_expired(k)
    )
    await refused(server, mode, "patch_key", {"key_id": key.id, "remove": ["expires_at"]}, env, key_id=key.id)
    await refused(server, mode, "patch_key", {"key_id": key.id, "expires_at": day(40)}, env, key_id=key.id)
    await allowed(server, mode, "patch_key", {"key_id": key.id, "expires_at": day(20)}, "updated")
    assert rt.sandbox.keys[key.id].expires_at.strftime("%Y-%m-%d") == day(20)


# -- the server's own key (VENICE_ADMIN_KEY) -------------------------------------------


@pytest.fixture
def own_key(server: MCPServer) -> str:
    return runtime_of(server).sandbox.demo.admin_key_id


async def test_own_key_cannot_be_revoked(server, mode, own_key):
    await refused(server, mode, "revoke_key", {"key_id": own_key}, "VENICE_ADMIN_KEY", key_id=own_key)
    assert own_key in runtime_of(server).sandbox.keys


async def test_own_key_may_be_narrowed_but_not_widened(server, mode, own_key):
    env = "VENICE_ADMIN_KEY"
    await allowed(server, mode, "patch_key", {"key_id": own_key, "usd_limit": 1000}, "updated")
    assert runtime_of(server).sandbox.keys[own_key].limits["usd"] == 1000
    await refused(server, mode, "patch_key", {"key_id": own_key, "usd_limit": 2000}, env, key_id=own_key)
    await refused(
        server, mode, "patch_key", {"key_id": own_key, "remove": ["usd_limit"]}, env, key_id=own_key
    )
    await refused(server, mode, "patch_key", {"key_id": own_key, "expires_at": day(365)}, env, key_id=own_key)
    await allowed(server, mode, "patch_key", {"key_id": own_key, "usd_limit": 500}, "updated")
    assert runtime_of(server).sandbox.keys[own_key].limits["usd"] == 500


async def test_own_key_is_recognised_by_its_last_six_characters(tmp_path, mode):
    """Against a real account the server knows its key only by the secret: the last six decide."""
    from venice_keys_mcp.runtime import build_runtime
    from venice_keys_mcp.sandbox import asgi_transport, create_app, seeded_state
    from venice_keys_mcp.server import build_server
    from venice_keys_mcp.settings import Settings

    state = seeded_state()
    settings = Settings(
        admin_key=state.demo.admin_key,
        base_url="http://sandbox/api/v1",
        secrets_dir=tmp_path / "s",
        audit_log=tmp_path / "a.jsonl",
    )
    rt = build_runtime(settings, transport=asgi_transport(create_app(state)))
    server = build_server(settings, runtime=rt)
    assert rt.policy.own_key_id is None
    server.runtime.sandbox = state  # type: ignore[attr-defined]  # so the helpers can see the state
    await refused(server, mode, "revoke_key", {"key_id": state.demo.admin_key_id}, "VENICE_ADMIN_KEY")


# -- a refused call never reaches the person -------------------------------------------


@pytest.mark.eras
async def test_policy_is_checked_before_confirmation(make_server, mode):
    """A widening the policy forbids is refused outright, not put to the person first."""
    server = make_server(max_usd=50)
    key = capped_key(server, "usd")
    seen: list[str] = []
    async with Client(server, mode=mode, elicitation_callback=answer("accept", {"approve": True}, seen)) as c:
        r = await c.call_tool("patch_key", {"key_id": key.id, "usd_limit": 500})
    assert r.is_error and "VENICE_KEYS_MAX_USD" in text(r)
    assert seen == []
