"""The MCP Apps test host, proven on a demo server and a demo page of its own.

The demo page (demo_page.html) speaks the protocol by hand, as the real cards do; the
host is the official AppBridge (tests/apps/harness.py); the server is a real MCPServer
reached through a real `mcp.Client`. These tests pin down what tests/apps/README.md
says about the wire, so the card authors can rely on it.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from mcp import Client
from mcp.client import advertise
from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID, Apps
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, TextContent, Tool
from pydantic import BaseModel

from tests.apps import harness
from tests.apps.harness import AppHost, app_host

pytestmark = pytest.mark.anyio

PAGE_URI = "ui://demo/page.html"
DEMO_HTML = (Path(__file__).parent / "demo_page.html").read_text(encoding="utf-8")


class Echo(BaseModel):
    echo: str


@dataclass
class Demo:
    """The demo server and what its tools saw."""

    nonce: str
    server: MCPServer | None = None
    shown_result: CallToolResult | None = None
    echo_calls: list[dict[str, str]] = field(default_factory=list)
    model_only_calls: int = 0


def make_demo() -> Demo:
    """A tool with a UI, an app-only tool the UI calls, and a model-only tool it may not call."""
    apps = Apps()
    demo = Demo(nonce=secrets.token_hex(8))

    @apps.tool(resource_uri=PAGE_URI, title="Demo page")
    def demo_show(label: str) -> CallToolResult:
        """Show the demo page for a label."""
        return CallToolResult(
            content=[TextContent(type="text", text=f"Demo for {label}")],
            structured_content={"title": f"Demo for {label}"},
            meta={"demo/nonce": demo.nonce},
        )

    @apps.tool(resource_uri=PAGE_URI, visibility=["app"])
    def demo_echo(nonce: str, label: str) -> Echo:
        """Echo the label back; only with the nonce this server put in the result's _meta."""
        demo.echo_calls.append({"nonce": nonce, "label": label})
        if nonce != demo.nonce:
            raise ToolError("wrong nonce")
        return Echo(echo=f"{label} ({nonce[:4]})")

    @apps.tool(resource_uri=PAGE_URI, visibility=["model"])
    def demo_model_only(label: str) -> Echo:
        """A tool only the model may call."""
        demo.model_only_calls += 1
        return Echo(echo=label)

    apps.add_html_resource(PAGE_URI, DEMO_HTML, title="Demo page", prefers_border=True)
    demo.server = MCPServer("apps-demo", extensions=[apps])
    return demo


@asynccontextmanager
async def shown(label: str = "Ada", **host_options: object) -> AsyncIterator[tuple[Demo, Client, AppHost]]:
    """Do what a host does for a UI tool: list, read the ui:// resource, call, render."""
    demo = make_demo()
    assert demo.server is not None
    async with Client(
        demo.server, extensions=[advertise(EXTENSION_ID, {"mimeTypes": [APP_MIME_TYPE]})]
    ) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        tool: Tool = tools["demo_show"]
        uri = tool.meta["ui"]["resourceUri"]
        resource = (await client.read_resource(uri)).contents[0]
        assert resource.mime_type == APP_MIME_TYPE
        result = demo.shown_result = await client.call_tool("demo_show", {"label": label})
        async with app_host(
            client, resource.text, {"label": label}, result, tool=tool, **host_options
        ) as host:
            yield demo, client, host


async def test_page_gets_input_and_result_meta_and_its_tool_call_reaches_the_server(tmp_path: Path) -> None:
    async with shown("Ada") as (demo, _client, host):
        expect = host.expect
        await expect(host.frame.locator("#title")).to_have_text("Demo for Ada")
        await expect(host.frame.locator("#label")).to_have_text("Ada")
        await expect(host.frame.locator("#nonce")).to_have_text(demo.nonce)

        await host.frame.locator("#echo").click()
        await expect(host.frame.locator("#out")).to_have_text(f"Server says: Ada ({demo.nonce[:4]})")

        call = await host.wait_for_tool_calls(1)
        assert (call.name, call.arguments) == ("demo_echo", {"nonce": demo.nonce, "label": "Ada"})
        assert call.error is None and call.result is not None
        assert call.result["structuredContent"] == {"echo": f"Ada ({demo.nonce[:4]})"}
        assert demo.echo_calls == [{"nonce": demo.nonce, "label": "Ada"}]

        update = await host.wait_for_message("ui/update-model-context")
        assert update == {
            "content": [{"type": "text", "text": "The user echoed Ada through the demo page."}],
            "structuredContent": {"echoed": f"Ada ({demo.nonce[:4]})"},
        }
        assert host.model_context_updates == [update]

        await host.frame.locator("#tell").click()
        message = await host.wait_for_message("ui/message")
        assert message == {"role": "user", "content": [{"type": "text", "text": "Hello from Ada"}]}

        shot = await host.screenshot(tmp_path / "demo-light-640.png")
        assert shot.stat().st_size > 1000


