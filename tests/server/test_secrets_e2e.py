"""Promise 2 end to end: no secret leaves the server unless asked for, and none is ever lost.

The canary sessions create keys (one revealed, one not), mint a key with a wallet and
trigger errors, some of them with a Venice answer that echoes secrets. Then every tool
result, the server's stderr (a real stdio process logging at DEBUG), the audit log, its
head file and every other file the server wrote are searched for every secret: the new
keys', the server's own admin key and a canary planted in the faults. Only the explicit
`secret` of a `reveal_secret=true` result may carry one.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import stat
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp_types import ElicitResult
from support.sandbox_process import running_sandbox

from tests.server.conftest import answer, runtime_of
from venice_keys_mcp.safety.secrets import SecretDeliveryError, deliver_secret
from venice_keys_mcp.sandbox import asgi_transport, create_app
from venice_keys_mcp.sandbox.seed import STAKED_WALLET
from venice_keys_mcp.sandbox.state import SandboxState
from venice_keys_mcp.venice import VeniceClient

pytestmark = pytest.mark.anyio

#: Anything shaped like a Venice secret (a settings name such as VENICE_ADMIN_KEY is not).
SECRET_SHAPE = re.compile(r"VENICE_(?:ADMIN|INFERENCE)_KEY_[A-Za-z0-9_-]{16,}")
SESSION_TIMEOUT = 60


def make_canary(kind: str = "ADMIN") -> str:
    """A fresh secret-shaped string; tests never contain a literal one."""
    return f"VENICE_{kind}_KEY_" + secrets.token_urlsafe(24)


def text(r: Any) -> str:
    return "\n".join(c.text for c in r.content if getattr(c, "text", None))


def sign(token: str, private_key: str) -> str:
    sig = Account.sign_message(encode_defunct(text=token), private_key=private_key).signature.hex()
    return sig if sig.startswith("0x") else "0x" + sig


@dataclass
class Session:
    """What a canary session produced: every result, and the secrets of the keys it made."""

    results: list[tuple[str, Any]] = field(default_factory=list)
    secrets: dict[str, str] = field(default_factory=dict)  # key id -> secret
    revealed: set[str] = field(default_factory=set)  # ids whose secret was asked for inline
    files: dict[str, Path] = field(default_factory=dict)  # key id -> secret file
    hidden: str = ""  # the key the session revokes at its end

    def add_created(self, r: Any, *, revealed: bool) -> str:
        sc = r.structured_content
        assert sc and sc["status"] == "created", text(r)
        key_id = sc["id"]
        path = Path(sc["secret_file"])
        secret = path.read_text().splitlines()[0]
        if revealed:
            assert sc["secret"] == secret
            self.revealed.add(key_id)
        else:
            assert "secret" not in sc
        self.secrets[key_id], self.files[key_id] = secret, path
        return key_id


AddFault = Callable[..., Any]


def person(s: Session) -> Callable[..., Any]:
    """The person at a form-showing host: agrees to see the one secret asked for, types the one revoke.

    A secret reaches a result only when a person said yes to it; this is that yes.
    """

    async def answer_form(ctx: Any, params: Any) -> ElicitResult:
        props = (params.requested_schema or {}).get("properties", {})
        if "show_secret" in props:
            return ElicitResult(action="accept", content={"show_secret": True})
        if "last6" in props and s.hidden:
            return ElicitResult(action="accept", content={"last6": s.secrets[s.hidden][-6:]})
        return ElicitResult(action="decline")

    return answer_form


async def canary_session(
    c: Client,
    *,
    wallet: tuple[str, str],
    fault_body: Callable[[Session], bytes] | None,
    add_fault: AddFault | None,
    s: Session,
) -> Session:
    """Create, reveal (a person agreeing: `person`), mint, and fail in every way a session plausibly fails."""

    async def call(name: str, args: dict[str, Any]) -> Any:
        r = await c.call_tool(name, args)
        s.results.append((name, r))
        return r

    hidden = s.hidden = s.add_created(
        await call("create_key", {"description": "canary hidden", "usd_limit": 5}), revealed=False
    )
    s.add_created(
        await call("create_key", {"description": "canary shown", "reveal_secret": True}), revealed=True
    )
    token = (await call("get_web3_token", {})).structured_content["token"]
    address, private_key = wallet
    mint = {
        "address": address,
        "signature": sign(token, private_key),
        "token": token,
        "description": "canary wallet",
    }
    s.add_created(await call("mint_web3_key", mint), revealed=False)

    # Reads after the creations, including a description that looks like a secret.
    fake = make_canary("INFERENCE")[:64]
    assert not (await call("patch_key", {"key_id": hidden, "description": fake})).is_error
    await call("list_keys", {"search": "canary"})
    await call("list_keys", {})
    for key_id in s.secrets:
        await call("get_key", {"key_id": key_id})

    # Bad arguments, refused before any request.
    errors = [
        await call("create_key", {"description": "x" * 65}),
        await call("get_key", {"key_id": "../../etc/passwd"}),
        await call("patch_key", {"key_id": hidden, "usd_limit": 1, "remove": ["usd_limit"]}),
        await call("mint_web3_key", {**mint, "signature": "0x" + "11" * 65}),
        # Not found.
        await call("get_key", {"key_id": "00000000-0000-0000-0000-000000000000"}),
        await call("revoke_key", {"key_id": "00000000-0000-0000-0000-000000000000"}),
    ]
    for r in errors:
        assert r.is_error, text(r)
    if add_fault is not None and fault_body is not None:
        # Venice failing with bodies that echo secrets: whatever each tool then reports
        # (an error, or a reconciled outcome), the secrets must not come along.
        body = fault_body(s)
        add_fault("GET", "/api_keys", status=400, body=body)
        await call("list_keys", {})
        add_fault("PATCH", "/api_keys", status=500, body=body)
        await call("patch_key", {"key_id": hidden, "usd_limit": 1})
        add_fault("POST", "/api_keys", status=400, body=body)
        assert (await call("create_key", {"description": "canary refused"})).is_error
        add_fault("DELETE", "/api_keys", status=400, body=body)
        await call("revoke_key", {"key_id": hidden})  # the person types the last six; Venice fails
    return s


async def form_session(server: Any, mode: str, s: Session, key_id: str) -> tuple[list[str], dict[str, str]]:
    """Every kind of confirmation form (revoke, widening patch, ADMIN create), each declined.

    `key_id`'s description is shaped like a secret, and the patch and the ADMIN key bring
    new secret-shaped text. On 2025-11-25 a form leaves as an `elicitation/create` request
    the result scrubber never sees. Returns every form's text, and the canaries it planted.
    """
    forms: list[str] = []

    async def record_and_decline(ctx: Any, params: Any) -> ElicitResult:
        forms.append(json.dumps({"message": params.message, "schema": params.requested_schema}))
        return ElicitResult(action="decline")

    planted = {"a new description": make_canary("INFERENCE"), "an ADMIN key's description": make_canary()}
    calls = [
        ("revoke_key", {"key_id": key_id}),
        ("patch_key", {"key_id": key_id, "usd_limit": 1000, "description": planted["a new description"]}),
        ("create_key", {"description": planted["an ADMIN key's description"], "key_type": "ADMIN"}),
    ]
    async with Client(server, mode=mode, elicitation_callback=record_and_decline) as c:
        for name, args in calls:
            r = await c.call_tool(name, args)
            s.results.append((name, r))
            assert r.structured_content["status"] == "declined", text(r)
    assert len(forms) == len(calls)
    # The secret-shaped description was in the revoke and patch forms, redacted: not left out.
    assert all("[REDACTED]" in form for form in forms), forms
    return forms, planted


def allowed_dump(name: str, r: Any, session: Session) -> str:
    """The result as JSON, minus the one place a secret may be: an explicit reveal."""
    data = r.model_dump(mode="json", by_alias=True)
    sc = data.get("structuredContent") or {}
    if name in {"create_key", "mint_web3_key"} and sc.get("id") in session.revealed:
        secret = session.secrets[sc["id"]]
        assert sc.pop("secret") == secret
        for block in data["content"]:
            assert f"secret: {secret}" in block["text"]
            block["text"] = block["text"].replace(f"secret: {secret}", "")
    return json.dumps(data)


def server_files(root: Path, session: Session) -> dict[Path, str]:
    """Every file under `root` except the secret files, as text."""
    skip = set(session.files.values())
    return {
        p: p.read_bytes().decode("utf-8", "replace") for p in root.rglob("*") if p.is_file() and p not in skip
    }


def assert_no_secret(where: str, haystack: str, needles: dict[str, str]) -> None:
    for label, secret in needles.items():
        assert secret not in haystack, f"{label} leaked into {where}"
    shaped = SECRET_SHAPE.search(haystack)
    assert shaped is None, f"a secret-shaped string leaked into {where} at {shaped.start()}"


async def assert_secret_files(
    session: Session, state: SandboxState | None, base_url: str | None = None
) -> None:
    """Each secret file is 0600 in a 0700 directory, and its secret really opens its key."""
    assert len(session.files) == 3
    for key_id, path in session.files.items():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert path.name == f"{key_id}.key"
        secret = session.secrets[key_id]
        if state is not None:
            found = state.key_for_secret(secret)
            assert found is not None and found.id == key_id
        if base_url is not None or state is not None:
            transport = asgi_transport(create_app(state)) if state is not None else None
            async with VeniceClient(
                secret, base_url or "http://sandbox/api/v1", transport=transport
            ) as venice:
                await venice.get_rate_limits()  # raises if the key does not authenticate


# -- in memory ---------------------------------------------------------------------------


async def test_no_secret_in_any_result_form_or_file_in_memory(make_server, mode, tmp_path):
    # A short timeout keeps the read-back after a 500 quick; ADMIN keys allowed, so their form is shown.
    server = make_server(timeout=1.0, allow_admin_keys=True)
    rt = runtime_of(server)
    state = rt.sandbox
    admin = rt.settings.admin_key.get_secret_value()
    planted = make_canary()

    def body(s: Session) -> bytes:
        echoed = " ".join(s.secrets.values())
        return json.dumps({"error": f"upstream failed near {planted} with {admin} and {echoed}"}).encode()

    def add_fault(method: str, path: str, **kw: Any) -> None:
        state.faults.add(method, path, **kw)

    s = Session()
    async with Client(server, mode=mode, elicitation_callback=person(s)) as c:
        session = await canary_session(
            c,
            wallet=(state.demo.wallet_address, state.demo.wallet_private_key),
            fault_body=body,
            add_fault=add_fault,
            s=s,
        )
    hidden = next(iter(session.secrets))  # the first key made: its description is now secret-shaped
    forms, in_forms = await form_session(server, mode, session, hidden)
    async with Client(server, mode=mode) as c:
        recent = (await c.read_resource("venice-keys://audit/recent")).contents[0].text

    needles = {"the admin key": admin, "the planted canary": planted}
    needles |= {f"secret of {k}": v for k, v in session.secrets.items()}
    needles |= {f"the canary in {what}": v for what, v in in_forms.items()}
    for i, form in enumerate(forms):
        assert_no_secret(f"confirmation form {i + 1}", form, needles)
    for name, r in session.results:
        assert_no_secret(f"the {name} result", allowed_dump(name, r, session), needles)
    assert_no_secret("the audit resource", recent, needles)
    files = server_files(tmp_path, session)
    assert rt.audit.path in files and rt.audit.path.with_name("audit.jsonl.head") in files
    for path, content in files.items():
        assert_no_secret(str(path), content, needles)
    await assert_secret_files(session, state)


async def test_reveal_secret_is_the_only_way_a_secret_reaches_the_result(server, mode):
    """`reveal_secret=true` and a person's yes on the form: then, and only then, the result holds it."""
    yes = answer("accept", {"show_secret": True})
    async with Client(server, mode=mode, elicitation_callback=yes) as c:
        hidden = await c.call_tool("create_key", {"description": "not shown"})
        shown = await c.call_tool("create_key", {"description": "shown", "reveal_secret": True})
    assert "secret" not in hidden.structured_content
    assert not SECRET_SHAPE.search(hidden.model_dump_json())
    secret = shown.structured_content["secret"]
    assert SECRET_SHAPE.fullmatch(secret)
    assert runtime_of(server).sandbox.key_for_secret(secret).id == shown.structured_content["id"]


