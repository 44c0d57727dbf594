"""A bad argument is refused in one plain sentence that names the argument and its rule.

Not pydantic's report (error counts, `[type=...]`, the input echoed back, a link to
errors.pydantic.dev), and not Venice's sentence about its own field names: every tool
that takes arguments, through the real client, with nothing changed in the sandbox.
"""

from __future__ import annotations

import re
from typing import Any

import jsonschema
import pytest
from mcp import Client
from mcp.client import advertise
from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID

from tests.support import tool_catalog
from venice_keys_mcp.venice._wire import error_detail

pytestmark = pytest.mark.anyio

WALLET = "0x" + "ab" * 20
SIGNATURE = "0x" + "cd" * 65
APPS = [advertise(EXTENSION_ID, {"mimeTypes": [APP_MIME_TYPE]})]

#: (tool, arguments, the sentence after "Error executing tool <tool>: ")
BAD_ARGUMENTS: list[tuple[str, dict[str, Any], str]] = [
    ("list_keys", {"page_size": 0}, "page_size must be at least 1."),
    ("list_keys", {"page": "two"}, "page must be a whole number."),
    ("list_keys", {"key_type": "ROOT"}, "key_type must be INFERENCE or ADMIN."),
    ("list_keys", {"search": "s" * 65}, "search must be at most 64 characters long."),
    ("get_key", {}, "key_id is required."),
    (
        "get_key",
        {"key_id": "../../etc"},
        "key_id must be a key id as list_keys shows it (letters, digits, - and _; at most 64).",
    ),
    ("get_limits", {"limit": 501}, "limit must be at most 500."),
    ("get_spend", {"lookback": 91}, "lookback must be at most 90."),
    ("get_spend", {"lookback": "7d"}, "lookback must be a whole number."),
    ("key_dashboard", {"page": 0}, "page must be at least 1."),
    (
        "get_breach_log",
        {"since": "yesterday"},
        "since must be a UTC date or time: YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ.",
    ),
    (
        "get_breach_log",
        {"limit_type": "RPS"},
        "limit_type must be RPM, RPD, TPM, FAILED_REQUESTS or UNSUPPORTED_FEATURE_REQUESTS.",
    ),
    ("audit_keys", {"near_cap_pct": 101}, "near_cap_pct must be at most 100."),
    ("audit_keys", {"unused_days": 0}, "unused_days must be at least 1."),
    ("create_key", {"description": "d" * 65}, "description must be at most 64 characters long."),
    ("create_key", {"description": ""}, "description must be at least 1 character long."),
    ("create_key", {"description": "ok", "usd_limit": -5}, "usd_limit must be at least 0."),
    ("create_key", {"description": "ok", "diem_limit": 1e11}, "diem_limit must be at most 9999999999."),
    (
        "create_key",
        {"description": "ok", "expires_at": "next week"},
        "expires_at must be a UTC date or time: YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ.",
    ),
    (
        "create_key",
        {"description": "ok", "expires_at": "2020-01-01"},
        "expires_at must be in the future (UTC); 2020-01-01 has passed.",
    ),
    ("create_key", {"description": "ok", "reveal_secret": "maybe"}, "reveal_secret must be true or false."),
    (
        "patch_key",
        {"key_id": "KEY", "remove": ["description"]},
        "remove[0] must be usd_limit, diem_limit or expires_at.",
    ),
    (
        "patch_key",
        {"key_id": "KEY", "model_privacy": "SOME"},
        "model_privacy must be ALL, PRIVATE_TEXT or PRIVATE_ONLY.",
    ),
    (
        "patch_key",
        {"key_id": "KEY", "expires_at": "2020-01-01T00:00:00Z"},
        "expires_at must be in the future (UTC); 2020-01-01T00:00:00Z has passed.",
    ),
    ("revoke_key", {}, "key_id is required."),
    (
        "revoke_key",
        {"key_id": "a b"},
        "key_id must be a key id as list_keys shows it (letters, digits, - and _; at most 64).",
    ),
    (
        "mint_web3_key",
        {"address": "0x12", "signature": SIGNATURE, "token": "t"},
        "address must be a wallet address: 0x and 40 hex digits.",
    ),
    (
        "mint_web3_key",
        {"address": WALLET, "signature": "0x", "token": "t"},
        "signature must be a personal_sign signature: 0x and 130 hex digits.",
    ),
    ("mint_web3_key", {"address": WALLET, "signature": SIGNATURE}, "token is required."),
    ("rotate_key", {"key_id": "KEY", "grace_hours": 1000}, "grace_hours must be at most 720."),
    ("rotate_key", {"grace_hours": 1}, "key_id is required."),
    ("revoke_keys", {"key_ids": []}, "key_ids must have at least 1 item."),
    (
        "revoke_keys",
        {"key_ids": ["a b"]},
        "key_ids[0] must be a key id as list_keys shows it (letters, digits, - and _; at most 64).",
    ),
]


