"""Human confirmation end to end: the real Client, both protocol eras, the sandbox's state after each.

Every risky action (revoke; create an ADMIN key; a patch that widens a key) is driven
through each way a person can answer (accept, a wrong answer, decline, cancel), through
the token fallback for clients that cannot show a form, and through every way a token can
be bad. After each call the sandbox shows exactly the expected change, or none, and the
audit log says what happened.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer

from tests.server.conftest import answer, runtime_of
from venice_keys_mcp.runtime import build_runtime
from venice_keys_mcp.safety.tokens import ConfirmationTokens
from venice_keys_mcp.sandbox import asgi_transport, create_app
from venice_keys_mcp.sandbox.state import SandboxState, StoredKey
from venice_keys_mcp.server import build_server
from venice_keys_mcp.settings import Settings

pytestmark = pytest.mark.anyio


# -- helpers ---------------------------------------------------------------------------


def text(r: Any) -> str:
    return "\n".join(c.text for c in r.content if getattr(c, "text", None))


def snapshot(server: MCPServer) -> dict[str, dict[str, Any]]:
    """Every key in the sandbox as stored, minus `last_used_at` (the server's key is used by each call)."""
    keys = runtime_of(server).sandbox.keys
    return {
        key_id: {k: v for k, v in dataclasses.asdict(key).items() if k != "last_used_at"}
        for key_id, key in keys.items()
    }


def audit(server: MCPServer) -> list[dict[str, Any]]:
    path = runtime_of(server).audit.path
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def own(server: MCPServer) -> str:
    return runtime_of(server).sandbox.demo.admin_key_id


def pick(server: MCPServer, want: Callable[[StoredKey], bool]) -> StoredKey:
    """A seeded key (not the server's own) with the property a scenario needs."""
    state = runtime_of(server).sandbox
    return next(k for k in state.keys.values() if k.id != own(server) and not state.is_expired(k) and want(k))


def day(offset_days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=offset_days)).strftime("%Y-%m-%d")


@dataclass
class Risky:
    """One risky call: its arguments, the form answer that approves it, and how to see it happened."""

    tool: str
    args: dict[str, Any]
    approve: dict[str, Any]
    refuse: dict[str, Any]  # an accepted form that still does not confirm
    key_id: str | None
    done: Callable[[SandboxState], bool]
    message_has: list[str]
    #: The stored fields the change sets on `key_id` (patches), or None (revoke, create).
    fields: dict[str, Any] | None = None


def _used(key: StoredKey) -> str:
    return f"last used {key.last_used_at:%Y-%m-%d}" if key.last_used_at else "never used"


