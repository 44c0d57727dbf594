"""Who may say yes: the approval card and the terminal, end to end, with the sandbox's state after each.

A client that declared MCP Apps but no forms gets the approval card: the gated result says
`awaiting_approval`, its one-time nonce travels only in `_meta`, and the card's buttons
call the app-only tool `approve_action`. A client with neither gets the terminal: a
person approves with `venice-keys-mcp approve` (driven on a real pseudo-terminal in
tests/server/test_approve_cli.py), and the agent's next call with the `approval_id`
carries it out once. Nothing the model is given (content, structuredContent) approves
anything on any tool.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.client import advertise
from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID
from mcp.server.mcpserver import MCPServer

from tests.server.conftest import answer, runtime_of
from tests.server.test_confirmation import (
    Risky,
    assert_exactly_the_change,
    audit,
    pick,
    risky,
    snapshot,
    text,
)
from venice_keys_mcp.safety.approvals import Approval
from venice_keys_mcp.safety.confirm import META_KEY

pytestmark = [pytest.mark.anyio, pytest.mark.eras]  # every channel on both protocol eras

GATED = ["revoke", "create_admin", "patch_raise_cap", "patch_remove_expiry"]
DONE = {"revoke_key": "revoked", "create_key": "created", "patch_key": "updated"}
APPS = [advertise(EXTENSION_ID, {"mimeTypes": [APP_MIME_TYPE]})]


@pytest.fixture
def admin_ok(make_server: Callable[..., MCPServer]) -> MCPServer:
    return make_server(allow_admin_keys=True)


def card_client(server: MCPServer, mode: str) -> Client:
    """A host that renders MCP Apps (Claude Desktop, claude.ai, ChatGPT) and shows no forms."""
    return Client(server, mode=mode, extensions=APPS)


def typed_for(call: Risky) -> str:
    """What the card asks the person to type: a revoke's last six, nothing for a plain yes."""
    return call.approve.get("last6", "")


def nonce_of(r: Any) -> str:
    return r.meta[META_KEY]["nonce"]


def the_model_sees(r: Any) -> str:
    """Everything a host may show the model: the content and the structured content."""
    return json.dumps([c.model_dump(mode="json") for c in r.content]) + json.dumps(r.structured_content)


async def ask_card(server: MCPServer, mode: str, call: Risky) -> Any:
    async with card_client(server, mode) as c:
        r = await c.call_tool(call.tool, call.args)
    sc = r.structured_content
    assert sc["status"] == "awaiting_approval" and sc["approval_id"].startswith("ap_"), text(r)
    return r


async def press(server: MCPServer, mode: str, **arguments: Any) -> Any:
    async with card_client(server, mode) as c:
        return await c.call_tool("approve_action", arguments)


# -- the card: approve, decline, wrong text, once --------------------------------------------


@pytest.mark.parametrize("kind", GATED)
async def test_card_approve_carries_the_action_out_once(admin_ok, mode, kind):
    call = risky(admin_ok, kind)
    before = snapshot(admin_ok)
    ask = await ask_card(admin_ok, mode, call)
    assert snapshot(admin_ok) == before, "nothing may change before the person answers"
    nonce = nonce_of(ask)
    assert nonce not in the_model_sees(ask), "the nonce travels only in _meta"
    aid = ask.structured_content["approval_id"]
    done = await press(
        admin_ok, mode, approval_id=aid, decision="approve", nonce=nonce, typed=typed_for(call)
    )
    sc = done.structured_content
    assert sc["status"] == "approved" and sc["outcome"]["status"] == DONE[call.tool], text(done)
    assert call.done(runtime_of(admin_ok).sandbox)
    assert_exactly_the_change(call, before, snapshot(admin_ok))
    last = audit(admin_ok)[-1]
    assert (last["tool"], last["outcome"], last["confirmation"]) == (call.tool, DONE[call.tool], "app")
    after = snapshot(admin_ok)
    again = await press(
        admin_ok, mode, approval_id=aid, decision="approve", nonce=nonce, typed=typed_for(call)
    )
    assert again.structured_content["status"] == "refused" and "already used" in text(again)
    assert snapshot(admin_ok) == after, "a replayed approval changes nothing"


