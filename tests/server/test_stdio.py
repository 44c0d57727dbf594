"""The real `venice-keys-mcp --sandbox` process over stdio, driven by the SDK's Client on both eras.

One session per era calls every tool (a spawn costs about a second), then checks what the
session left behind: the secret files, the audit log, and a stderr that has the human
banner while stdout carried nothing the client could not parse as protocol.
"""

from __future__ import annotations

import json
import logging
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from mcp import Client
from mcp.client.stdio import stdio_client
from mcp_types import ElicitResult
from support.server_process import server_env, stdio_params

from tests.support import tool_catalog
from venice_keys_mcp.sandbox.seed import STAKED_WALLET

pytestmark = pytest.mark.anyio


def type_answers(params: Any, answers: dict[str, Any]) -> ElicitResult:
    """The person's answer to whichever form is shown: the count for a batch, else the last six."""
    if "count" in (params.requested_schema or {}).get("properties", {}):
        return ElicitResult(action="accept", content={"count": answers["count"]})
    return ElicitResult(action="accept", content={"last6": answers["last6"]})


def sign(token: str, private_key: str) -> str:
    signature: str = Account.sign_message(encode_defunct(text=token), private_key=private_key).signature.hex()
    return signature if signature.startswith("0x") else "0x" + signature


async def each_catalogued_tool_as_snapshotted(c: Client) -> None:
    """The process lists each tool of the snapshots, as snapshotted, and answers a bare call to each.

    Per tool, from `tests/toolsnaps/`, so a new tool is run over stdio with no line here: its
    listed contract is its snapshot's, and a call with no arguments is either an answer (a
    read tool that needs none) or one sentence per missing required argument.
    """
    catalog = tool_catalog.catalog()
    listed = {
        t.name: t.model_dump(mode="json", by_alias=True, exclude_none=True)
        for t in (await c.list_tools()).tools
    }
    assert set(listed) == tool_catalog.model_facing()
    for name, contract in listed.items():
        assert contract == catalog[name].contract, f"{name} is served unlike its snapshot"
        tool = catalog[name]
        if not tool.required and not tool.read_only:
            continue  # a write that needs no argument is its own test's business
        r = await c.call_tool(name, {})
        said = " ".join(getattr(part, "text", "") for part in r.content)
        if tool.required:
            expected = " ".join(f"{arg} is required." for arg in tool.required)
            assert r.is_error and said == f"Error executing tool {name}: {expected}", said
        else:
            assert not r.is_error and r.structured_content is not None, said


async def exercise_every_tool(c: Client, answers: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """Call every tool as an admin would; assert each result; return what later checks need.

    `answers` is what the elicitation callback types into the forms (see `type_answers`).
    """
    await each_catalogued_tool_as_snapshotted(c)

    listed = (await c.call_tool("list_keys", {})).structured_content
    assert listed["total"] >= 10 and listed["keys"]

    created = await c.call_tool("create_key", {"description": "stdio e2e", "usd_limit": 5})
    new = created.structured_content
    assert not created.is_error and new["status"] == "created" and "secret" not in new
    secret_file = Path(new["secret_file"])
    assert secret_file.parent == tmp_path / "secrets"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    secret = secret_file.read_text().splitlines()[0]
    assert secret.endswith(new["last6"]) and secret not in json.dumps(created.model_dump(mode="json"))

    got = (await c.call_tool("get_key", {"key_id": new["id"]})).structured_content
    assert got["id"] == new["id"] and got["usd_cap"] == 5 and got["server_key"] is False

    patched = await c.call_tool("patch_key", {"key_id": new["id"], "usd_limit": 1, "description": "narrowed"})
    assert patched.structured_content["status"] == "updated", patched.content

    answers["last6"] = new["last6"]
    rotated = await c.call_tool("rotate_key", {"key_id": new["id"], "grace_hours": 1})
    assert rotated.structured_content["status"] == "rotated", rotated.content
    successor = rotated.structured_content["new"]["id"]
    answers["count"] = "1"
    batch = await c.call_tool("revoke_keys", {"key_ids": [successor]})
    assert batch.structured_content["status"] == "revoked_all", batch.content

    revoked = await c.call_tool("revoke_key", {"key_id": new["id"]})
    assert revoked.structured_content["status"] == "revoked", revoked.content
    after = (await c.call_tool("list_keys", {"search": new["last6"]})).structured_content
    assert new["id"] not in {k["id"] for k in after["keys"]}

    limits = (await c.call_tool("get_limits", {})).structured_content
    assert limits["models_total"] >= 1 and limits["access_permitted"] is True
    breaches = (await c.call_tool("get_breach_log", {"limit_type": "RPM"})).structured_content
    assert breaches["total"] >= 1 and all(e["type"] == "RPM" for e in breaches["entries"])
    review = await c.call_tool("audit_keys", {})
    counts = {g["name"]: g["count"] for g in review.structured_content["groups"]}
    assert counts["admin"] >= 1 and "rotate_key" in review.content[0].text  # type: ignore[union-attr]
    spend = (await c.call_tool("get_spend", {"lookback": 14})).structured_content
    assert spend["lookback"] == "14d" and spend["balance"]["can_consume"] is True and spend["jumped"] == 1
    board = (await c.call_tool("key_dashboard", {})).structured_content
    assert board["total"] == len(board["keys"]) == after["total"] and board["counts"]["admin"] >= 1

    token = (await c.call_tool("get_web3_token", {})).structured_content["token"]
    address, private_key = STAKED_WALLET
    minted = await c.call_tool(
        "mint_web3_key",
        {"address": address, "signature": sign(token, private_key), "token": token, "description": "wallet"},
    )
    assert minted.structured_content["status"] == "created", minted.content
    assert Path(minted.structured_content["secret_file"]).is_file()
    return {"created": new, "minted": minted.structured_content}


@pytest.mark.eras
async def test_stdio_server_runs_every_tool_and_keeps_stdout_for_protocol(mode, tmp_path, caplog):
    env = server_env(tmp_path)
    answers: dict[str, Any] = {}
    forms: list[str] = []

    async def type_last6(ctx: Any, params: Any) -> ElicitResult:
        forms.append(params.message)
        return type_answers(params, answers)

    stderr_path = tmp_path / "stderr.log"
    with stderr_path.open("wb") as errlog, caplog.at_level(logging.WARNING, logger="mcp"):
        transport = stdio_client(stdio_params("--sandbox", env=env), errlog=errlog)  # type: ignore[arg-type]
        async with Client(transport, mode=mode, elicitation_callback=type_last6) as c:
            done = await exercise_every_tool(c, answers, tmp_path)

    # The person was asked three times, each about that key: the rotation, the batch, the revoke.
    assert len(forms) == 3 and all(done["created"]["last6"] in f or "1 keys" in f for f in forms), forms
    audit = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    outcomes = {(e["tool"], e["outcome"]) for e in audit}
    assert {("create_key", "created"), ("revoke_key", "revoked"), ("mint_web3_key", "created")} <= outcomes
    # A non-protocol line on stdout makes the SDK log a parse failure; there must be none.
    assert not [r for r in caplog.records if "parse" in r.getMessage().lower()], caplog.text
    stderr = stderr_path.read_text()
    assert "serving MCP over stdio" in stderr  # one log line: a host is no terminal, so no banner
    assert "claude mcp add" not in stderr
    assert "Traceback" not in stderr
    for secret_file in (done["created"]["secret_file"], done["minted"]["secret_file"]):
        assert Path(secret_file).read_text().splitlines()[0] not in stderr
    assert os.listdir(tmp_path / "secrets")