def risky(server: MCPServer, kind: str) -> Risky:
    """Build the scenario `kind` against this server's seeded sandbox."""
    if kind == "revoke":
        k = pick(server, lambda k: k.last_used_at is not None and k.api_key_type == "INFERENCE")
        return Risky(
            "revoke_key",
            {"key_id": k.id},
            {"last6": k.last6},
            {"last6": "nope!!" if k.last6 != "nope!!" else "wrong!"},
            k.id,
            lambda s: k.id not in s.keys,
            [f"«{k.description}»", "INFERENCE", f"…{k.last6}", _used(k)],
        )
    if kind == "create_admin":
        desc = f"ops admin {secrets.token_hex(3)}"
        return Risky(
            "create_key",
            {"description": desc, "key_type": "ADMIN"},
            {"approve": True},
            {"approve": False},
            None,
            lambda s: any(k.description == desc and k.api_key_type == "ADMIN" for k in s.keys.values()),
            ["ADMIN", f"«{desc}»"],
        )
    if kind == "patch_remove_cap":
        k = pick(server, lambda k: k.limits.get("usd") is not None)
        cap = k.limits["usd"]
        return _patch(
            k,
            {"remove": ["usd_limit"]},
            lambda key: key.limits.get("usd") is None,
            [f"removes the USD cap (was ${cap:g})"],
            {"limits": {**k.limits, "usd": None}},
        )
    if kind == "patch_raise_cap":
        k = pick(server, lambda k: k.limits.get("usd") is not None)
        cap = k.limits["usd"]
        return _patch(
            k,
            {"usd_limit": cap * 4},
            lambda key: key.limits.get("usd") == cap * 4,
            [f"raises the USD cap from ${cap:g} to ${cap * 4:,g}"],
            {"limits": {**k.limits, "usd": cap * 4}},
        )
    if kind == "patch_extend_expiry":
        k = pick(server, lambda k: k.expires_at is not None)
        new = day(60)
        return _patch(
            k,
            {"expires_at": new},
            lambda key: key.expires_at is not None and key.expires_at.strftime("%Y-%m-%d") == new,
            [f"extends the expiry from {k.expires_at:%Y-%m-%d}", f"to {new}"],
            {"expires_at": midnight(new)},
        )
    if kind == "patch_remove_expiry":
        k = pick(server, lambda k: k.expires_at is not None)
        return _patch(
            k,
            {"remove": ["expires_at"]},
            lambda key: key.expires_at is None,
            [f"removes the expiry (was {k.expires_at:%Y-%m-%d}"],
            {"expires_at": None},
        )
    if kind == "patch_widen_privacy":
        k = pick(server, lambda k: k.model_privacy == "PRIVATE_ONLY")
        return _patch(
            k,
            {"model_privacy": "ALL"},
            lambda key: key.model_privacy == "ALL",
            ["widens model access from PRIVATE_ONLY to ALL"],
            {"model_privacy": "ALL"},
        )
    raise AssertionError(kind)


def _patch(
    k: StoredKey,
    change: dict[str, Any],
    after: Callable[[StoredKey], bool],
    says: list[str],
    fields: dict[str, Any],
) -> Risky:
    return Risky(
        "patch_key",
        {"key_id": k.id, **change},
        {"approve": True},
        {"approve": False},
        k.id,
        lambda s: k.id in s.keys and after(s.keys[k.id]),
        [f"«{k.description}»", k.api_key_type, f"…{k.last6}", _used(k), *says],
        fields,
    )


def midnight(date: str) -> datetime:
    return datetime.strptime(date, "%Y-%m-%d").replace(tzinfo=UTC)


def assert_exactly_the_change(call: Risky, before: dict[str, Any], after: dict[str, Any]) -> None:
    """The full sandbox after the call is the full sandbox before it, changed only as `call` says."""
    if call.tool == "revoke_key":
        assert after == {k: v for k, v in before.items() if k != call.key_id}
    elif call.tool == "patch_key":
        assert call.fields is not None and call.key_id in before
        assert after == {**before, call.key_id: {**before[call.key_id], **call.fields}}
    else:  # create: every old key as it was, plus one new key that is exactly what was asked for
        new = set(after) - set(before)
        assert len(new) == 1 and {k: after[k] for k in before} == before
        made = after[new.pop()]
        want = {
            "api_key_type": call.args.get("key_type", "INFERENCE"),
            "description": call.args["description"],
            "expires_at": None,
            "limits": {"usd": None, "diem": None, "vcu": None},
            "limit_period": "EPOCH",
            "model_privacy": "ALL",
        }
        assert {f: made[f] for f in want} == want, made


KINDS = [
    "revoke",
    "create_admin",
    "patch_remove_cap",
    "patch_raise_cap",
    "patch_extend_expiry",
    "patch_remove_expiry",
    "patch_widen_privacy",
]
#: One scenario per tool: how an answer is handled does not depend on which widening it is.
ONE_OF_EACH_TOOL = ["revoke", "create_admin", "patch_raise_cap"]
DONE_STATUS = {"revoke_key": "revoked", "create_key": "created", "patch_key": "updated"}