@pytest.mark.parametrize("kind", GATED)
async def test_card_decline_changes_nothing_and_is_audited(admin_ok, mode, kind):
    call = risky(admin_ok, kind)
    before = snapshot(admin_ok)
    ask = await ask_card(admin_ok, mode, call)
    aid = ask.structured_content["approval_id"]
    r = await press(admin_ok, mode, approval_id=aid, decision="decline", nonce=nonce_of(ask))
    assert r.structured_content["status"] == "declined", text(r)
    assert snapshot(admin_ok) == before
    last = audit(admin_ok)[-1]
    assert (last["tool"], last["outcome"], last["confirmation"]) == (call.tool, "declined", "app")
    late = await press(
        admin_ok, mode, approval_id=aid, decision="approve", nonce=nonce_of(ask), typed=typed_for(call)
    )
    assert late.structured_content["status"] == "refused" and snapshot(admin_ok) == before


async def test_card_wrong_last_six_changes_nothing_and_can_be_retyped(server, mode):
    call = risky(server, "revoke")
    before = snapshot(server)
    ask = await ask_card(server, mode, call)
    aid, nonce = ask.structured_content["approval_id"], nonce_of(ask)
    wrong = await press(
        server, mode, approval_id=aid, decision="approve", nonce=nonce, typed=call.refuse["last6"]
    )
    assert wrong.structured_content["status"] == "not_confirmed", text(wrong)
    assert snapshot(server) == before
    assert audit(server)[-1]["outcome"] == "not_confirmed"
    right = await press(server, mode, approval_id=aid, decision="approve", nonce=nonce, typed=typed_for(call))
    assert right.structured_content["status"] == "approved" and call.done(runtime_of(server).sandbox)


async def test_card_approval_expires(server, mode):
    call = risky(server, "revoke")
    before = snapshot(server)
    ask = await ask_card(server, mode, call)
    store = runtime_of(server).approvals
    start = store.now()
    store.clock = lambda: start + 3600  # an hour later: the approval lasted ten minutes
    r = await press(
        server, mode, approval_id=ask.structured_content["approval_id"], decision="approve",
        nonce=nonce_of(ask), typed=typed_for(call),
    )  # fmt: skip
    assert r.structured_content["status"] == "refused" and "expired" in text(r)
    assert snapshot(server) == before


async def test_a_clock_stepped_back_does_not_revive_an_expired_approval(server, mode):
    call = risky(server, "revoke")
    ask = await ask_card(server, mode, call)
    store = runtime_of(server).approvals
    start = store.now()
    store.clock = lambda: start + 3600
    store.now()  # the store has seen the later time
    store.clock = lambda: start  # and the clock steps back
    before = snapshot(server)
    r = await press(
        server, mode, approval_id=ask.structured_content["approval_id"], decision="approve",
        nonce=nonce_of(ask), typed=typed_for(call),
    )  # fmt: skip
    assert r.structured_content["status"] == "refused" and snapshot(server) == before


async def test_another_actions_nonce_or_id_approves_nothing(admin_ok, mode):
    revoke, create = risky(admin_ok, "revoke"), risky(admin_ok, "create_admin")
    before = snapshot(admin_ok)
    a = await ask_card(admin_ok, mode, revoke)
    b = await ask_card(admin_ok, mode, create)
    crossed = [
        (a.structured_content["approval_id"], nonce_of(b)),
        (b.structured_content["approval_id"], nonce_of(a)),
        (a.structured_content["approval_id"], nonce_of(a)[:-1] + ("A" if nonce_of(a)[-1] != "A" else "B")),
        ("ap_doesnotexist", nonce_of(a)),
    ]
    for aid, nonce in crossed:
        r = await press(
            admin_ok, mode, approval_id=aid, decision="approve", nonce=nonce, typed=typed_for(revoke)
        )
        assert r.structured_content["status"] == "refused" and "not valid" in text(r), text(r)
    assert snapshot(admin_ok) == before