# -- a real stdio process, logging at DEBUG ----------------------------------------------


@asynccontextmanager
async def stdio_server(
    tmp_path: Path, mode: str, args: list[str], env: dict[str, str], elicitation_callback: Any = None
) -> AsyncIterator[Client]:
    """The server as a real subprocess: stderr to `tmp_path/stderr.log`, HOME and cwd under tmp_path."""
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    home.mkdir()
    cwd.mkdir()
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "venice_keys_mcp", *args],
        env={
            "HOME": str(home),
            "XDG_DATA_HOME": str(home / "data"),
            "XDG_STATE_HOME": str(home / "state"),
            "VENICE_KEYS_SECRETS_DIR": str(tmp_path / "secrets"),
            "VENICE_KEYS_AUDIT_LOG": str(tmp_path / "audit.jsonl"),
            "VENICE_KEYS_STATE_DIR": str(tmp_path / "state"),
            "VENICE_KEYS_TOOLSETS": "all",
            "PYTHONUNBUFFERED": "1",
            **env,
        },
        cwd=cwd,
    )
    with (tmp_path / "stderr.log").open("w") as errlog:
        with anyio.fail_after(SESSION_TIMEOUT):
            async with Client(
                stdio_client(params, errlog=errlog), mode=mode, elicitation_callback=elicitation_callback
            ) as c:
                yield c


