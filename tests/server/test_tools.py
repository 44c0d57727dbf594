"""Every tool through the SDK's own Client, in memory, on both protocol eras, against the sandbox."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from mcp import Client

from tests.server.conftest import answer, runtime_of
from tests.support import tool_catalog

pytestmark = pytest.mark.anyio


def text(r: Any) -> str:
    return "\n".join(c.text for c in r.content if getattr(c, "text", None))


async def active_ids(server) -> set[str]:
    rt = runtime_of(server)
    return {k.id for k in await rt.client.list_keys()}


#: What each write tool tells a host about itself; a host may ask before a destructive call, and
#: the audit guard records every tool that is not read-only. A new tool's hints are reviewed in
#: its snapshot; these pin the ones whose reason is written down.
WRITE_HINTS = {
    "create_key": (False, False, False, True),  # adds a key
    "mint_web3_key": (False, False, False, True),
    "patch_key": (False, True, True, True),  # overwrites caps, expiry, description
    "revoke_key": (False, True, True, True),
    "revoke_keys": (False, True, True, True),
    "rotate_key": (False, True, False, True),  # makes a new key each time
}


async def test_tools_list_is_the_catalog_with_every_annotation_set(server, mode):
    """Every tool in the snapshots is listed (less app-only ones), each with all four hints set."""
    async with Client(server, mode=mode) as c:
        tools = (await c.list_tools()).tools
    assert {t.name for t in tools} == tool_catalog.model_facing()
    for t in tools:
        a = t.annotations
        assert t.title and t.description and t.output_schema, t.name
        assert a is not None and a.destructive_hint is not None and a.read_only_hint is not None, t.name
        assert a.idempotent_hint is not None and a.open_world_hint is not None, t.name
        if a.read_only_hint:  # reading never destroys; every tool reaches Venice, an open world
            assert a.destructive_hint is False and a.open_world_hint is True, t.name
    hints = {
        t.name: (a.read_only_hint, a.destructive_hint, a.idempotent_hint, a.open_world_hint)
        for t in tools
        if (a := t.annotations) is not None
    }
    assert {name: hints[name] for name in WRITE_HINTS} == WRITE_HINTS
    assert hints["get_web3_token"] == (True, False, False, True)  # a new token each call
    by = {t.name: t for t in tools}
    assert "confirmation" not in by["revoke_key"].input_schema["properties"]


async def test_what_the_model_reads_of_tools_list_is_at_most_500_bytes_per_tool(server):
    """Name, description and input schema: what hosts put in the model's context (output schemas are not)."""
    from benchmarks.context import MODEL_FACING_PER_TOOL, model_facing_bytes

    async with Client(server, mode="legacy") as c:
        listed = (await c.list_tools()).model_dump(mode="json", by_alias=True, exclude_none=True)
    size, count = model_facing_bytes(listed), len(listed["tools"])
    assert count == len(tool_catalog.model_facing())
    assert size <= MODEL_FACING_PER_TOOL * count, f"{size} bytes for {count} tools"


async def test_list_keys_default_is_one_compact_line_per_key(server, mode):
    async with Client(server, mode=mode) as c:
        r = await c.call_tool("list_keys", {})
    assert not r.is_error
    sc = r.structured_content
    assert sc["total"] == len(sc["keys"]) == sc["matched"]
    lines = text(r).splitlines()
    assert len(lines) == 2 + sc["total"]
    assert "VENICE_" not in text(r)
    assert all(len(line) < 200 for line in lines)


async def test_list_keys_filters(server):
    async with Client(server, mode="legacy") as c:
        admin = (await c.call_tool("list_keys", {"key_type": "ADMIN"})).structured_content
        assert admin["keys"] and all(k["type"] == "ADMIN" for k in admin["keys"])
        never = (await c.call_tool("list_keys", {"never_used": True})).structured_content
        assert never["keys"] and all("last_used" not in k for k in never["keys"])
        soon = (await c.call_tool("list_keys", {"expiring_days": 7})).structured_content
        assert soon["keys"] and all("expires" in k for k in soon["keys"])
        uncapped = (await c.call_tool("list_keys", {"no_cap": True})).structured_content
        assert uncapped["keys"] and all("usd_cap" not in k and "diem_cap" not in k for k in uncapped["keys"])
        stale = (await c.call_tool("list_keys", {"unused_days": 90})).structured_content
        assert stale["matched"] >= 1
        first = admin["keys"][0]
        found = (await c.call_tool("list_keys", {"search": first["last6"]})).structured_content
        assert first["id"] in {k["id"] for k in found["keys"]}