async def test_handshake_on_the_wire_is_what_the_readme_says() -> None:
    async with shown("Bo", width=480) as (demo, _client, host):
        from_app = [m for d, m in host.wire if d == "from-app"]
        to_app = [m for d, m in host.wire if d == "to-app"]

        init = from_app[0]
        assert init["method"] == "ui/initialize"
        assert init["params"] == {
            "protocolVersion": "2026-01-26",
            "appInfo": {"name": "demo-page", "version": "1.0.0"},
            "appCapabilities": {"availableDisplayModes": ["inline"]},
        }
        reply = host.response_to(init["id"])
        assert reply is not None and "result" in reply
        result = reply["result"]
        assert result["protocolVersion"] == "2026-01-26"
        assert result["hostInfo"] == {"name": "venice-keys-test-host", "version": "1.0.0"}
        assert "serverTools" in result["hostCapabilities"]
        context = result["hostContext"]
        assert context["theme"] == "light"
        assert context["containerDimensions"] == {"width": 480, "maxHeight": 2000}
        assert context["styles"]["variables"]["--color-background-primary"] == "#ffffff"
        assert context["toolInfo"]["tool"]["name"] == "demo_show"

        # Nothing reaches the page before it says initialized; then input, then the whole result.
        initialized_at = next(
            i for i, (d, m) in enumerate(host.wire) if m.get("method") == "ui/notifications/initialized"
        )
        notes = [(i, m) for i, (d, m) in enumerate(host.wire) if d == "to-app" and "method" in m]
        assert [m["method"] for _, m in notes][:2] == [
            "ui/notifications/tool-input",
            "ui/notifications/tool-result",
        ]
        assert all(i > initialized_at for i, _ in notes)
        assert notes[0][1]["params"] == {"arguments": {"label": "Bo"}}
        # The whole CallToolResult the host's client got, `_meta` and all, as JSON.
        assert demo.shown_result is not None
        sent = notes[1][1]["params"]
        assert sent == demo.shown_result.model_dump(mode="json", by_alias=True, exclude_none=True)
        assert sent["content"] == [{"type": "text", "text": "Demo for Bo"}]
        assert sent["structuredContent"] == {"title": "Demo for Bo"}
        assert sent["_meta"]["demo/nonce"] == demo.nonce
        assert len(to_app) >= 3
        # The page reported its size; the host followed it (flexible height).
        size = await host.wait_for_message("ui/notifications/size-changed")
        height = await host.page.evaluate("document.getElementById('app').getBoundingClientRect().height")
        assert height == pytest.approx(host.sent("ui/notifications/size-changed")[-1]["height"], abs=1)
        assert 0 < size["height"] < 320  # the content, shorter than the initial 320 px frame
        assert size["width"] == 480


@pytest.mark.parametrize(("theme", "width"), [("light", 360), ("dark", 1280)])
async def test_page_follows_host_theme_and_width(theme: harness.Theme, width: int, tmp_path: Path) -> None:
    async with shown("Cy", theme=theme, width=width) as (_demo, _client, host):
        await host.expect(host.frame.locator("#title")).to_have_text("Demo for Cy")
        assert await host.frame.evaluate("document.documentElement.dataset.theme") == theme
        assert await host.frame.evaluate("document.documentElement.clientWidth") == width
        host_bg = await host.page.evaluate(
            "(t) => window.apphost.themes[t]['--color-background-primary']", theme
        )
        page_bg = await host.frame.evaluate("getComputedStyle(document.body).backgroundColor")
        assert page_bg == _rgb(host_bg)
        await host.screenshot(tmp_path / f"demo-{theme}-{width}.png")

        # A theme switch reaches the page as ui/notifications/host-context-changed.
        other: harness.Theme = "dark" if theme == "light" else "light"
        await host.set_theme(other)
        await host.expect(host.frame.locator("html")).to_have_attribute("data-theme", other)
        changed = [
            m
            for d, m in host.wire
            if d == "to-app" and m.get("method") == "ui/notifications/host-context-changed"
        ]
        assert changed[-1]["params"]["theme"] == other


