"""The README says what the code does: settings, tools, exit codes, pinned tools, the example.

Its two tables are generated (`scripts/sync_readme.py`); the example conversation's
tool calls are replayed against the real server, so the arguments shown are ones the
server accepts and the outcomes shown are the ones it gives.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from mcp import Client
from mcp_types import ElicitResult

from venice_keys_mcp import cli
from venice_keys_mcp.server import build_server
from venice_keys_mcp.settings import ENV_VARS, TOOLSETS, Settings

from .conftest import CI_RUN, SERVER_EXE, clean_env, live_tools, run

pytestmark = pytest.mark.anyio

CALL = re.compile(r"`(\w+) (\{[^`]*\})`")


def test_every_environment_variable_is_in_the_readme(readme_text):
    missing = [name for names in ENV_VARS.values() for name in names if f"`{name}`" not in readme_text]
    assert missing == []


async def test_generated_tables_match_the_code(tmp_path, readme_text, sync_readme):
    blocks = sync_readme.generated(await live_tools(tmp_path, toolsets=TOOLSETS))
    assert sync_readme.stale(readme_text, blocks) == [], "run: python scripts/sync_readme.py --write"


def test_a_setting_without_a_documented_meaning_fails_the_table(sync_readme, monkeypatch):
    monkeypatch.delitem(sync_readme.MEANING, "max_usd")
    with pytest.raises(KeyError, match="max_usd"):
        sync_readme.settings_table()


def test_stale_table_is_detected_and_rewritten(readme_text, sync_readme):
    blocks = {"settings": sync_readme.settings_table(), "tools": "| Tool |\n|---|"}
    assert sync_readme.stale(readme_text, blocks) == ["tools"]
    assert sync_readme.stale(sync_readme.rewrite(readme_text, blocks), blocks) == []


def test_exit_code_table_matches_the_cli(readme_text):
    section = readme_text.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    codes = {int(m) for m in re.findall(r"^\| (\d+) \|", section, flags=re.MULTILINE)}
    assert codes == {cli.EXIT_OK, cli.EXIT_FAILED, cli.EXIT_USAGE, cli.EXIT_INTERRUPTED}
    for code in codes:
        assert re.search(rf"\b{code}\b", cli.__doc__ or ""), f"exit code {code} is not in cli.py's docstring"


def test_readme_pins_the_npm_tools_that_ci_runs(readme_text):
    ci = CI_RUN.read_text(encoding="utf-8")
    for variable in ("MCPB", "INSPECTOR"):
        pinned = re.search(rf'^{variable}="([^"]+)"', ci, flags=re.MULTILINE)
        assert pinned, f".ci/run does not pin {variable}"
        assert pinned.group(1) in readme_text, f"README does not use {pinned.group(1)} as .ci/run does"


async def test_example_conversation_replays_against_the_server(readme_text, tmp_path):
    """The example's calls, in order, with the person typing the last six characters."""
    section = readme_text.split("## An example conversation", 1)[1].split("\n## ", 1)[0]
    calls = [(name, json.loads(args)) for name, args in CALL.findall(section)]
    assert [name for name, _ in calls] == [
        "create_key",
        "list_keys",
        "list_keys",
        "revoke_key",
        "audit_keys",
        "list_keys",
        "rotate_key",
    ]

    audit = tmp_path / "audit.jsonl"
    files = {"secrets_dir": tmp_path / "secrets", "audit_log": audit, "state_dir": tmp_path / "state"}
    server = build_server(Settings(sandbox=True, **files))
    typed: dict[str, str] = {}

    async def person(ctx: Any, params: Any) -> ElicitResult:
        return ElicitResult(action="accept", content={"last6": typed["last6"]})

    try:
        async with Client(server, mode="legacy", elicitation_callback=person) as c:
            created = (await c.call_tool(*calls[0])).structured_content
            assert created["status"] == "created" and (tmp_path / "secrets").is_dir()
            assert created.get("secret") is None, "the secret must not reach the chat"

            stale = (await c.call_tool(*calls[1])).structured_content["keys"]
            names = {k["description"] for k in stale}
            assert names == {"Old analytics export"}  # idle for 60 days; new or recent keys are not

            found = (await c.call_tool(*calls[2])).structured_content["keys"]
            assert [k["description"] for k in found] == ["Hackathon demo - expires soon"]
            typed["last6"] = found[0]["last6"]
            revoked = await c.call_tool("revoke_key", {"key_id": found[0]["id"]})
            assert revoked.structured_content["status"] == "revoked"
            assert (await c.call_tool(*calls[2])).structured_content["keys"] == []

            review = await c.call_tool(*calls[4])
            counts = {g["name"]: g["count"] for g in review.structured_content["groups"]}
            assert counts and all(name in review.content[0].text for name in ("patch_key", "revoke_key"))

            chat = (await c.call_tool(*calls[5])).structured_content["keys"]
            assert [k["description"] for k in chat] == ["Chat app - production"]
            typed["last6"] = chat[0]["last6"]
            rotated = await c.call_tool("rotate_key", {**calls[6][1], "key_id": chat[0]["id"]})
            done = rotated.structured_content
            assert done["status"] == "rotated" and done["new"]["id"] != chat[0]["id"], rotated.content
            assert done.get("secret") is None and "get_key" in done["check"]
    finally:
        await server.runtime.aclose()  # type: ignore[attr-defined]

    verify = run([str(SERVER_EXE), "audit", "verify", "--file", str(audit)], clean_env(tmp_path))
    assert verify.returncode == 0, verify.stdout + verify.stderr