@pytest.fixture
def make_server(make_server: Callable[..., MCPServer]) -> Callable[..., MCPServer]:
    """These tests drive the token flow, so the operator chose it: VENICE_KEYS_CONFIRM=agent.

    (With the default, auto, a client without forms gets the approval card or the terminal
    instead: tests/server/test_human_channel.py.) Forms are asked for in agent mode too.
    """

    def make(**overrides: Any) -> MCPServer:
        overrides.setdefault("confirm", "agent")
        return make_server(**overrides)

    return make


@pytest.fixture
def admin_ok(make_server: Callable[..., MCPServer]) -> MCPServer:
    """The default server, but with ADMIN key creation allowed (so it can be confirmed)."""
    return make_server(allow_admin_keys=True)


def assert_audited(server: MCPServer, call: Risky, *, outcome: str, confirmation: str) -> None:
    last = audit(server)[-1]
    assert (last["tool"], last["outcome"], last["confirmation"]) == (call.tool, outcome, confirmation), last
    if call.key_id is not None:
        assert last["key_id"] == call.key_id
    assert last["args_digest"].startswith("sha256:")


# -- elicitation: accept, a wrong answer, decline, cancel ------------------------------


@pytest.mark.eras
@pytest.mark.parametrize("kind", KINDS)
async def test_accepted_confirmation_makes_exactly_the_change(admin_ok, mode, kind):
    call = risky(admin_ok, kind)
    before = snapshot(admin_ok)
    seen: list[str] = []
    async with Client(admin_ok, mode=mode, elicitation_callback=answer("accept", call.approve, seen)) as c:
        r = await c.call_tool(call.tool, call.args)
    assert r.structured_content["status"] == DONE_STATUS[call.tool], text(r)
    assert call.done(runtime_of(admin_ok).sandbox)
    assert_exactly_the_change(call, before, snapshot(admin_ok))
    assert len(seen) == 1
    for fragment in call.message_has:
        assert fragment in seen[0], (fragment, seen[0])
    assert_audited(admin_ok, call, outcome=DONE_STATUS[call.tool], confirmation="elicitation")


@pytest.mark.parametrize("kind", ONE_OF_EACH_TOOL)
@pytest.mark.parametrize(
    ("action", "status"),
    [("wrong", "not_confirmed"), ("decline", "declined"), ("cancel", "cancelled")],
)
@pytest.mark.eras
async def test_unconfirmed_answer_changes_nothing_and_says_so(admin_ok, mode, kind, action, status):
    call = risky(admin_ok, kind)
    before = snapshot(admin_ok)
    cb = answer("accept", call.refuse) if action == "wrong" else answer(action)
    async with Client(admin_ok, mode=mode, elicitation_callback=cb) as c:
        r = await c.call_tool(call.tool, call.args)
    sc = r.structured_content
    assert sc["status"] == status, text(r)
    assert "nothing changed" in sc["message"].lower()
    assert "confirmation_token" not in sc
    assert snapshot(admin_ok) == before
    assert not call.done(runtime_of(admin_ok).sandbox)
    assert_audited(admin_ok, call, outcome=status, confirmation="elicitation")


@pytest.mark.eras
async def test_revoke_form_asks_to_type_the_last_six_characters(admin_ok, mode):
    call = risky(admin_ok, "revoke")
    schemas: list[dict[str, Any]] = []

    async def cb(ctx: Any, params: Any) -> Any:
        schemas.append(params.requested_schema)
        return await answer("decline")(ctx, params)

    async with Client(admin_ok, mode=mode, elicitation_callback=cb) as c:
        await c.call_tool(call.tool, call.args)
    assert list(schemas[0]["properties"]) == ["last6"]
    assert "last six" in schemas[0]["properties"]["last6"]["description"]