async def test_concurrent_approvals_of_one_card_carry_the_action_out_exactly_once(admin_ok, mode):
    call = risky(admin_ok, "create_admin")
    before = snapshot(admin_ok)
    ask = await ask_card(admin_ok, mode, call)
    aid, nonce = ask.structured_content["approval_id"], nonce_of(ask)
    statuses: list[str] = []

    async def click() -> None:
        r = await press(admin_ok, mode, approval_id=aid, decision="approve", nonce=nonce)
        statuses.append(r.structured_content["status"])

    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(click)
    assert sorted(statuses) == ["approved"] + ["refused"] * 4
    assert len(set(snapshot(admin_ok)) - set(before)) == 1, "exactly one key was created"


async def test_approve_action_is_listed_and_callable_only_for_apps_clients(server, mode):
    async with card_client(server, mode) as c:
        tools = {t.name: t for t in (await c.list_tools()).tools}
        card = await c.read_resource("ui://venice-keys/approval.html")
    assert tools["approve_action"].meta["ui"] == {
        "resourceUri": "ui://venice-keys/approval.html",
        "visibility": ["app"],
    }
    for name in ("revoke_key", "create_key", "patch_key", "mint_web3_key"):
        assert tools[name].meta["ui"]["resourceUri"] == "ui://venice-keys/approval.html"
    assert card.contents[0].mime_type == APP_MIME_TYPE
    async with Client(server, mode=mode) as c:
        plain = {t.name for t in (await c.list_tools()).tools}
        r = await c.call_tool("approve_action", {"approval_id": "ap_x", "decision": "approve", "nonce": "n"})
    assert "approve_action" not in plain
    assert r.is_error and "Unknown tool" in text(r)


# -- the terminal: a client with neither forms nor Apps ---------------------------------------


def approve_at_terminal(server: MCPServer, approval_id: str, user: str = "alice") -> None:
    """What `venice-keys-mcp approve` records when the person approves (the CLI itself: test_approve_cli)."""

    def change(a: Approval, now: float) -> Approval:
        assert a.state == "pending"
        return a.model_copy(update={"state": "approved", "decided_by": user, "decided_at": now})

    runtime_of(server).approvals.update(approval_id, change)


@pytest.mark.parametrize("kind", GATED)
async def test_terminal_approval_then_the_agents_call_carries_it_out_once(admin_ok, mode, kind):
    call = risky(admin_ok, kind)
    before = snapshot(admin_ok)
    async with Client(admin_ok, mode=mode) as c:
        ask = await c.call_tool(call.tool, call.args)
        sc = ask.structured_content
        assert sc["status"] == "awaiting_approval" and "venice-keys-mcp approve" in text(ask), text(ask)
        assert ask.meta is None or META_KEY not in ask.meta, "no card nonce for a client without Apps"
        aid = sc["approval_id"]
        early = await c.call_tool(call.tool, {**call.args, "approval_id": aid})
        assert early.structured_content["status"] == "awaiting_approval" and snapshot(admin_ok) == before
        approve_at_terminal(admin_ok, aid)
        done = await c.call_tool(call.tool, {**call.args, "approval_id": aid})
        assert done.structured_content["status"] == DONE[call.tool], text(done)
        after = snapshot(admin_ok)
        again = await c.call_tool(call.tool, {**call.args, "approval_id": aid})
    assert call.done(runtime_of(admin_ok).sandbox)
    assert_exactly_the_change(call, before, after)
    if call.tool == "revoke_key":  # the key is gone: nothing to approve again
        assert again.is_error and "not found" in text(again).lower(), text(again)
    elif call.tool == "patch_key":  # now already so: no longer a widening, nothing to approve or change
        assert again.structured_content["status"] == "updated", text(again)
    else:
        assert again.structured_content["status"] == "refused" and "already used" in text(again)
    assert snapshot(admin_ok) == after
    done_entry = next(e for e in audit(admin_ok) if e["outcome"] == DONE[call.tool])
    assert done_entry["confirmation"] == "terminal" and "by alice" in done_entry["detail"]