def check_process_outputs(tmp_path: Path, session: Session, needles: dict[str, str]) -> str:
    stderr = (tmp_path / "stderr.log").read_text()
    assert "DEBUG" in stderr and "venice-keys-mcp" in stderr, "the server did not log at DEBUG"
    assert_no_secret("the server's stderr", stderr, needles)
    for name, r in session.results:
        assert_no_secret(f"the {name} result", allowed_dump(name, r, session), needles)
    files = server_files(tmp_path, session)
    assert tmp_path / "audit.jsonl" in files and tmp_path / "audit.jsonl.head" in files
    for path, content in files.items():
        assert_no_secret(str(path), content, needles)
    return stderr


async def test_no_secret_in_stderr_results_or_files_of_a_sandbox_process(tmp_path):
    """`venice-keys-mcp --sandbox --log-level DEBUG`: its admin key is unknown, so any secret shape counts."""
    s = Session()
    args = ["--sandbox", "--log-level", "DEBUG"]
    async with stdio_server(tmp_path, "legacy", args, {}, person(s)) as c:
        session = await canary_session(c, wallet=STAKED_WALLET, fault_body=None, add_fault=None, s=s)
    needles = {f"secret of {k}": v for k, v in session.secrets.items()}
    check_process_outputs(tmp_path, session, needles)
    for path in session.files.values():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


