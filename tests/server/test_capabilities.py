"""The server advertises only what it has, and answers a request for what it lacks plainly.

It has tools, resources (the recent audit entries, the approval card) and prompts (see
test_prompts.py). A host that asks for an unknown prompt or resource gets a JSON-RPC
error with the standard code, on both protocol eras, and the server logs no traceback for it.
"""

from __future__ import annotations

import logging

import pytest
from mcp import Client, MCPError

pytestmark = [pytest.mark.anyio, pytest.mark.eras]

INVALID_PARAMS = -32602


async def test_prompts_are_advertised_and_an_unknown_prompt_is_invalid_params(server, mode, caplog):
    with caplog.at_level(logging.DEBUG):
        async with Client(server, mode=mode) as c:
            if mode == "legacy":  # the handshake's capabilities (the modern era has no handshake)
                caps = c.server_capabilities
                assert caps is not None and caps.prompts is not None and caps.completions is not None
                assert caps.tools is not None and caps.resources is not None
            assert [p.name for p in (await c.list_prompts()).prompts]
            with pytest.raises(MCPError) as raised:
                await c.get_prompt("anything")
            assert raised.value.error.code == INVALID_PARAMS
            assert (await c.list_tools()).tools  # and the session goes on
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info], caplog.text


async def test_an_unknown_resource_is_invalid_params_and_the_audit_resource_reads(server, mode, caplog):
    with caplog.at_level(logging.DEBUG):
        async with Client(server, mode=mode) as c:
            with pytest.raises(MCPError) as raised:
                await c.read_resource("venice-keys://audit/nope")
            assert raised.value.error.code == INVALID_PARAMS
            assert "venice-keys://audit/nope" in raised.value.error.message
            listed = [str(r.uri) for r in (await c.list_resources()).resources]
            # The audit trail, the approval card and the key dashboard (MCP App pages).
            assert sorted(listed) == [
                "ui://venice-keys/approval.html",
                "ui://venice-keys/dashboard.html",
                "venice-keys://audit/recent",
            ]
            recent = await c.read_resource("venice-keys://audit/recent")
            assert recent.contents[0].text.startswith("[")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info], caplog.text