async def test_list_keys_over_500_keys_returns_one_page(make_server):
    server = make_server(sandbox_keys=500)
    async with Client(server, mode="2026-07-28") as c:
        r = await c.call_tool("list_keys", {})
        sc = r.structured_content
        assert sc["total"] == 500 and len(sc["keys"]) == 20 and sc["pages"] == 25
        assert "next: page=2" in text(r)
        last = await c.call_tool("list_keys", {"page": 25})
        assert len(last.structured_content["keys"]) == 20


async def test_get_key_shows_details_and_never_the_secret(server, mode):
    rt = runtime_of(server)
    demo = rt.sandbox.demo
    async with Client(server, mode=mode) as c:
        r = await c.call_tool("get_key", {"key_id": demo.admin_key_id})
    assert not r.is_error
    assert r.structured_content["server_key"] is True
    assert demo.admin_key not in json.dumps(r.model_dump(mode="json"))


async def test_an_unknown_key_id_is_a_clear_error_and_changes_nothing(server, mode):
    missing = {"key_id": "00000000-0000-0000-0000-000000000000"}
    before = await active_ids(server)
    async with Client(server, mode=mode) as c:
        answers = {
            "get_key": await c.call_tool("get_key", missing),
            "patch_key": await c.call_tool("patch_key", {**missing, "description": "renamed"}),
            "revoke_key": await c.call_tool("revoke_key", missing),
        }
    for tool, r in answers.items():
        assert r.is_error and "not found" in text(r).lower(), (tool, text(r))
    assert await active_ids(server) == before


async def test_invalid_arguments_are_refused_before_any_request(server):
    state = runtime_of(server).sandbox
    state.faults.add("GET", "/api_keys/*", status=500, times=-1)
    async with Client(server, mode="legacy") as c:
        r = await c.call_tool("get_key", {"key_id": "../../etc/passwd"})
        assert r.is_error and "500" not in text(r)
        r = await c.call_tool("create_key", {"description": "x" * 65})
        assert r.is_error
        r = await c.call_tool("create_key", {"description": "ok", "expires_at": "tomorrow"})
        assert r.is_error
        r = await c.call_tool("create_key", {"description": "ok", "usd_limit": -1})
        assert r.is_error
        r = await c.call_tool("list_keys", {"page_size": 1000})
        assert r.is_error


