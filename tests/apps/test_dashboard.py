"""The key dashboard as a person meets it: headless Chromium, in the same test host as the approval card.

The server is the real one on its sandbox (12 seeded keys, or 500), reached through a
real `mcp.Client` that declared MCP Apps and no forms; the page's Revoke goes through
the host's `tools/call` to the real gated tool, and its approval through `approve_action`,
exactly as in the approval card. Each test clicks what a person clicks and then looks at
the sandbox.

Screenshots go to the test's tmp folder; with VENICE_KEYS_SCREENSHOTS=docs/screenshots
they are also written there (the README's pictures).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer

from tests.apps.harness import AppHost, app_host
from tests.apps.test_approval_card import APPS, shot
from tests.server.conftest import runtime_of
from tests.server.test_confirmation import snapshot
from venice_keys_mcp.tools.dashboard import DASHBOARD_URI

pytestmark = pytest.mark.anyio

ROWS = "#keys > article.key"


async def opened(client: Client, args: dict[str, Any] | None = None) -> tuple[str, Any, Any]:
    """What an Apps host does for the model's call of key_dashboard: the page, the tool, the result."""
    tools = {t.name: t for t in (await client.list_tools()).tools}
    tool = tools["key_dashboard"]
    assert tool.meta["ui"]["resourceUri"] == DASHBOARD_URI
    html = (await client.read_resource(DASHBOARD_URI)).contents[0].text
    return html, tool, await client.call_tool("key_dashboard", args or {})


async def descriptions(host: AppHost) -> list[str]:
    return await host.frame.locator(f"{ROWS} .desc").all_text_contents()


async def no_horizontal_scroll(host: AppHost) -> None:
    wide = await host.frame.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert wide <= 0, f"the page is {wide} px wider than its frame"


@asynccontextmanager
async def dashboard(client: Client, html: str, result: Any, tool: Any, **kw: Any) -> AsyncIterator[AppHost]:
    """`app_host` with a host window taller than the frame can grow (2000 px), so all of it is painted."""
    async with app_host(client, html, {}, result, tool=tool, **kw) as host:
        await host.page.set_viewport_size({"width": kw.get("width", 640) + 32, "height": 2100})
        yield host


def page_errors(host: AppHost) -> list[str]:
    return [c for c in host.console if c.startswith(("[error]", "[pageerror]"))]


@pytest.mark.parametrize("key_count", [None, 500], ids=["12-keys", "500-keys"])
@pytest.mark.parametrize("width", [360, 1280])
async def test_dashboard_shows_every_key_in_both_themes_and_widths(make_server, tmp_path, key_count, width):
    server = make_server(sandbox_keys=key_count)
    active = key_count or 12  # the seeded demo account, or padded to this many
    async with Client(server, mode="2026-07-28", extensions=APPS) as client:
        html, tool, result = await opened(client)
        data = result.structured_content
        assert data["total"] == active and len(data["keys"]) == active
        async with dashboard(client, html, result, tool, width=width) as host:
            frame = host.frame
            await host.expect(frame.locator("#summary")).to_contain_text(f"{active} keys")
            await host.expect(frame.locator(ROWS)).to_have_count(min(active, 100))
            if active > 100:  # a big account renders a hundred at a time
                more = f"Show 100 more ({active - 100} not shown)"
                await host.expect(frame.locator("#more")).to_have_text(more)
            # each key: its type, last six, a usage bar, expiry and last use
            capped = next(k for k in data["keys"] if k.get("cap") and k["used"])
            row = frame.locator(f'{ROWS}[data-id="{capped["id"]}"]')
            await host.expect(row.locator(".last6")).to_have_text(f"…{capped['last6']}")
            await host.expect(row.locator(".usage .muted")).to_contain_text(" of ")
            assert await row.locator(".bar > span").evaluate("e => parseFloat(e.style.width)") > 0
            expiry = "Expires" if capped.get("expires") else "No expiry"
            await host.expect(row.locator(".dates")).to_contain_text(expiry)
            await no_horizontal_scroll(host)
            size = "12" if key_count is None else str(key_count)
            light_bg = await frame.evaluate("getComputedStyle(document.body).backgroundColor")
            await shot(host, tmp_path, f"dashboard-{size}-light-{width}")

            await host.set_theme("dark")
            await host.expect(frame.locator("html")).to_have_attribute("data-theme", "dark")
            dark_bg = await frame.evaluate("getComputedStyle(document.body).backgroundColor")
            assert dark_bg != light_bg, "the page follows the host's theme"
            await no_horizontal_scroll(host)
            await shot(host, tmp_path, f"dashboard-{size}-dark-{width}")
            assert not page_errors(host), page_errors(host)
    assert [c.name for c in host.tool_calls] == [], "showing the page calls no tool"