async def test_terminal_approval_binds_the_exact_arguments(server, mode):
    call = risky(server, "patch_raise_cap")
    async with Client(server, mode=mode) as c:
        aid = (await c.call_tool(call.tool, call.args)).structured_content["approval_id"]
        approve_at_terminal(server, aid)
        before = snapshot(server)
        more = {**call.args, "usd_limit": call.args["usd_limit"] * 10, "approval_id": aid}
        r = await c.call_tool(call.tool, more)
        other_key = pick(server, lambda k: k.id != call.key_id)
        revoke = await c.call_tool("revoke_key", {"key_id": other_key.id, "approval_id": aid})
    assert r.structured_content["status"] == "refused" and "different arguments" in text(r)
    assert revoke.structured_content["status"] == "refused" and "different action" in text(revoke)
    assert snapshot(server) == before


async def test_terminal_decline_and_expiry_change_nothing(server, mode):
    call = risky(server, "revoke")
    before = snapshot(server)
    store = runtime_of(server).approvals
    async with Client(server, mode=mode) as c:
        declined = (await c.call_tool(call.tool, call.args)).structured_content["approval_id"]
        store.update(declined, lambda a, now: a.model_copy(update={"state": "declined", "decided_by": "bob"}))
        r1 = await c.call_tool(call.tool, {**call.args, "approval_id": declined})
        expired = (await c.call_tool(call.tool, call.args)).structured_content["approval_id"]
        approve_at_terminal(server, expired)
        start = store.now()
        store.clock = lambda: start + 3600
        r2 = await c.call_tool(call.tool, {**call.args, "approval_id": expired})
    assert r1.structured_content["status"] == "declined", text(r1)
    assert r2.structured_content["status"] == "refused" and "expired" in text(r2), text(r2)
    assert snapshot(server) == before


async def test_concurrent_calls_with_one_terminal_approval_act_exactly_once(admin_ok, mode):
    call = risky(admin_ok, "create_admin")
    before = snapshot(admin_ok)
    async with Client(admin_ok, mode=mode) as c:
        aid = (await c.call_tool(call.tool, call.args)).structured_content["approval_id"]
    approve_at_terminal(admin_ok, aid)
    statuses: list[str] = []

    async def call_again() -> None:
        async with Client(admin_ok, mode=mode) as c:
            r = await c.call_tool(call.tool, {**call.args, "approval_id": aid})
            statuses.append(r.structured_content["status"])

    async with anyio.create_task_group() as tg:
        for _ in range(4):
            tg.start_soon(call_again)
    assert sorted(statuses) == ["created", "refused", "refused", "refused"], statuses
    assert len(set(snapshot(admin_ok)) - set(before)) == 1


@pytest.mark.parametrize("kind", GATED)
async def test_nothing_in_a_result_approves_anything(admin_ok, mode, kind):
    """A steered agent replays every value it was given, in every argument: nothing changes."""
    call = risky(admin_ok, kind)
    before = snapshot(admin_ok)
    async with Client(admin_ok, mode=mode) as c:
        ask = await c.call_tool(call.tool, call.args)
        values = set(_strings(ask.structured_content)) | {ask.content[0].text}
        for value in values:
            for name in ("approval_id", "confirmation_token"):
                r = await c.call_tool(call.tool, {**call.args, name: value})
                assert r.structured_content is None or r.structured_content["status"] != DONE[call.tool]
    assert snapshot(admin_ok) == before


def _strings(obj: Any) -> list[str]:
    if isinstance(obj, str):
        return [obj[:64]]
    if isinstance(obj, dict):
        return [s for v in obj.values() for s in _strings(v)]
    if isinstance(obj, list):
        return [s for v in obj for s in _strings(v)]
    return []


# -- secrets: to a person, not the model --------------------------------------------------------


async def test_reveal_through_the_form_says_the_model_will_read_it(server, mode):
    seen: list[str] = []
    async with Client(
        server, mode=mode, elicitation_callback=answer("accept", {"show_secret": True}, seen)
    ) as c:
        r = await c.call_tool("create_key", {"description": "shown", "reveal_secret": True})
    assert "will read it" in seen[0]
    assert r.structured_content["secret"].endswith(r.structured_content["last6"])
    assert "secret shown to the model" in audit(server)[-1]["detail"]