@pytest.mark.eras
async def test_revoke_needs_all_six_characters_exactly(admin_ok, mode):
    call = risky(admin_ok, "revoke")
    last6 = call.approve["last6"]
    near_miss = last6[:5] + ("x" if last6[5] != "x" else "y")
    for typed in (near_miss, last6[:5], last6[1:]):
        async with Client(admin_ok, mode=mode, elicitation_callback=answer("accept", {"last6": typed})) as c:
            r = await c.call_tool(call.tool, call.args)
        assert r.structured_content["status"] == "not_confirmed", typed
        assert not call.done(runtime_of(admin_ok).sandbox)
    # Spaces around the answer are forgiven: a person may paste it.
    async with Client(
        admin_ok, mode=mode, elicitation_callback=answer("accept", {"last6": f" {last6} "})
    ) as c:
        r = await c.call_tool(call.tool, call.args)
    assert r.structured_content["status"] == "revoked"
    assert call.done(runtime_of(admin_ok).sandbox)


def mixed_patch(server: MCPServer) -> tuple[StoredKey, dict[str, Any], dict[str, Any]]:
    """A patch that raises a cap (widens) and renames the key (does not): args and stored result."""
    k = copy.deepcopy(pick(server, lambda k: k.limits.get("usd") is not None))  # as it was, not as it will be
    desc = f"renamed {secrets.token_hex(3)}"
    args = {"key_id": k.id, "usd_limit": k.limits["usd"] * 4, "description": desc}
    return k, args, {"description": desc, "limits": {**k.limits, "usd": k.limits["usd"] * 4}}


def assert_mixed_lines(k: StoredKey, lines: list[str], desc: str) -> None:
    cap = k.limits["usd"]
    (renamed,) = [line for line in lines if "description:" in line]
    (raised,) = [line for line in lines if "usd_limit:" in line]
    assert f"«{k.description}» -> «{desc}»" in renamed and "WIDENS" not in renamed, renamed
    assert "->" in raised and f"WIDENS: raises the USD cap from ${cap:g} to ${cap * 4:,g}" in raised, raised


@pytest.mark.eras
async def test_mixed_patch_form_shows_every_change_and_marks_what_widens(admin_ok, mode):
    k, args, fields = mixed_patch(admin_ok)
    before = snapshot(admin_ok)
    seen: list[str] = []
    cb = answer("accept", {"approve": True}, seen)
    async with Client(admin_ok, mode=mode, elicitation_callback=cb) as c:
        r = await c.call_tool("patch_key", args)
    assert r.structured_content["status"] == "updated", text(r)
    assert len(seen) == 1
    for fragment in (f"«{k.description}»", k.api_key_type, f"…{k.last6}", _used(k)):
        assert fragment in seen[0].splitlines()[0], (fragment, seen[0])
    assert_mixed_lines(k, seen[0].splitlines(), args["description"])
    assert snapshot(admin_ok) == {**before, k.id: {**before[k.id], **fields}}


async def test_mixed_patch_token_preview_shows_every_change_and_marks_what_widens(admin_ok, mode):
    k, args, fields = mixed_patch(admin_ok)
    call = Risky("patch_key", args, {}, {}, k.id, lambda s: False, [], fields)
    before = snapshot(admin_ok)
    sc = await first_call(admin_ok, call, mode)
    assert_mixed_lines(k, sc["preview"]["changes"], args["description"])
    r = await call_with(admin_ok, mode, "patch_key", args, sc["confirmation_token"])
    assert r.structured_content["status"] == "updated", text(r)
    assert_exactly_the_change(call, before, snapshot(admin_ok))


# -- no elicitation: the token fallback -------------------------------------------------


async def first_call(server: MCPServer, call: Risky, mode: str) -> dict[str, Any]:
    """Call without a form: nothing changes, and a preview and token come back."""
    before = snapshot(server)
    async with Client(server, mode=mode) as c:
        r = await c.call_tool(call.tool, call.args)
    sc = r.structured_content
    assert not r.is_error and sc["status"] == "confirmation_required", text(r)
    assert sc["preview"]["changes"] and sc["confirmation_token"].startswith("v1.")
    assert "approve" in text(r) and "confirmation_token" in text(r)
    assert snapshot(server) == before
    assert_audited(server, call, outcome="confirmation_required", confirmation="agent")
    return sc