def expected_order(keys: list[dict[str, Any]], by: str) -> list[str]:
    """The sort the page promises, computed here independently of the page's script."""

    def ts(value: str | None, missing: float) -> float:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() if value else missing

    if by == "usage":

        def share(k: dict[str, Any]) -> float:
            return -1 if k.get("cap") is None else (k["used"] / k["cap"] if k["cap"] > 0 else 1)

        ranked = sorted(keys, key=lambda k: (-share(k), -k["used"], k["id"]))
    elif by == "last_used":
        ranked = sorted(keys, key=lambda k: (ts(k.get("last_used"), float("-inf")), k["id"]))
    else:
        ranked = sorted(keys, key=lambda k: (ts(k.get("expires"), float("inf")), k["id"]))
    return [k["description"] for k in ranked]


async def test_dashboard_sorts_and_filters(server):
    async with Client(server, mode="legacy", extensions=APPS) as client:
        html, tool, result = await opened(client)
        keys = result.structured_content["keys"]
        async with dashboard(client, html, result, tool, width=360) as host:
            frame = host.frame
            await host.expect(frame.locator(ROWS)).to_have_count(len(keys))
            assert await descriptions(host) == [k["description"] for k in keys], "the server's order first"

            for by in ("usage", "last_used", "expiry"):
                await frame.locator("#sort").select_option(by)
                assert await descriptions(host) == expected_order(keys, by), by
            first = await descriptions(host)
            assert first[0] == next(k["description"] for k in keys if "expiring_soon" in k["flags"])

            await frame.locator("#type").select_option("ADMIN")
            admins = [k for k in keys if k["type"] == "ADMIN"]
            await host.expect(frame.locator(ROWS)).to_have_count(len(admins))
            await frame.locator("#type").select_option("")

            near = [k["description"] for k in keys if "near_cap" in k["flags"]]
            await frame.locator('#flag-chips button[data-flag="near_cap"]').click()
            await host.expect(frame.locator(ROWS)).to_have_count(len(near))
            assert await descriptions(host) == near
            await frame.locator('#flag-chips button[data-flag="near_cap"]').click()  # off again

            await frame.locator("#flag").select_option("never_used")
            never = [k["description"] for k in keys if "last_used" not in k]
            assert never and sorted(await descriptions(host)) == sorted(never)
            await frame.locator("#flag").select_option("")

            target = keys[3]
            await frame.locator("#search").fill(target["last6"])
            await host.expect(frame.locator(ROWS)).to_have_count(1)
            assert await descriptions(host) == [target["description"]]
            await frame.locator("#search").fill("no key has this text")
            await host.expect(frame.locator(ROWS)).to_have_count(0)
            await host.expect(frame.locator("#empty")).to_be_visible()
            assert not page_errors(host), page_errors(host)


async def test_dashboard_filters_a_500_key_account(make_server):
    server = make_server(sandbox_keys=500)
    async with Client(server, mode="legacy", extensions=APPS) as client:
        html, tool, result = await opened(client)
        async with dashboard(client, html, result, tool, width=1280) as host:
            frame = host.frame
            await frame.locator("#more").click()
            await host.expect(frame.locator(ROWS)).to_have_count(200)
            await frame.locator("#search").fill("load test key #042")
            await host.expect(frame.locator(ROWS)).to_have_count(1)
            await host.expect(frame.locator("#summary")).to_contain_text("500 keys")
            await host.expect(frame.locator("#summary")).to_contain_text("1 shown")


def revocable(server: MCPServer) -> Any:
    """A used INFERENCE key that is not the server's own."""
    rt = runtime_of(server)
    return next(
        k
        for k in rt.sandbox.keys.values()
        if k.api_key_type == "INFERENCE" and k.last_used_at is not None and k.last6 != rt.own_key_last6
    )