async def test_create_key_saves_secret_to_private_file_and_hides_it(server, mode, tmp_path):
    async with Client(server, mode=mode) as c:
        r = await c.call_tool("create_key", {"description": "ci runner", "usd_limit": 25})
    assert not r.is_error, text(r)
    sc = r.structured_content
    assert sc["status"] == "created" and sc["key_type"] == "INFERENCE" and "secret" not in sc
    path = sc["secret_file"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    secret = Path(path).read_text().splitlines()[0]
    assert secret.startswith("VENICE_INFERENCE_KEY_") and secret.endswith(sc["last6"])
    assert secret not in json.dumps(r.model_dump(mode="json"))
    assert sc["id"] in await active_ids(server)


async def test_create_key_reveal_secret_returns_it_inline(server, mode):
    async with Client(server, mode=mode, elicitation_callback=answer("accept", {"show_secret": True})) as c:
        r = await c.call_tool("create_key", {"description": "shown once", "reveal_secret": True})
    sc = r.structured_content
    assert sc["secret"].startswith("VENICE_INFERENCE_KEY_")
    assert Path(sc["secret_file"]).read_text().startswith(sc["secret"])


@pytest.mark.eras
async def test_create_admin_key_refused_unless_allowed(server, mode):
    before = await active_ids(server)
    async with Client(server, mode=mode, elicitation_callback=answer("accept", {"approve": True})) as c:
        r = await c.call_tool("create_key", {"description": "root", "key_type": "ADMIN"})
    assert r.is_error and "VENICE_KEYS_ALLOW_ADMIN_KEYS" in text(r)
    assert await active_ids(server) == before


@pytest.mark.eras
async def test_create_admin_key_asks_the_human(make_server, mode):
    server = make_server(allow_admin_keys=True)
    seen: list[str] = []
    async with Client(server, mode=mode, elicitation_callback=answer("accept", {"approve": True}, seen)) as c:
        r = await c.call_tool("create_key", {"description": "ops admin", "key_type": "ADMIN"})
    assert r.structured_content["status"] == "created", text(r)
    assert seen and "ADMIN" in seen[0]


@pytest.mark.eras
async def test_patch_narrowing_needs_no_confirmation(server, mode):
    key_id = runtime_of(server).sandbox.demo.inference_key_id
    async with Client(server, mode=mode) as c:  # no elicitation: would need a token if it asked
        r = await c.call_tool("patch_key", {"key_id": key_id, "usd_limit": 1, "description": "narrowed"})
    assert r.structured_content["status"] == "updated", text(r)
    key = await runtime_of(server).client.get_key(key_id)
    assert key.consumption_limits.usd == 1 and key.description == "narrowed"


@pytest.mark.eras
async def test_patch_remove_cap_is_widening_and_asks(server, mode):
    rt = runtime_of(server)
    capped = next(
        k
        for k in await rt.client.list_keys()
        if k.consumption_limits.usd is not None and k.last6 != rt.own_key_last6
    )
    seen: list[str] = []
    async with Client(server, mode=mode, elicitation_callback=answer("accept", {"approve": True}, seen)) as c:
        r = await c.call_tool("patch_key", {"key_id": capped.id, "remove": ["usd_limit"]})
    assert r.structured_content["status"] == "updated", text(r)
    assert seen and "usd" in seen[0].lower()
    assert (await rt.client.get_key(capped.id)).consumption_limits.usd is None


async def test_patch_set_and_remove_same_field_is_refused(server):
    key_id = runtime_of(server).sandbox.demo.inference_key_id
    async with Client(server, mode="legacy") as c:
        r = await c.call_tool("patch_key", {"key_id": key_id, "usd_limit": 5, "remove": ["usd_limit"]})
    assert r.is_error and "both" in text(r)


async def victim(server) -> Any:
    rt = runtime_of(server)
    return next(k for k in await rt.client.list_keys() if k.last6 != rt.own_key_last6)


@pytest.mark.eras
async def test_revoke_with_typed_last6_revokes(server, mode):
    key = await victim(server)
    async with Client(server, mode=mode, elicitation_callback=answer("accept", {"last6": key.last6})) as c:
        r = await c.call_tool("revoke_key", {"key_id": key.id})
    assert r.structured_content["status"] == "revoked", text(r)
    assert key.id not in await active_ids(server)


@pytest.mark.parametrize(
    ("action", "content", "status"),
    [
        ("accept", {"last6": "nope!!"}, "not_confirmed"),
        ("decline", None, "declined"),
        ("cancel", None, "cancelled"),
    ],
)
@pytest.mark.eras
async def test_revoke_not_confirmed_changes_nothing(server, mode, action, content, status):
    key = await victim(server)
    async with Client(server, mode=mode, elicitation_callback=answer(action, content)) as c:
        r = await c.call_tool("revoke_key", {"key_id": key.id})
    assert r.structured_content["status"] == status
    assert key.id in await active_ids(server)


@pytest.mark.eras
async def test_revoke_without_elicitation_uses_a_single_use_token(make_server, mode):
    """VENICE_KEYS_CONFIRM=agent: the operator accepts that the agent relays the person's yes."""
    server = make_server(confirm="agent")
    key = await victim(server)
    async with Client(server, mode=mode) as c:
        first = await c.call_tool("revoke_key", {"key_id": key.id})
        sc = first.structured_content
        assert sc["status"] == "confirmation_required" and sc["confirmation_token"]
        assert key.id in await active_ids(server)
        ok = await c.call_tool(
            "revoke_key", {"key_id": key.id, "confirmation_token": sc["confirmation_token"]}
        )
        assert ok.structured_content["status"] == "revoked"
    assert key.id not in await active_ids(server)


@pytest.mark.eras
async def test_revoke_refuses_the_servers_own_key(server, mode):
    rt = runtime_of(server)
    own = rt.sandbox.demo.admin_key_id
    async with Client(
        server, mode=mode, elicitation_callback=answer("accept", {"last6": rt.own_key_last6})
    ) as c:
        r = await c.call_tool("revoke_key", {"key_id": own})
    assert r.is_error and "lock the server out" in text(r)
    assert own in await active_ids(server)


async def test_get_limits_and_breach_log_summarise(server, mode):
    async with Client(server, mode=mode) as c:
        lim = await c.call_tool("get_limits", {})
        assert not lim.is_error and lim.structured_content["models_total"] >= 1
        some = lim.structured_content["models"][0]["model"]
        filt = await c.call_tool("get_limits", {"model": some})
        assert all(some in m["model"] for m in filt.structured_content["models"])
        log = await c.call_tool("get_breach_log", {})
        sc = log.structured_content
        assert sc["total"] >= 1 and sc["by_key_and_type"]
        rpm = await c.call_tool("get_breach_log", {"limit_type": "RPM"})
        assert all(e["type"] == "RPM" for e in rpm.structured_content["entries"])


async def test_web3_token_and_mint(server, mode):
    demo = runtime_of(server).sandbox.demo
    async with Client(server, mode=mode) as c:
        tok = await c.call_tool("get_web3_token", {})
        token = tok.structured_content["token"]
        sig = Account.sign_message(
            encode_defunct(text=token), private_key=demo.wallet_private_key
        ).signature.hex()
        sig = sig if sig.startswith("0x") else "0x" + sig
        r = await c.call_tool(
            "mint_web3_key",
            {"address": demo.wallet_address, "signature": sig, "token": token, "description": "wallet key"},
        )
    assert r.structured_content["status"] == "created", text(r)
    assert os.path.exists(r.structured_content["secret_file"])


async def test_inference_key_gets_a_clear_admin_key_error(tmp_path, mode):
    from venice_keys_mcp.runtime import build_runtime
    from venice_keys_mcp.sandbox import asgi_transport, create_app, seeded_state
    from venice_keys_mcp.server import build_server
    from venice_keys_mcp.settings import Settings

    state = seeded_state()
    settings = Settings(
        admin_key=state.demo.inference_key,
        base_url="http://sandbox/api/v1",
        secrets_dir=tmp_path / "s",
        audit_log=tmp_path / "a.jsonl",
    )
    rt = build_runtime(settings, transport=asgi_transport(create_app(state)))
    async with Client(build_server(settings, runtime=rt), mode=mode) as c:
        r = await c.call_tool("list_keys", {})
        breaches = await c.call_tool("get_breach_log", {})
        limits = await c.call_tool("get_limits", {})  # any key may read its own limits
    assert r.is_error and "ADMIN key" in text(r)
    assert breaches.is_error and "ADMIN key" in text(breaches)
    assert not limits.is_error and limits.structured_content["models"], text(limits)
    for reply in (r, breaches, limits):
        assert state.demo.inference_key not in text(reply)


async def test_rate_limited_by_venice_says_when_to_retry(server, mode):
    runtime_of(server).sandbox.faults.add("GET", "/api_keys", status=429, times=-1)
    async with Client(server, mode=mode) as c:
        r = await c.call_tool("list_keys", {})
    assert r.is_error and "try again" in text(r).lower()


async def test_twenty_first_creation_in_a_minute_is_refused_before_venice(server):
    async with Client(server, mode="legacy") as c:
        for i in range(20):
            r = await c.call_tool("create_key", {"description": f"batch {i}"})
            assert r.structured_content["status"] == "created", text(r)
        before = await active_ids(server)
        r = await c.call_tool("create_key", {"description": "one too many"})
    assert r.is_error and "20" in text(r) and "try again" in text(r).lower()
    assert await active_ids(server) == before


async def test_500_key_cap_is_explained(make_server):
    server = make_server(sandbox_keys=500)
    async with Client(server, mode="legacy") as c:
        r = await c.call_tool("create_key", {"description": "one more"})
    assert r.is_error and "500" in text(r)


async def test_audit_resource_lists_recent_changes(server):
    key = await victim(server)
    async with Client(server, mode="legacy", elicitation_callback=answer("decline")) as c:
        await c.call_tool("revoke_key", {"key_id": key.id})
        res = await c.read_resource("venice-keys://audit/recent")
    entries = json.loads(res.contents[0].text)
    assert entries[-1]["tool"] == "revoke_key" and entries[-1]["outcome"] == "declined"


# ---- mint_web3_key: held to create_key's rules ---------------------------------------------------


async def mint_args(c: Client, private_key: str, address: str, **extra: Any) -> dict[str, Any]:
    """A fresh token from the tool, signed with `private_key` (EIP-191), as mint_web3_key's arguments."""
    token = (await c.call_tool("get_web3_token", {})).structured_content["token"]
    sig = Account.sign_message(encode_defunct(text=token), private_key=private_key).signature.hex()
    return {
        "address": address,
        "signature": sig if sig.startswith("0x") else "0x" + sig,
        "token": token,
        **extra,
    }


def last_audit(server) -> Any:
    return runtime_of(server).audit.recent(1)[0]


async def test_mint_result_names_the_new_key_by_id(server, mode):
    demo = runtime_of(server).sandbox.demo
    async with Client(server, mode=mode) as c:
        r = await c.call_tool(
            "mint_web3_key", await mint_args(c, demo.wallet_private_key, demo.wallet_address)
        )
    sc = r.structured_content
    assert sc["status"] == "created" and "key_id" not in sc, text(r)
    assert sc["id"] in await active_ids(server) and sc["key_type"] == "INFERENCE"
    assert Path(sc["secret_file"]).read_text().splitlines()[0].endswith(sc["last6"])
    assert runtime_of(server).sandbox.keys[sc["id"]].description == "Web3 API Key"


async def test_mint_refused_by_venice_is_an_error_with_an_audit_entry(server, mode):
    demo = runtime_of(server).sandbox.demo
    before = await active_ids(server)
    async with Client(server, mode=mode) as c:
        args = await mint_args(c, demo.unstaked_wallet_private_key, demo.unstaked_wallet_address)
        r = await c.call_tool("mint_web3_key", args)
    assert r.is_error and "Not created" in text(r) and "staked VVV" in text(r)
    assert await active_ids(server) == before
    entry = last_audit(server)
    assert (entry.tool, entry.key_id, entry.outcome) == ("mint_web3_key", None, "failed")
    assert "staked VVV" in entry.detail


async def test_500_key_cap_refuses_create_and_mint_alike_before_sending(make_server):
    server = make_server(sandbox_keys=500)
    demo = runtime_of(server).sandbox.demo
    before = await active_ids(server)
    async with Client(server, mode="2026-07-28") as c:
        created = await c.call_tool("create_key", {"description": "one more"})
        mint = await mint_args(c, demo.wallet_private_key, demo.wallet_address)
        minted = await c.call_tool("mint_web3_key", mint)
    for r in (created, minted):
        assert r.is_error and "500 active keys" in text(r) and "unused_days" in text(r), text(r)
    assert await active_ids(server) == before
    entry = last_audit(server)
    assert (entry.tool, entry.outcome) == ("mint_web3_key", "refused") and "active key limit" in entry.detail


@pytest.mark.eras
async def test_admin_mint_refused_unless_allowed(server, mode):
    demo = runtime_of(server).sandbox.demo
    seen: list[str] = []
    before = await active_ids(server)
    async with Client(server, mode=mode, elicitation_callback=answer("accept", {"approve": True}, seen)) as c:
        args = await mint_args(c, demo.wallet_private_key, demo.wallet_address, key_type="ADMIN")
        r = await c.call_tool("mint_web3_key", args)
    assert r.is_error and "VENICE_KEYS_ALLOW_ADMIN_KEYS" in text(r) and seen == []
    assert await active_ids(server) == before
    assert (last_audit(server).outcome, last_audit(server).confirmation) == ("refused", "policy")


@pytest.mark.eras
async def test_admin_mint_asks_the_human_and_mints_when_approved(make_server, mode):
    server = make_server(allow_admin_keys=True)
    demo = runtime_of(server).sandbox.demo
    seen: list[str] = []
    async with Client(server, mode=mode, elicitation_callback=answer("accept", {"approve": True}, seen)) as c:
        args = await mint_args(c, demo.wallet_private_key, demo.wallet_address, key_type="ADMIN")
        r = await c.call_tool("mint_web3_key", {**args, "description": "wallet admin"})
    sc = r.structured_content
    assert sc["status"] == "created" and sc["key_type"] == "ADMIN", text(r)
    assert seen and "ADMIN" in seen[0] and demo.wallet_address in seen[0] and "«wallet admin»" in seen[0]
    assert runtime_of(server).sandbox.keys[sc["id"]].api_key_type == "ADMIN"
    assert (last_audit(server).outcome, last_audit(server).confirmation) == ("created", "elicitation")


@pytest.mark.eras
@pytest.mark.parametrize(("action", "status"), [("decline", "declined"), ("cancel", "cancelled")])
async def test_admin_mint_declined_mints_nothing(make_server, mode, action, status):
    server = make_server(allow_admin_keys=True)
    demo = runtime_of(server).sandbox.demo
    before = await active_ids(server)
    async with Client(server, mode=mode, elicitation_callback=answer(action)) as c:
        args = await mint_args(c, demo.wallet_private_key, demo.wallet_address, key_type="ADMIN")
        r = await c.call_tool("mint_web3_key", args)
    assert not r.is_error and r.structured_content["status"] == status, text(r)
    assert await active_ids(server) == before
    assert (last_audit(server).tool, last_audit(server).outcome) == ("mint_web3_key", status)


@pytest.mark.eras
async def test_admin_mint_without_elicitation_needs_an_approved_token(make_server, mode):
    server = make_server(allow_admin_keys=True, confirm="agent")
    demo = runtime_of(server).sandbox.demo
    before = await active_ids(server)
    async with Client(server, mode=mode) as c:
        args = await mint_args(c, demo.wallet_private_key, demo.wallet_address, key_type="ADMIN")
        ask = (await c.call_tool("mint_web3_key", args)).structured_content
        assert ask["status"] == "confirmation_required" and ask["confirmation_token"]
        assert await active_ids(server) == before
        wider = await c.call_tool(
            "mint_web3_key", {**args, "usd_limit": 5, "confirmation_token": ask["confirmation_token"]}
        )
        assert wider.structured_content["status"] == "refused"  # the token is for what was shown
        ask = (await c.call_tool("mint_web3_key", args)).structured_content
        ok = await c.call_tool("mint_web3_key", {**args, "confirmation_token": ask["confirmation_token"]})
    assert ok.structured_content["status"] == "created", text(ok)
    assert ok.structured_content["id"] in await active_ids(server)


async def test_mints_and_creates_share_the_twenty_a_minute_window(server):
    demo = runtime_of(server).sandbox.demo
    async with Client(server, mode="legacy") as c:
        for i in range(19):
            assert (await c.call_tool("create_key", {"description": f"batch {i}"})).structured_content[
                "status"
            ] == "created"
        args = await mint_args(c, demo.wallet_private_key, demo.wallet_address)
        assert (await c.call_tool("mint_web3_key", args)).structured_content["status"] == "created"
        before = await active_ids(server)
        create = await c.call_tool("create_key", {"description": "one too many"})
        mint = await c.call_tool(
            "mint_web3_key", await mint_args(c, demo.wallet_private_key, demo.wallet_address)
        )
    assert create.is_error and mint.is_error and "20 key creations a minute" in text(mint)
    assert await active_ids(server) == before
    entry = last_audit(server)
    assert (entry.tool, entry.outcome) == ("mint_web3_key", "refused") and "rate limit" in entry.detail