async def test_reveal_declined_on_the_form_still_creates_the_key_without_the_secret(server, mode):
    async with Client(server, mode=mode, elicitation_callback=answer("accept", {"show_secret": False})) as c:
        r = await c.call_tool("create_key", {"description": "kept", "reveal_secret": True})
    sc = r.structured_content
    assert sc["status"] == "created" and "secret" not in sc and "did not agree" in sc["message"]
    assert runtime_of(server).sandbox.keys[sc["id"]]  # the key exists; its secret is in its file
    assert Path(sc["secret_file"]).read_text().splitlines()[0].endswith(sc["last6"])


async def test_without_a_person_reveal_secret_is_not_honoured(server, mode):
    async with Client(server, mode=mode) as c:
        r = await c.call_tool("create_key", {"description": "steered", "reveal_secret": True})
    sc = r.structured_content
    secret = Path(sc["secret_file"]).read_text().splitlines()[0]
    assert sc["status"] == "created" and "secret" not in sc and secret not in the_model_sees(r)
    assert "venice-keys-mcp approve" in sc["message"]  # the person can see it on their terminal
    pending = runtime_of(server).approvals.pending()
    assert [(a.kind, a.call["key_id"]) for a in pending] == [("reveal", sc["id"])]


async def test_card_shows_a_new_secret_to_the_person_only(server, mode):
    async with card_client(server, mode) as c:
        r = await c.call_tool("create_key", {"description": "for the card"})
    sc = r.structured_content
    secret = Path(sc["secret_file"]).read_text().splitlines()[0]
    assert "secret" not in sc and secret not in the_model_sees(r) and secret not in json.dumps(r.meta)
    offer = r.meta[META_KEY]
    assert offer["kind"] == "reveal"
    shown = await press(
        server, mode, approval_id=offer["approval_id"], decision="approve", nonce=offer["nonce"]
    )
    assert shown.structured_content["status"] == "secret_shown"
    assert shown.structured_content["secret"] == secret
    again = await press(
        server, mode, approval_id=offer["approval_id"], decision="approve", nonce=offer["nonce"]
    )
    assert again.structured_content["status"] == "refused" and "secret" not in again.structured_content
    last = [e for e in audit(server) if e["outcome"] == "secret_shown"]
    assert len(last) == 1 and last[0]["confirmation"] == "app"


async def test_card_approved_admin_create_offers_the_secret_in_the_card(admin_ok, mode):
    call = risky(admin_ok, "create_admin")
    ask = await ask_card(admin_ok, mode, call)
    done = await press(
        admin_ok,
        mode,
        approval_id=ask.structured_content["approval_id"],
        decision="approve",
        nonce=nonce_of(ask),
    )
    offer = done.meta[META_KEY]
    assert offer["kind"] == "reveal" and "secret" not in done.structured_content
    shown = await press(
        admin_ok, mode, approval_id=offer["approval_id"], decision="approve", nonce=offer["nonce"]
    )
    assert shown.structured_content["secret"].startswith("VENICE_ADMIN_KEY_")


# -- modes ----------------------------------------------------------------------------------------


async def test_elicit_mode_offers_no_card_and_no_terminal(make_server, mode):
    server = make_server(confirm="elicit")
    call = risky(server, "revoke")
    before = snapshot(server)
    async with card_client(server, mode) as c:
        r = await c.call_tool(call.tool, call.args)
    assert r.structured_content["status"] == "refused" and "VENICE_KEYS_CONFIRM=elicit" in text(r)
    assert runtime_of(server).approvals.pending() == [] and snapshot(server) == before


async def test_agent_mode_is_audited_as_agent(make_server, mode):
    server = make_server(confirm="agent")
    call = risky(server, "revoke")
    async with card_client(server, mode) as c:
        token = (await c.call_tool(call.tool, call.args)).structured_content["confirmation_token"]
        r = await c.call_tool(call.tool, {**call.args, "confirmation_token": token})
    assert r.structured_content["status"] == "revoked"
    assert audit(server)[-1]["confirmation"] == "agent"