async def test_host_refuses_a_model_only_tool_and_the_server_never_runs_it() -> None:
    async with shown("Di") as (demo, _client, host):
        await host.frame.locator("#forbidden").click()
        call = await host.wait_for_tool_calls(1)
        assert call.name == "demo_model_only"
        assert call.result is None and call.error is not None and "not callable from an app" in call.error
        await host.expect(host.frame.locator("#out")).to_contain_text("Refused:")
        assert demo.model_only_calls == 0
        # The page got a JSON-RPC error response, not a result.
        request = next(m for m in host.app_messages if m.method == "tools/call")
        reply = host.response_to(request.id)
        assert reply is not None and "error" in reply and "result" not in reply


async def test_bridge_rejects_a_malformed_ui_message() -> None:
    """`ui/message` content is an array of blocks; AppBridge answers a bare object with an error."""
    async with shown("Ed") as (_demo, _client, host):
        await host.frame.evaluate(
            """() => window.parent.postMessage({jsonrpc: "2.0", id: 900, method: "ui/message",
                 params: {role: "user", content: {type: "text", text: "not an array"}}}, "*")"""
        )
        await host.wait_for(lambda: host.response_to(900) is not None, "the host's answer to request 900")
        reply = host.response_to(900)
        assert reply is not None and reply["error"]["code"] == -32602
        assert host.chat_messages == [{"role": "user", "content": {"type": "text", "text": "not an array"}}]
        assert not any(e["kind"] == "ui/message" for e in host.events)  # the handler never ran


def test_missing_browser_skips_or_fails_when_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(harness.shutil, "which", lambda name: None)
    monkeypatch.delenv(harness.REQUIRE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match="chromium"):
        harness.chromium_path()
    monkeypatch.setenv(harness.REQUIRE_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="chromium"):
        harness.chromium_path()


def test_missing_node_skips_or_fails_when_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        harness.shutil, "which", lambda name: None if name in {"node", "npm"} else f"/usr/bin/{name}"
    )
    monkeypatch.setattr(harness, "_build_bundle", harness._build_bundle.__wrapped__)
    monkeypatch.delenv(harness.REQUIRE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match="node is not on PATH"):
        harness.ensure_host_bundle()
    monkeypatch.setenv(harness.REQUIRE_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="node is not on PATH"):
        harness.ensure_host_bundle()


def _rgb(hex_colour: str) -> str:
    value = hex_colour.lstrip("#")
    r, g, b = (int(value[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgb({r}, {g}, {b})"


async def test_resources_read_and_ping_reach_the_server_through_the_host() -> None:
    async with shown("Fa") as (_demo, _client, host):
        for message in (
            {"jsonrpc": "2.0", "id": 910, "method": "resources/read", "params": {"uri": PAGE_URI}},
            {"jsonrpc": "2.0", "id": 911, "method": "ping"},
        ):
            await host.frame.evaluate("(m) => window.parent.postMessage(m, '*')", message)
        await host.wait_for(lambda: host.response_to(911) is not None, "the answer to ping")
        await host.wait_for(lambda: host.response_to(910) is not None, "the answer to resources/read")
        read = host.response_to(910)
        assert read is not None
        contents = read["result"]["contents"]
        assert contents[0]["mimeType"] == APP_MIME_TYPE and contents[0]["text"] == DEMO_HTML
        assert host.response_to(911) == {"jsonrpc": "2.0", "id": 911, "result": {}}


FETCHER = """<!doctype html><html lang="en"><head><title>fetch</title></head><body><script>
  window.attempt = () => fetch("data:text/plain,hello").then((r) => r.text(), (e) => "blocked: " + e.name);
</script></body></html>"""


@pytest.mark.parametrize(("csp", "outcome"), [(harness.DEFAULT_CSP, "blocked: TypeError"), (None, "hello")])
async def test_page_runs_under_the_specs_default_csp(csp: str | None, outcome: str) -> None:
    """connect-src 'none' stops even a data: fetch; without the policy the same fetch works."""
    demo = make_demo()
    assert demo.server is not None
    async with (
        Client(demo.server) as client,
        app_host(client, FETCHER, {}, None, csp=csp, wait_initialized=False) as host,
    ):
        await host.frame.wait_for_function("typeof window.attempt === 'function'")
        assert await host.frame.evaluate("window.attempt()") == outcome


def test_csp_meta_goes_first_in_head() -> None:
    page = "<!DOCTYPE html><HTML lang=en><Head data-x=1><title>t</title></Head><body></body></HTML>"
    out = harness.with_csp(page, "default-src 'none'")
    assert out.startswith(
        '<!DOCTYPE html><HTML lang=en><Head data-x=1><meta http-equiv="Content-Security-Policy"'
    )
    assert harness.with_csp("<p>bare</p>", "x").startswith(
        '<meta http-equiv="Content-Security-Policy" content="x">'
    )