async def test_revoke_clicked_in_the_dashboard_needs_the_typed_last_six_and_revokes(server, tmp_path):
    key = revocable(server)
    async with Client(server, mode="2026-07-28", extensions=APPS) as client:
        html, tool, result = await opened(client)
        total = result.structured_content["total"]
        assert result.structured_content["actions"] == ["revoke_key", "rotate_key"]
        async with dashboard(client, html, result, tool, width=360) as host:
            frame = host.frame
            row = frame.locator(f'{ROWS}[data-id="{key.id}"]')
            assert await frame.locator('button[data-action="rotate_key"]').count() > 0
            await row.locator('button[data-action="revoke_key"]').click()
            await host.expect(frame.locator("#title")).to_have_text("Revoke this key?")
            await host.expect(frame.locator("#changes")).to_contain_text(key.id)
            await host.expect(frame.locator("#typed-label")).to_contain_text("last six")
            assert await frame.locator('button[data-action="revoke_key"]').first.is_disabled()
            await shot(host, tmp_path, "dashboard-revoke-pending-360")
            assert key.id in runtime_of(server).sandbox.keys, "nothing happens before the approval"

            await frame.locator("#typed").fill("nope!!" if key.last6 != "nope!!" else "wrong!")
            await frame.locator("#approve").click()
            await host.expect(frame.locator("#outcome")).to_contain_text("does not match")
            assert key.id in runtime_of(server).sandbox.keys

            await frame.locator("#typed").fill(key.last6)
            await frame.locator("#approve").click()
            await host.expect(frame.locator("#outcome")).to_contain_text("Revoked key")
            await host.expect(frame.locator("#badge")).to_have_text("approved")
            told = await host.wait_for_message("ui/update-model-context")
            await host.expect(row).to_have_count(0)  # the list was read again
            await host.expect(frame.locator("#summary")).to_contain_text(f"{total - 1} keys")
            await shot(host, tmp_path, "dashboard-revoke-approved-360")
            assert not page_errors(host), page_errors(host)
    assert key.id not in runtime_of(server).sandbox.keys
    calls = [c.name for c in host.tool_calls]
    assert calls == ["revoke_key", "approve_action", "approve_action", "key_dashboard"]
    assert host.tool_calls[0].result["structuredContent"]["status"] == "awaiting_approval"
    assert "approved revoke_key" in told["content"][0]["text"]


async def test_decline_in_the_dashboard_changes_nothing(server, tmp_path):
    key = revocable(server)
    before = snapshot(server)
    async with Client(server, mode="legacy", extensions=APPS) as client:
        html, tool, result = await opened(client)
        async with dashboard(client, html, result, tool, theme="dark", width=1280) as host:
            frame = host.frame
            await frame.locator(f'{ROWS}[data-id="{key.id}"] button[data-action="revoke_key"]').click()
            await host.expect(frame.locator("#title")).to_have_text("Revoke this key?")
            await frame.locator("#decline").click()
            await host.expect(frame.locator("#outcome")).to_contain_text("Declined; nothing changed")
            told = await host.wait_for_message("ui/update-model-context")
            await host.expect(frame.locator(f'{ROWS}[data-id="{key.id}"]')).to_have_count(1)
            await host.expect(frame.locator('button[data-action="revoke_key"]').first).to_be_enabled()
            await shot(host, tmp_path, "dashboard-declined-dark-1280")
    assert snapshot(server) == before
    assert "declined" in told["content"][0]["text"]
    assert [c.name for c in host.tool_calls] == ["revoke_key", "approve_action"]


async def test_the_servers_own_key_has_no_revoke_button_and_read_only_has_none(make_server):
    for read_only in (False, True):
        server = make_server(read_only=read_only)
        own = runtime_of(server).own_key_last6
        async with Client(server, mode="legacy", extensions=APPS) as client:
            html, tool, result = await opened(client)
            keys = result.structured_content["keys"]
            mine = next(k for k in keys if k["last6"] == own)
            assert mine.get("server_key") is True
            async with dashboard(client, html, result, tool, width=360) as host:
                frame = host.frame
                await host.expect(frame.locator(ROWS)).to_have_count(len(keys))
                buttons = frame.locator('button[data-action="revoke_key"]')
                await host.expect(buttons).to_have_count(0 if read_only else len(keys) - 1)
                mine_row = frame.locator(f'{ROWS}[data-id="{mine["id"]}"]')
                await host.expect(mine_row.locator(".chips")).to_contain_text("this server's key")


async def test_rotate_clicked_in_the_dashboard_goes_through_the_approval_and_rotates(server, tmp_path):
    key = revocable(server)
    before = set(runtime_of(server).sandbox.keys)
    async with Client(server, mode="2026-07-28", extensions=APPS) as client:
        html, tool, result = await opened(client)
        async with dashboard(client, html, result, tool, width=1280) as host:
            frame = host.frame
            await frame.locator(f'{ROWS}[data-id="{key.id}"] button[data-action="rotate_key"]').click()
            await host.expect(frame.locator("#title")).to_have_text("Rotate this key?")
            await host.expect(frame.locator("#changes")).to_contain_text("(rotated)")
            assert set(runtime_of(server).sandbox.keys) == before, "nothing happens before the approval"
            await frame.locator("#typed").fill(key.last6)
            await frame.locator("#approve").click()
            await host.expect(frame.locator("#outcome")).to_contain_text("Rotated")
            await host.expect(frame.locator("#show-secret")).to_be_visible()  # the new secret, to the person
            await shot(host, tmp_path, "dashboard-rotate-approved-1280")
            assert not page_errors(host), page_errors(host)
    made = set(runtime_of(server).sandbox.keys) - before
    assert len(made) == 1 and runtime_of(server).sandbox.keys[key.id].expires_at is not None
    assert [c.name for c in host.tool_calls][:3] == ["rotate_key", "approve_action", "key_dashboard"]