async def test_no_secret_in_stderr_when_venice_echoes_secrets_in_errors(tmp_path):
    """The server process against a loopback sandbox whose errors echo the admin key and new secrets."""
    planted = make_canary()
    with running_sandbox() as venice:
        env = {"VENICE_BASE_URL": venice.base_url, "VENICE_ADMIN_KEY": venice.admin_key}

        def body(s: Session) -> bytes:
            echoed = " ".join(s.secrets.values())
            return json.dumps(
                {"error": f"upstream failed near {planted} with {venice.admin_key} {echoed}"}
            ).encode()

        def add_fault(method: str, path: str, *, body: bytes, **kw: Any) -> None:
            venice.add_fault(method, path, body=body.decode(), **kw)

        s = Session()
        async with stdio_server(tmp_path, "2026-07-28", ["--log-level", "DEBUG"], env, person(s)) as c:
            session = await canary_session(
                c,
                wallet=(venice.wallet_address, venice.wallet_private_key),
                fault_body=body,
                add_fault=add_fault,
                s=s,
            )
        needles = {"the admin key": venice.admin_key, "the planted canary": planted}
        needles |= {f"secret of {k}": v for k, v in session.secrets.items()}
        stderr = check_process_outputs(tmp_path, session, needles)
        assert "HTTP Request: PATCH" in stderr  # the failing calls really happened and were logged
        await assert_secret_files(session, None, base_url=venice.base_url)


# -- a secret that cannot be delivered is never left behind ------------------------------


