"""What every session pays for this server, guarded without timing anything.

The timed numbers come from `python -m benchmarks` (see docs/benchmarks.md);
these tests keep what can be checked exactly from regressing between benchmark runs:

- the context budgets: every byte of a tool's name, description and input schema (what
  hosts give the model of `tools/list`; output schemas are not shown to it and are fully
  typed) and of a default answer is taken from an agent's context. Measured with the benchmark's own function
  (`benchmarks.context.measure_in_memory`) on the benchmark's server (the
  sandbox with 500 keys and a full breach log), built in memory;
- what a list entry leaves out to stay small, and that `get_key` still shows it;
- that start-up imports neither the HTTP client layer nor the benchmark, and builds no
  HTTP client (the client is built on first use); with `--sandbox`, nor the sandbox's app;
- that start-up derives each tool's two JSON schemas (input, output) once, through the
  SDK's `Tool.from_function`, and nothing else, and that `tools/list` derives none;
- that `clean_untrusted`'s shortcut for already-clean text gives what full cleaning gives.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from mcp import Client

from tests.support import tool_catalog
from venice_keys_mcp.safety import fencing
from venice_keys_mcp.safety.fencing import clean_untrusted

STARTUP_TIMEOUT = 60


#: A full breach log, as Venice shows it: at most this many entries.
FULL_BREACH_LOG = 50


@pytest.mark.anyio
async def test_the_budget_account_is_as_large_as_the_budgets_say(tmp_path: Path) -> None:
    """The budgets are about 500 keys and a full breach log: a seed change must not shrink them."""
    from benchmarks.context import ACCOUNT_KEYS, budget_server

    server = budget_server(tmp_path)
    state = server.runtime.sandbox
    assert ACCOUNT_KEYS == 500
    assert len(state.active_keys(state.demo.account_id)) == ACCOUNT_KEYS
    assert len(state.accounts[state.demo.account_id].breaches) >= FULL_BREACH_LOG
    async with Client(server, mode="legacy") as client:
        listed = (await client.call_tool("list_keys", {})).structured_content
        breaches = (await client.call_tool("get_breach_log", {"limit": FULL_BREACH_LOG})).structured_content
    assert listed["total"] == ACCOUNT_KEYS
    assert breaches["total"] == FULL_BREACH_LOG and len(breaches["entries"]) == FULL_BREACH_LOG


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_default_answers_fit_their_context_budgets(tmp_path: Path, mode: str) -> None:
    from benchmarks.context import ANSWER_BUDGETS, MODEL_FACING, budget_server, measure_in_memory

    cost = await measure_in_memory(budget_server(tmp_path), mode=mode)

    assert cost.tools_listed == len(tool_catalog.listed_by_default())
    assert set(cost.default) == {MODEL_FACING, *ANSWER_BUDGETS} == set(cost.budgets)
    assert cost.over_budget() == {}, f"over budget (bytes, budget) in the {mode} era: {cost.over_budget()}"


@pytest.mark.anyio
async def test_list_entries_leave_out_defaults_that_get_key_shows(tmp_path: Path) -> None:
    from benchmarks.context import budget_server

    async with Client(budget_server(tmp_path), mode="legacy") as client:
        listed = (await client.call_tool("list_keys", {"page_size": 100})).structured_content
        entries = listed["keys"]
        plain = next(e for e in entries if "usd_cap" not in e and "diem_cap" not in e and "privacy" not in e)
        capped = next(e for e in entries if "usd_cap" in e or "diem_cap" in e)
        private = next(e for e in entries if "privacy" in e)
        detail = (await client.call_tool("get_key", {"key_id": plain["id"]})).structured_content

    assert "period" not in plain and "created" not in plain
    assert capped["period"] in {"EPOCH", "MONTH", "LIFETIME"}
    assert private["privacy"] != "ALL"
    assert all(e.get("usd_7d") not in {"0", "0.0000"} for e in entries)
    assert detail["period"] in {"EPOCH", "MONTH", "LIFETIME"} and detail["privacy"] == "ALL"
    assert detail["created"] and "usd_7d" in detail


def test_server_start_up_builds_no_http_client_and_imports_no_benchmark(tmp_path: Path) -> None:
    """A host starts the server at every session: the HTTPS client (CA bundle) waits for the first call."""
    script = textwrap.dedent(
        f"""
        import json, sys
        from venice_keys_mcp.server import build_server
        from venice_keys_mcp.settings import Settings

        server = build_server(Settings(
            base_url="https://api.venice.ai/api/v1",
            admin_key="not-a-real-key-" + "x" * 20,
            secrets_dir={str(tmp_path / "secrets")!r},
            audit_log={str(tmp_path / "audit.jsonl")!r},
        ))
        loaded = sorted(m for m in sys.modules if m.startswith("venice_keys_mcp"))
        print(json.dumps({{"loaded": loaded, "client_built": server.runtime._client is not None}}))
        server.runtime.client  # first use builds it
        print(json.dumps({{"client_built": server.runtime._client is not None}}))
        """
    )
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=STARTUP_TIMEOUT, check=True
    )
    at_start, after_use = (json.loads(line) for line in run.stdout.splitlines())

    assert at_start["client_built"] is False and after_use["client_built"] is True
    assert "venice_keys_mcp.venice.client" not in at_start["loaded"]
    assert "venice_keys_mcp.venice._wire" not in at_start["loaded"]
    assert not [m for m in at_start["loaded"] if m.startswith("benchmarks")]


def test_sandbox_start_up_leaves_the_sandbox_app_for_the_first_call(tmp_path: Path) -> None:
    """`--sandbox` seeds its account at start-up; the Starlette app behind it waits, like the client."""
    script = textwrap.dedent(
        f"""
        import asyncio, json, sys
        from venice_keys_mcp.server import build_server
        from venice_keys_mcp.settings import Settings

        server = build_server(Settings(
            sandbox=True,
            secrets_dir={str(tmp_path / "secrets")!r},
            audit_log={str(tmp_path / "audit.jsonl")!r},
        ))
        print(json.dumps({{"app_loaded": "venice_keys_mcp.sandbox.app" in sys.modules}}))
        keys = asyncio.run(server.runtime.client.list_keys())
        print(json.dumps({{"app_loaded": "venice_keys_mcp.sandbox.app" in sys.modules, "keys": len(keys)}}))
        """
    )
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=STARTUP_TIMEOUT, check=True
    )
    at_start, after_use = (json.loads(line) for line in run.stdout.splitlines())

    assert at_start["app_loaded"] is False
    assert after_use["app_loaded"] is True and after_use["keys"] > 0


def test_start_up_derives_each_tool_schema_once_and_tools_list_none(tmp_path: Path) -> None:
    """The SDK derives every tool's schemas at start-up (issue 14); nothing else may add to that bill.

    A second derivation (a listing that derives again, a form or result model built at
    start-up rather than at first use) would raise the count.
    """
    script = textwrap.dedent(
        f"""
        import asyncio, json
        import pydantic.json_schema
        from mcp import Client

        generated = []
        real_generate = pydantic.json_schema.GenerateJsonSchema.generate
        def counting(self, *args, **kwargs):
            generated.append(1)
            return real_generate(self, *args, **kwargs)
        pydantic.json_schema.GenerateJsonSchema.generate = counting

        from venice_keys_mcp.server import build_server
        from venice_keys_mcp.sdk_adapter import registered_tools
        from venice_keys_mcp.settings import Settings

        server = build_server(Settings(
            sandbox=True,
            secrets_dir={str(tmp_path / "secrets")!r},
            audit_log={str(tmp_path / "audit.jsonl")!r},
        ))
        tools = registered_tools(server)
        at_start = len(generated)

        async def listing():
            async with Client(server, mode="legacy") as client:
                return len((await client.list_tools()).tools)

        listed = asyncio.run(listing())
        print(json.dumps({{"listed": listed, "at_start": at_start, "after_list": len(generated),
                          "tools": len(tools), "outputs": sum(t.output_schema is not None for t in tools)}}))
        """
    )
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=STARTUP_TIMEOUT, check=True
    )
    result = json.loads(run.stdout.splitlines()[-1])
    assert result["listed"] == len(tool_catalog.listed_by_default())
    assert result["outputs"] == result["tools"]  # every tool declares its output model
    assert result["at_start"] == result["tools"] + result["outputs"]
    assert result["after_list"] == result["at_start"], "tools/list derived a JSON schema again"


#: Text on both sides of the shortcut's line: single-spaced printable ASCII (taken), and text
#: with runs of spaces, edge spaces, controls, fence marks, invisible or NFKC-changed characters.
PLAIN_ASCII = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126))
EDGES = st.sampled_from(
    [" ", "\t", "\n", "\x00", "\x7f", "a", "b", "«", "»", "…", "\u200b", "\xa0", "é", "ﬁ"]
)


@example(text="a  b", max_len=10)
@example(text=" a", max_len=10)
@example(text="a ", max_len=10)
@example(text="a\tb", max_len=10)
@example(text="abcdef", max_len=3)
@given(
    text=st.one_of(PLAIN_ASCII, st.text(alphabet=st.sampled_from(" ab")), st.text(alphabet=EDGES), st.text()),
    max_len=st.integers(min_value=1, max_value=12),
)
def test_the_clean_text_shortcut_gives_what_full_cleaning_gives(text: str, max_len: int) -> None:
    assert clean_untrusted(text, max_len) == fencing._clean_fully(text, max_len)


def test_already_clean_text_skips_the_character_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Most descriptions and model ids are plain ASCII lines: cleaning them must cost nothing."""

    def walked(text: str, max_len: int) -> str:
        raise AssertionError(f"walked {text!r}")

    monkeypatch.setattr(fencing, "_clean_fully", walked)
    for text in ["prod backend", "llama-3.3-70b", "a/b: c (d) 'e' #1", "", "x" * 64]:
        assert clean_untrusted(text, max_len=64) == text
        assert fencing.fence(text, max_len=64) == f"«{text}»"
    with pytest.raises(AssertionError, match="walked"):
        clean_untrusted("two  spaces", max_len=64)
