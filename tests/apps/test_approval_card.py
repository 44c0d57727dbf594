"""The approval card as a person meets it: in headless Chromium, inside a host that speaks the Apps bridge.

The server is the real one on its sandbox, reached through a real `mcp.Client` that
declared MCP Apps and no forms (as Claude Desktop and claude.ai do); the host page is
the official AppBridge (tests/apps/harness.py), which relays the card's `tools/call` to
that client. Each test clicks what a person clicks and then looks at the sandbox.

Screenshots go to the test's tmp folder; with VENICE_KEYS_SCREENSHOTS=docs/screenshots
they are also written there (that is how the README's pictures are made). A secret shown
in the card is masked in every screenshot.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.client import advertise
from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID

from tests.apps.harness import AppHost, app_host
from tests.server.conftest import runtime_of
from tests.server.test_confirmation import risky, snapshot

pytestmark = pytest.mark.anyio

APPS = [advertise(EXTENSION_ID, {"mimeTypes": [APP_MIME_TYPE]})]
CARD = "ui://venice-keys/approval.html"


async def shot(host: AppHost, tmp_path: Path, name: str, *, mask_secret: bool = False) -> Path:
    path = tmp_path / f"{name}.png"
    mask = [host.frame.locator("#secret")] if mask_secret else []
    await host.page.locator("iframe").first.screenshot(path=str(path), mask=mask)
    keep = os.environ.get("VENICE_KEYS_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(keep) / path.name)
    return path


async def gated(client: Client, tool: str, args: dict[str, Any]) -> tuple[str, Any, Any]:
    """Call a gated tool as the model would; the card's HTML, the tool, and the whole result."""
    tools = {t.name: t for t in (await client.list_tools()).tools}
    html = (await client.read_resource(CARD)).contents[0].text
    return html, tools[tool], await client.call_tool(tool, args)


async def test_card_revoke_typed_and_approved_revokes_the_key(server, tmp_path):
    call = risky(server, "revoke")
    async with Client(server, mode="2026-07-28", extensions=APPS) as client:
        html, tool, result = await gated(client, call.tool, call.args)
        assert result.structured_content["status"] == "awaiting_approval"
        async with app_host(client, html, call.args, result, tool=tool) as host:
            frame = host.frame
            await host.expect(frame.locator("#title")).to_have_text("Revoke this key?")
            await host.expect(frame.locator("#changes")).to_contain_text(call.key_id)
            await host.expect(frame.locator("#typed-label")).to_contain_text("last six")
            await shot(host, tmp_path, "card-pending")
            assert call.key_id in runtime_of(server).sandbox.keys, "nothing happens before the click"

            await frame.locator("#typed").fill(call.refuse["last6"])
            await frame.locator("#approve").click()
            await host.expect(frame.locator("#outcome")).to_contain_text("does not match")
            assert call.key_id in runtime_of(server).sandbox.keys

            await frame.locator("#typed").fill(call.approve["last6"])
            await frame.locator("#approve").click()
            await host.expect(frame.locator("#outcome")).to_contain_text("Revoked key")
            await host.expect(frame.locator("#badge")).to_have_text("approved")
            told = await host.wait_for_message("ui/update-model-context")
            await shot(host, tmp_path, "card-approved")
    assert call.key_id not in runtime_of(server).sandbox.keys
    assert [c.name for c in host.tool_calls] == ["approve_action", "approve_action"]
    assert "approved revoke_key" in told["content"][0]["text"]


async def test_card_decline_changes_nothing(server, tmp_path):
    call = risky(server, "revoke")
    before = snapshot(server)
    async with Client(server, mode="legacy", extensions=APPS) as client:
        html, tool, result = await gated(client, call.tool, call.args)
        async with app_host(client, html, call.args, result, tool=tool, theme="dark", width=360) as host:
            await host.frame.locator("#decline").click()
            await host.expect(host.frame.locator("#outcome")).to_contain_text("Declined; nothing changed")
            told = await host.wait_for_message("ui/update-model-context")
            await shot(host, tmp_path, "card-declined-dark-360")
    assert snapshot(server) == before
    assert "declined" in told["content"][0]["text"]


async def test_card_approves_a_widening_patch_with_one_click(server, tmp_path):
    call = risky(server, "patch_raise_cap")
    async with Client(server, mode="2026-07-28", extensions=APPS) as client:
        html, tool, result = await gated(client, call.tool, call.args)
        async with app_host(client, html, call.args, result, tool=tool, width=360) as host:
            await host.expect(host.frame.locator("#changes")).to_contain_text("WIDENS")
            assert await host.frame.locator("#typed").is_hidden()
            await host.frame.locator("#approve").click()
            await host.expect(host.frame.locator("#outcome")).to_contain_text("Updated key")
    assert call.done(runtime_of(server).sandbox)


async def test_card_shows_a_new_secret_to_the_person_and_not_to_the_model(server, tmp_path):
    args = {"description": "card demo key", "usd_limit": 10}
    async with Client(server, mode="2026-07-28", extensions=APPS) as client:
        html, tool, result = await gated(client, "create_key", args)
        secret = Path(result.structured_content["secret_file"]).read_text().splitlines()[0]
        async with app_host(client, html, args, result, tool=tool) as host:
            await host.expect(host.frame.locator("#title")).to_have_text("Key created")
            await host.frame.locator("#show-secret").click()
            await host.expect(host.frame.locator("#secret")).to_have_text(secret)
            told = await host.wait_for_message("ui/update-model-context")
            await shot(host, tmp_path, "card-secret-shown", mask_secret=True)
    assert secret not in result.model_dump_json()
    to_model = {"ui/update-model-context", "ui/message"}
    model_side = [m.params for m in host.app_messages if m.method in to_model]
    assert model_side and secret not in str(model_side) and secret not in str(told)