async def call_with(server: MCPServer, mode: str, tool: str, args: dict[str, Any], token: str) -> Any:
    async with Client(server, mode=mode) as c:
        return await c.call_tool(tool, {**args, "confirmation_token": token})


@pytest.mark.eras
@pytest.mark.parametrize("kind", KINDS)
async def test_without_elicitation_a_preview_and_token_then_the_token_acts(admin_ok, mode, kind):
    call = risky(admin_ok, kind)
    before = snapshot(admin_ok)
    sc = await first_call(admin_ok, call, mode)
    r = await call_with(admin_ok, mode, call.tool, call.args, sc["confirmation_token"])
    assert r.structured_content["status"] == DONE_STATUS[call.tool], text(r)
    assert call.done(runtime_of(admin_ok).sandbox)
    assert_exactly_the_change(call, before, snapshot(admin_ok))
    assert_audited(admin_ok, call, outcome=DONE_STATUS[call.tool], confirmation="agent")


async def test_revoke_preview_shows_the_key(admin_ok, mode):
    call = risky(admin_ok, "revoke")
    sc = await first_call(admin_ok, call, mode)
    key = runtime_of(admin_ok).sandbox.keys[call.key_id]
    assert sc["preview"]["key"]["last6"] == key.last6
    assert sc["preview"]["key"]["description"] == key.description
    assert any(f"…{key.last6}" in change for change in sc["preview"]["changes"])


def assert_token_refused(server: MCPServer, r: Any, call: Risky, before: dict[str, Any], why: str) -> None:
    sc = r.structured_content
    assert sc["status"] == "refused", text(r)
    assert why in sc["message"], sc["message"]
    assert "confirmation_token" not in sc, "a refused token must not be answered with a fresh one"
    assert snapshot(server) == before
    assert_audited(server, call, outcome="refused", confirmation="agent")


def altered(token: str) -> str:
    """The token with one character of its payload changed."""
    version, payload, mac = token.split(".")
    i = len(payload) // 2
    flipped = payload[:i] + ("A" if payload[i] != "A" else "B") + payload[i + 1 :]
    return f"{version}.{flipped}.{mac}"


@pytest.mark.parametrize("kind", ["revoke", "create_admin", "patch_raise_cap"])
async def test_forged_token_is_refused_and_changes_nothing(admin_ok, mode, kind):
    call = risky(admin_ok, kind)
    before = snapshot(admin_ok)
    forged = ConfirmationTokens(secrets.token_bytes(32)).issue(call.tool, call.args)
    r = await call_with(admin_ok, mode, call.tool, call.args, forged)
    assert_token_refused(admin_ok, r, call, before, "not valid here")


@pytest.mark.parametrize("kind", ["revoke", "create_admin", "patch_raise_cap"])
async def test_altered_token_is_refused_and_changes_nothing(admin_ok, mode, kind):
    call = risky(admin_ok, kind)
    sc = await first_call(admin_ok, call, mode)
    before = snapshot(admin_ok)
    r = await call_with(admin_ok, mode, call.tool, call.args, altered(sc["confirmation_token"]))
    assert_token_refused(admin_ok, r, call, before, "altered")


async def test_garbage_token_is_refused_as_malformed(admin_ok, mode):
    call = risky(admin_ok, "revoke")
    before = snapshot(admin_ok)
    r = await call_with(admin_ok, mode, call.tool, call.args, "please-just-do-it")
    assert_token_refused(admin_ok, r, call, before, "malformed")


async def test_replayed_token_is_refused_the_second_time(admin_ok, mode):
    call = risky(admin_ok, "create_admin")
    token = (await first_call(admin_ok, call, mode))["confirmation_token"]
    ok = await call_with(admin_ok, mode, call.tool, call.args, token)
    assert ok.structured_content["status"] == "created"
    before = snapshot(admin_ok)
    again = await call_with(admin_ok, mode, call.tool, call.args, token)
    assert_token_refused(admin_ok, again, call, before, "already used")
    admins = [
        k for k in runtime_of(admin_ok).sandbox.keys.values() if k.description == call.args["description"]
    ]
    assert len(admins) == 1