# -- a form answer that does not fit the form ------------------------------------------------------


async def test_a_form_answer_that_does_not_fit_the_form_is_refused_and_audited(server, mode):
    call = risky(server, "revoke")
    before = snapshot(server)
    odd = answer("accept", {"last6": 123456, "approve": "yes please"})
    async with Client(server, mode=mode, elicitation_callback=odd) as c:
        r = await c.call_tool(call.tool, call.args)
    assert r.is_error and "did not match what the form asked" in text(r), text(r)
    assert "Resolver" not in text(r) and "venice_keys_mcp" not in text(r)
    assert snapshot(server) == before
    last = audit(server)[-1]
    assert (last["tool"], last["outcome"], last["confirmation"]) == ("revoke_key", "refused", "elicitation")
    assert last["key_id"] == call.key_id


async def test_the_forms_speak_to_the_person_not_of_the_code(admin_ok, mode):
    schemas: list[dict[str, Any]] = []

    async def look(ctx: Any, params: Any) -> Any:
        schemas.append(params.requested_schema)
        return await answer("decline")(ctx, params)

    async with Client(admin_ok, mode=mode, elicitation_callback=look) as c:
        for kind in ("revoke", "create_admin"):
            call = risky(admin_ok, kind)
            await c.call_tool(call.tool, call.args)
        await c.call_tool("create_key", {"description": "x", "reveal_secret": True})
    fields = [sorted(s["properties"]) for s in schemas]
    assert fields == [["last6"], ["approve"], ["show_secret"]], schemas
    for schema in schemas:
        words = json.dumps(schema)
        assert "beats" not in words and "reflex" not in words and "model_config" not in words
        for field in schema["properties"].values():
            assert field.get("title") and field.get("description"), schema


# -- minting with a wallet: the same channels -----------------------------------------------------


async def test_an_admin_mint_waits_for_the_card_and_runs_once_with_its_proofs(admin_ok, mode):
    from tests.server.test_tools import mint_args

    demo = runtime_of(admin_ok).sandbox.demo
    before = snapshot(admin_ok)
    async with card_client(admin_ok, mode) as c:
        args = await mint_args(c, demo.wallet_private_key, demo.wallet_address, key_type="ADMIN")
        ask = await c.call_tool("mint_web3_key", args)
    sc = ask.structured_content
    assert sc["status"] == "awaiting_approval" and snapshot(admin_ok) == before, text(ask)
    done = await press(admin_ok, mode, approval_id=sc["approval_id"], decision="approve", nonce=nonce_of(ask))
    assert done.structured_content["status"] == "approved", text(done)
    made = set(snapshot(admin_ok)) - set(before)
    assert len(made) == 1 and runtime_of(admin_ok).sandbox.keys[made.pop()].api_key_type == "ADMIN"
    assert done.meta[META_KEY]["kind"] == "reveal"  # the card offers the new secret to the person
    last = [e for e in audit(admin_ok) if e["outcome"] == "created"]
    assert last[-1]["tool"] == "mint_web3_key" and last[-1]["confirmation"] == "app"


async def test_an_admin_mint_approved_at_the_terminal_runs_on_the_agents_next_call(admin_ok, mode):
    from tests.server.test_tools import mint_args

    demo = runtime_of(admin_ok).sandbox.demo
    before = snapshot(admin_ok)
    async with Client(admin_ok, mode=mode) as c:
        args = await mint_args(c, demo.wallet_private_key, demo.wallet_address, key_type="ADMIN")
        aid = (await c.call_tool("mint_web3_key", args)).structured_content["approval_id"]
        approve_at_terminal(admin_ok, aid)
        done = await c.call_tool("mint_web3_key", {**args, "approval_id": aid})
    assert done.structured_content["status"] == "created", text(done)
    assert len(set(snapshot(admin_ok)) - set(before)) == 1