def _snapshot(server: Any) -> dict[str, Any]:
    keys = server.runtime.sandbox.keys
    return {k: (v.description, v.expires_at, dict(v.limits), v.model_privacy) for k, v in keys.items()}


@pytest.mark.parametrize(
    ("tool", "args", "expected"), BAD_ARGUMENTS, ids=lambda v: v if isinstance(v, str) else None
)
async def test_a_bad_argument_is_one_plain_sentence_naming_it_and_its_rule(server, tool, args, expected):
    before = _snapshot(server)
    async with Client(server, mode="legacy") as c:
        if args.get("key_id") == "KEY":  # a real key: the rule, not "no such key", must be what refuses
            listed = (await c.call_tool("list_keys", {})).structured_content
            args = {**args, "key_id": listed["keys"][-1]["id"]}
        result = await c.call_tool(tool, args)
    text = result.content[0].text
    assert result.is_error
    assert text == f"Error executing tool {tool}: {expected}"
    assert not re.search(r"validation error|\[type=|input_value|pydantic|Venice", text)
    assert _snapshot(server) == before


#: Wrong values to try, in turn, until one breaks the argument's own schema.
WRONG_VALUES: list[Any] = [{"not": "this"}, ["not", "this"], 3.5, "text"]


def wrong_value(schema: dict[str, Any]) -> Any:
    return next(v for v in WRONG_VALUES if not jsonschema.Draft202012Validator(schema).is_valid(v))


@pytest.mark.parametrize(
    ("tool", "argument"),
    [(tool.name, arg) for tool in tool_catalog.catalog().values() for arg in tool.arguments],
    ids=lambda v: v,
)
async def test_every_argument_of_every_tool_is_refused_in_plain_sentences(server, tool, argument):
    """Per tool and argument in the snapshots: one wrong-typed value, every other argument left out.

    The answer names the argument and its rule, then each other required argument as
    missing, one sentence each; a new tool is checked here with no line added.
    """
    entry = tool_catalog.catalog()[tool]
    value = wrong_value(entry.input_schema["properties"][argument])
    before = _snapshot(server)
    async with Client(server, mode="legacy", extensions=APPS) as c:  # an Apps host: app-only tools too
        result = await c.call_tool(tool, {argument: value})
    text = result.content[0].text
    prefix = f"Error executing tool {tool}: "
    assert result.is_error and text.startswith(prefix), text
    rest = text.removeprefix(prefix)
    for missing in set(entry.required) - {argument}:
        assert f"{missing} is required." in rest, text
        rest = rest.replace(f"{missing} is required.", "")
    one_sentence = rf"{re.escape(argument)} must be (?:(?!\. ).)+\."
    assert re.fullmatch(one_sentence, " ".join(rest.split())), text
    assert not re.search(r"validation error|\[type=|input_value|pydantic|Venice", text)
    assert _snapshot(server) == before


async def test_several_bad_arguments_are_one_sentence_each(server):
    async with Client(server, mode="legacy") as c:
        result = await c.call_tool("mint_web3_key", {"address": "x", "signature": "y", "token": "t"})
    assert result.content[0].text == (
        "Error executing tool mint_web3_key: address must be a wallet address: 0x and 40 hex digits. "
        "signature must be a personal_sign signature: 0x and 130 hex digits."
    )


def test_venice_details_that_repeat_its_message_are_said_once():
    said = "Invalid request: expiresAt: Expiration date must be in the future"
    repeated = {
        "error": said,
        "details": {"expiresAt": {"_errors": ["Expiration date must be in the future"]}},
    }
    assert error_detail(repeated, b"", "application/json", ()) == said
    new = {"error": "Invalid request", "details": {"description": {"_errors": ["Too long"]}}}
    assert error_detail(new, b"", "application/json", ()) == "Invalid request (description: Too long)"