async def test_replayed_patch_token_cannot_widen_again_after_a_narrowing(admin_ok, mode):
    call = risky(admin_ok, "patch_raise_cap")
    key_id, original = call.key_id, runtime_of(admin_ok).sandbox.keys[call.key_id].limits["usd"]
    token = (await first_call(admin_ok, call, mode))["confirmation_token"]
    assert (await call_with(admin_ok, mode, call.tool, call.args, token)).structured_content[
        "status"
    ] == "updated"
    async with Client(admin_ok, mode=mode) as c:  # narrowing needs no confirmation
        r = await c.call_tool("patch_key", {"key_id": key_id, "usd_limit": original})
    assert r.structured_content["status"] == "updated", text(r)
    before = snapshot(admin_ok)
    again = await call_with(admin_ok, mode, call.tool, call.args, token)
    assert_token_refused(admin_ok, again, call, before, "already used")
    assert runtime_of(admin_ok).sandbox.keys[key_id].limits["usd"] == original


async def test_expired_token_is_refused(admin_ok, mode):
    call = risky(admin_ok, "revoke")
    token = (await first_call(admin_ok, call, mode))["confirmation_token"]
    tokens = runtime_of(admin_ok).tokens
    tokens.clock = lambda: time.time() + tokens.ttl_seconds + 1
    before = snapshot(admin_ok)
    r = await call_with(admin_ok, mode, call.tool, call.args, token)
    assert_token_refused(admin_ok, r, call, before, "expired")


async def test_token_still_works_just_before_it_expires(admin_ok, mode):
    call = risky(admin_ok, "revoke")
    before = snapshot(admin_ok)
    token = (await first_call(admin_ok, call, mode))["confirmation_token"]
    tokens = runtime_of(admin_ok).tokens
    tokens.clock = lambda: time.time() + tokens.ttl_seconds - 30
    r = await call_with(admin_ok, mode, call.tool, call.args, token)
    assert r.structured_content["status"] == "revoked", text(r)
    assert_exactly_the_change(call, before, snapshot(admin_ok))


async def test_token_for_one_key_does_not_revoke_another(admin_ok, mode):
    a = risky(admin_ok, "revoke")
    token = (await first_call(admin_ok, a, mode))["confirmation_token"]
    b = pick(admin_ok, lambda k: k.id != a.key_id)
    call_b = dataclasses.replace(a, args={"key_id": b.id}, key_id=b.id)
    before = snapshot(admin_ok)
    r = await call_with(admin_ok, mode, "revoke_key", call_b.args, token)
    assert_token_refused(admin_ok, r, call_b, before, "different arguments")
    assert a.key_id in runtime_of(admin_ok).sandbox.keys


async def test_revoke_token_does_not_confirm_a_patch(admin_ok, mode):
    revoke = risky(admin_ok, "revoke")
    token = (await first_call(admin_ok, revoke, mode))["confirmation_token"]
    patch = risky(admin_ok, "patch_raise_cap")
    before = snapshot(admin_ok)
    r = await call_with(admin_ok, mode, patch.tool, patch.args, token)
    assert_token_refused(admin_ok, r, patch, before, "different action")


async def test_patch_token_does_not_confirm_different_values(admin_ok, mode):
    call = risky(admin_ok, "patch_raise_cap")
    token = (await first_call(admin_ok, call, mode))["confirmation_token"]
    bigger = dataclasses.replace(call, args={**call.args, "usd_limit": call.args["usd_limit"] * 100})
    before = snapshot(admin_ok)
    r = await call_with(admin_ok, mode, bigger.tool, bigger.args, token)
    assert_token_refused(admin_ok, r, bigger, before, "different arguments")
    # The token was not used up by the refused attempt: the call it was issued for still works.
    ok = await call_with(admin_ok, mode, call.tool, call.args, token)
    assert ok.structured_content["status"] == "updated"
    assert call.done(runtime_of(admin_ok).sandbox)
    assert_exactly_the_change(call, before, snapshot(admin_ok))