@pytest.fixture
def undeliverable(make_server, tmp_path):
    """A server whose VENICE_KEYS_SECRETS_DIR is a regular file, so no secret file can be written."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("in the way\n")
    return make_server(secrets_dir=blocker)


def active(state: SandboxState) -> set[str]:
    return {k.id for k in state.active_keys(state.demo.account_id)}


def last_audit(server: Any) -> dict[str, Any]:
    return json.loads(runtime_of(server).audit.path.read_text().splitlines()[-1])


async def test_undeliverable_secret_revokes_the_new_key(undeliverable, mode):
    state = runtime_of(undeliverable).sandbox
    before = active(state)
    async with Client(undeliverable, mode=mode) as c:
        r = await c.call_tool("create_key", {"description": "nowhere to put it"})
    sc = r.structured_content
    assert sc["status"] == "revoked_after_delivery_failure", text(r)
    assert "VENICE_KEYS_SECRETS_DIR" in sc["message"] and "not-a-directory" in sc["message"]
    assert "secret_file" not in sc and "secret" not in sc
    assert not SECRET_SHAPE.search(r.model_dump_json())
    assert active(state) == before and sc["id"] not in state.keys
    entry = last_audit(undeliverable)
    assert (entry["tool"], entry["key_id"], entry["outcome"]) == (
        "create_key",
        sc["id"],
        "revoked_after_delivery_failure",
    )


async def test_undeliverable_minted_key_is_revoked_too(undeliverable, mode):
    state = runtime_of(undeliverable).sandbox
    before = active(state)
    async with Client(undeliverable, mode=mode) as c:
        token = (await c.call_tool("get_web3_token", {})).structured_content["token"]
        args = {
            "address": state.demo.wallet_address,
            "signature": sign(token, state.demo.wallet_private_key),
            "token": token,
        }
        r = await c.call_tool("mint_web3_key", args)
    assert r.structured_content["status"] == "revoked_after_delivery_failure", text(r)
    assert active(state) == before


async def test_undeliverable_secret_is_returned_inline_when_revealing(undeliverable, mode):
    state = runtime_of(undeliverable).sandbox
    yes = answer("accept", {"show_secret": True})
    async with Client(undeliverable, mode=mode, elicitation_callback=yes) as c:
        r = await c.call_tool("create_key", {"description": "shown instead", "reveal_secret": True})
    sc = r.structured_content
    assert sc["status"] == "created", text(r)
    assert "secret_file" not in sc and "saving the secret failed" in sc["message"]
    found = state.key_for_secret(sc["secret"])
    assert found is not None and found.id == sc["id"] and sc["id"] in active(state)
    assert last_audit(undeliverable)["outcome"] == "created"


async def test_undeliverable_and_unrevocable_key_is_reported_not_hidden(undeliverable, mode):
    state = runtime_of(undeliverable).sandbox
    state.faults.add("DELETE", "/api_keys", status=503)
    async with Client(undeliverable, mode=mode) as c:
        r = await c.call_tool("create_key", {"description": "stuck"})
    sc = r.structured_content
    assert sc["status"] == "created_secret_lost", text(r)
    assert sc["id"] in active(state) and "revoke_key" in sc["message"]
    assert last_audit(undeliverable)["outcome"] == "created_secret_lost"


async def test_secret_file_is_never_overwritten(server, mode):
    async with Client(server, mode=mode) as c:
        r = await c.call_tool("create_key", {"description": "first"})
    path = Path(r.structured_content["secret_file"])
    original = path.read_bytes()
    # A second delivery for the same id (Venice never reuses one) must not clobber the first secret.
    with pytest.raises(SecretDeliveryError, match="already exists"):
        deliver_secret(path.parent, r.structured_content["id"], make_canary("INFERENCE"))
    assert path.read_bytes() == original


# -- a secret pasted where a key id belongs ------------------------------------------------


@pytest.mark.parametrize("tool", ["get_key", "revoke_key", "patch_key"])
async def test_a_secret_given_as_key_id_is_refused_plainly(server, mode, tool, caplog):
    """It passes the id pattern, so the client refuses it: a clear error, no traceback, no echo."""
    canary = make_canary()
    args = {"key_id": canary, **({"description": "renamed"} if tool == "patch_key" else {})}
    with caplog.at_level(logging.DEBUG):
        async with Client(server, mode=mode) as c:
            r = await c.call_tool(tool, args)
    assert r.is_error and "looks like a secret key, not a key id" in text(r), text(r)
    assert "unexpectedly" not in text(r)
    assert canary not in r.model_dump_json()
    assert not [rec for rec in caplog.records if rec.exc_info], "a plain refusal must not log a traceback"