# -- tokens across server processes ----------------------------------------------------


def restarted(server: MCPServer, tmp_path: Any, **overrides: Any) -> MCPServer:
    """A second server process on the same Venice account (the same sandbox), as after a restart."""
    state = runtime_of(server).sandbox
    settings = Settings(
        admin_key=state.demo.admin_key,
        base_url="http://sandbox/api/v1",
        secrets_dir=tmp_path / "secrets",
        audit_log=tmp_path / "audit.jsonl",
        # The first server's state folder (a sandbox server keeps it in `sandbox/`): instances
        # share single use of tokens, and pending approvals, by sharing it.
        state_dir=tmp_path / "state" / "sandbox",
        allow_admin_keys=True,
        **{"confirm": "agent", **overrides},
    )
    return build_server(
        settings, runtime=build_runtime(settings, transport=asgi_transport(create_app(state)))
    )


async def test_token_from_a_previous_process_is_refused_cleanly(admin_ok, mode, tmp_path):
    call = risky(admin_ok, "revoke")
    token = (await first_call(admin_ok, call, mode))["confirmation_token"]
    after_restart = restarted(admin_ok, tmp_path)
    before = snapshot(admin_ok)
    r = await call_with(after_restart, mode, call.tool, call.args, token)
    sc = r.structured_content
    assert sc["status"] == "refused" and "another server process" in sc["message"], text(r)
    assert snapshot(admin_ok) == before


async def test_token_is_honoured_by_another_process_with_the_same_signing_key(make_server, mode, tmp_path):
    key = secrets.token_hex(32)
    first = make_server(allow_admin_keys=True, signing_key=key)
    call = risky(first, "revoke")
    token = (await first_call(first, call, mode))["confirmation_token"]
    second = restarted(first, tmp_path, signing_key=key)
    r = await call_with(second, mode, call.tool, call.args, token)
    assert r.structured_content["status"] == "revoked", text(r)
    assert call.done(runtime_of(first).sandbox)


async def test_token_used_in_one_process_is_refused_in_another_with_the_same_key(make_server, mode, tmp_path):
    """Single use holds across a restart and across instances that share the signing key and files."""
    key = secrets.token_hex(32)
    first = make_server(allow_admin_keys=True, signing_key=key)
    call = risky(first, "create_admin")
    token = (await first_call(first, call, mode))["confirmation_token"]
    used = await call_with(first, mode, call.tool, call.args, token)
    assert used.structured_content["status"] == "created", text(used)
    second = restarted(first, tmp_path, signing_key=key)
    before = snapshot(first)
    again = await call_with(second, mode, call.tool, call.args, token)
    sc = again.structured_content
    assert sc["status"] == "refused" and "already used" in sc["message"], text(again)
    assert snapshot(first) == before


async def test_shared_signing_key_still_refuses_an_altered_token(make_server, mode, tmp_path):
    key = secrets.token_hex(32)
    first = make_server(allow_admin_keys=True, signing_key=key)
    call = risky(first, "revoke")
    token = (await first_call(first, call, mode))["confirmation_token"]
    second = restarted(first, tmp_path, signing_key=key)
    before = snapshot(first)
    r = await call_with(second, mode, call.tool, call.args, altered(token))
    sc = r.structured_content
    assert sc["status"] == "refused" and "signed with a different key" in sc["message"], text(r)
    assert snapshot(first) == before


# -- VENICE_KEYS_CONFIRM=elicit and =off -----------------------------------------------


@pytest.mark.eras
@pytest.mark.parametrize("kind", ["revoke", "create_admin", "patch_remove_cap"])
async def test_elicit_mode_refuses_when_the_client_cannot_ask(make_server, mode, kind):
    server = make_server(allow_admin_keys=True, confirm="elicit")
    call = risky(server, kind)
    before = snapshot(server)
    async with Client(server, mode=mode) as c:
        r = await c.call_tool(call.tool, call.args)
    sc = r.structured_content
    assert sc["status"] == "refused" and "VENICE_KEYS_CONFIRM" in sc["message"], text(r)
    assert "confirmation_token" not in sc
    assert snapshot(server) == before
    assert_audited(server, call, outcome="refused", confirmation="elicitation")


@pytest.mark.eras
async def test_elicit_mode_works_when_the_client_can_ask(make_server, mode):
    server = make_server(confirm="elicit")
    call = risky(server, "revoke")
    before = snapshot(server)
    async with Client(server, mode=mode, elicitation_callback=answer("accept", call.approve)) as c:
        r = await c.call_tool(call.tool, call.args)
    assert r.structured_content["status"] == "revoked", text(r)
    assert call.done(runtime_of(server).sandbox)
    assert_exactly_the_change(call, before, snapshot(server))


@pytest.mark.eras
async def test_elicit_mode_ignores_a_valid_token(make_server, mode, tmp_path):
    """A token that an auto-mode sibling (same signing key) would honour does not replace the form."""
    key = secrets.token_hex(32)
    auto = make_server(signing_key=key)
    call = risky(auto, "revoke")
    token = (await first_call(auto, call, mode))["confirmation_token"]
    strict = restarted(auto, tmp_path, signing_key=key, confirm="elicit")
    before = snapshot(auto)
    r = await call_with(strict, mode, call.tool, call.args, token)
    sc = r.structured_content
    assert sc["status"] == "refused" and "VENICE_KEYS_CONFIRM" in sc["message"], text(r)
    assert snapshot(auto) == before


@pytest.mark.eras
@pytest.mark.parametrize("kind", ["revoke", "create_admin", "patch_remove_cap"])
async def test_off_mode_acts_without_asking_and_the_audit_says_off(make_server, mode, kind):
    server = make_server(allow_admin_keys=True, confirm="off")
    call = risky(server, kind)
    before = snapshot(server)
    seen: list[str] = []
    async with Client(server, mode=mode, elicitation_callback=answer("decline", None, seen)) as c:
        r = await c.call_tool(call.tool, call.args)
    assert r.structured_content["status"] == DONE_STATUS[call.tool], text(r)
    assert seen == [], "confirmation off must not ask"
    assert call.done(runtime_of(server).sandbox)
    assert_exactly_the_change(call, before, snapshot(server))
    assert_audited(server, call, outcome=DONE_STATUS[call.tool], confirmation="off")


async def test_off_mode_still_applies_policy(make_server, mode):
    server = make_server(confirm="off")
    before = snapshot(server)
    async with Client(server, mode=mode) as c:
        r = await c.call_tool("revoke_key", {"key_id": own(server)})
        admin = await c.call_tool("create_key", {"description": "root", "key_type": "ADMIN"})
    assert r.is_error and "VENICE_ADMIN_KEY" in text(r)  # own-key protection is policy: an error
    assert admin.is_error and "VENICE_KEYS_ALLOW_ADMIN_KEYS" in text(admin)
    assert snapshot(server) == before


def test_off_mode_is_announced_loudly_at_start_up(tmp_path):
    """The operator who turns confirmation off is told so on stderr when the server starts."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "VENICE_KEYS_SECRETS_DIR": str(tmp_path / "secrets"),
        "VENICE_KEYS_AUDIT_LOG": str(tmp_path / "audit.jsonl"),
    }
    done = subprocess.run(  # stdin at end-of-file: the server starts, announces itself, and stops
        [sys.executable, "-m", "venice_keys_mcp", "--sandbox", "--confirm", "off"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert "WARNING" in done.stderr and "VENICE_KEYS_CONFIRM=off" in done.stderr, done.stderr[-2000:]
