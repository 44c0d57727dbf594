"""A test host for MCP App pages: the official host bridge in headless Chromium.

An MCP App page is only ever run by a host: the host renders it in a sandboxed iframe,
answers its `ui/initialize`, hands it the tool input and result, and carries its
`tools/call` to the server. So a page is tested inside such a host, not by reading its
HTML. `app_host` builds one from real parts:

- the host side is `AppBridge` + `PostMessageTransport` from npm
  `@modelcontextprotocol/ext-apps` (tests/apps/host/host.js, bundled by build.sh), the
  bridge real hosts embed, so the page is held to that bridge's checks and behaviour;
- the page runs in Debian's Chromium via Playwright, in an iframe with
  `sandbox="allow-scripts allow-forms"` and `srcdoc` (an opaque origin, as in hosts);
- the page's `tools/call` and `resources/read` reach the real MCP server through the
  caller's real `mcp.Client`, tool calls after the visibility check the spec requires.

Everything the page sends is recorded for the test (see `AppHost`). The protocol the page
must speak is written down in tests/apps/README.md.

When Chromium, Playwright, node/npm or the bundle cannot be had, `app_host` skips the test
with the reason, or fails it if `VENICE_KEYS_REQUIRE_BROWSER=1` (CI sets it, so a browser
test never passes there by not running).
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NoReturn

import anyio
import pytest
from mcp import Client
from mcp_types import CallToolResult, Tool

HOST_DIR = Path(__file__).parent / "host"
HOST_HTML = HOST_DIR / "host.html"
BUNDLE = HOST_DIR / "dist" / "host.bundle.js"
REQUIRE_ENV = "VENICE_KEYS_REQUIRE_BROWSER"

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]

Theme = Literal["light", "dark"]

# The spec's restrictive default for a resource without `_meta.ui.csp` ("Host Behavior"),
# plus what its sandbox section adds (no nested frames, base-uri 'self', no plugins).
# Real hosts enforce it; this host does too, so a page that loads anything from outside
# fails here rather than in the field.
DEFAULT_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; media-src 'self' data:; connect-src 'none'; frame-src 'none'; "
    "base-uri 'self'; object-src 'none'"
)


def with_csp(html: str, policy: str = DEFAULT_CSP) -> str:
    """The page with a CSP <meta> as the first thing in its <head>."""
    tag = f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
    for opening in (r"<head\b[^>]*>", r"<html\b[^>]*>"):
        match = re.search(opening, html, flags=re.IGNORECASE)
        if match:
            return html[: match.end()] + tag + html[match.end() :]
    return tag + html


def unavailable(reason: str) -> NoReturn:
    """Skip the browser test, or fail it where a browser is required (CI)."""
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1, so this fails instead of skipping)", pytrace=False)
    pytest.skip(reason)


@functools.cache
def _build_bundle() -> str | None:
    """Run build.sh once per process; None on success, else why it failed."""
    if shutil.which("bash") is None:
        return "bash is not on PATH, so the host bundle cannot be built"
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            return f"{tool} is not on PATH, so the host bundle (tests/apps/host/build.sh) cannot be built"
    proc = subprocess.run(
        ["bash", str(HOST_DIR / "build.sh")], capture_output=True, text=True, timeout=300, check=False
    )
    if proc.returncode != 0 or not BUNDLE.is_file():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-15:]
        return "tests/apps/host/build.sh failed:\n" + "\n".join(tail)
    return None


def ensure_host_bundle() -> Path:
    """The built host bundle (built on demand, cached by build.sh), or skip/fail."""
    problem = _build_bundle()
    if problem is not None:
        unavailable(problem)
    return BUNDLE


def chromium_path() -> str:
    """Debian's Chromium, or skip/fail."""
    path = shutil.which("chromium")
    if path is None:
        unavailable("no `chromium` on PATH (apt-get install -y chromium)")
    return path


@dataclass
class AppMessage:
    """One JSON-RPC request or notification the page sent to the host."""

    method: str
    params: dict[str, Any]
    id: int | str | None = None


@dataclass
class ToolCall:
    """A `tools/call` the page made, and what the host answered it with."""

    name: str
    arguments: dict[str, Any]
    result: dict[str, Any] | None = None
    """The CallToolResult as JSON (camelCase, `_meta`), as the page received it."""
    error: str | None = None
    """Why the host refused or failed the call (the page got a JSON-RPC error)."""


@dataclass
class AppHost:
    """A rendered app page and what it has said to its host so far."""

    page: Any
    """The Playwright async Page of the host."""
    frame: Any
    """The Playwright Frame holding the app page."""
    wire: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    """Every JSON-RPC message, in order: ("from-app" | "to-app", message)."""
    tool_calls: list[ToolCall] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    """Console output and uncaught errors of the host page and the app frame."""
    events: list[dict[str, Any]] = field(default_factory=list)
    """The host page's own event log (handler calls, host/error, host/delivered)."""

    @property
    def app_messages(self) -> list[AppMessage]:
        """Every request and notification the page sent (responses left out)."""
        return [
            AppMessage(method=m["method"], params=m.get("params") or {}, id=m.get("id"))
            for direction, m in self.wire
            if direction == "from-app" and "method" in m
        ]

    def sent(self, method: str) -> list[dict[str, Any]]:
        """The params of every message of this method the page sent, in order."""
        return [m.params for m in self.app_messages if m.method == method]

    @property
    def model_context_updates(self) -> list[dict[str, Any]]:
        return self.sent("ui/update-model-context")

    @property
    def chat_messages(self) -> list[dict[str, Any]]:
        return self.sent("ui/message")

    def response_to(self, request_id: int | str) -> dict[str, Any] | None:
        """The host's JSON-RPC response to the page's request of this id."""
        for direction, m in self.wire:
            if direction == "to-app" and m.get("id") == request_id and "method" not in m:
                return m
        return None

    async def wait_for(self, condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
        """Wait until `condition()` holds; on timeout fail with the wire log to debug from."""
        with anyio.move_on_after(timeout) as scope:
            while not condition():
                await anyio.sleep(0.02)
        if scope.cancelled_caught:
            raise AssertionError(f"timed out waiting for {what}\n{self.diagnostics()}")

    async def wait_for_message(self, method: str, count: int = 1, timeout: float = 10.0) -> dict[str, Any]:
        """Wait for the page's `count`-th message of this method; its params."""
        await self.wait_for(
            lambda: len(self.sent(method)) >= count, f"{count} x {method} from the app", timeout
        )
        return self.sent(method)[count - 1]

    async def wait_for_tool_calls(self, count: int = 1, timeout: float = 10.0) -> ToolCall:
        """Wait until the host has answered `count` tool calls; the last of them."""

        def answered() -> bool:
            done = [c for c in self.tool_calls if c.result is not None or c.error is not None]
            return len(done) >= count

        await self.wait_for(answered, f"{count} answered tools/call", timeout)
        return [c for c in self.tool_calls if c.result is not None or c.error is not None][count - 1]

    def expect(self, target: Any) -> Any:
        """Playwright's auto-waiting `expect` (imported here: Playwright may be absent)."""
        from playwright.async_api import expect

        return expect(target)

    async def set_theme(self, theme: Theme) -> None:
        """Switch the host theme; the page gets `ui/notifications/host-context-changed`."""
        await self.page.evaluate("(t) => window.apphost.setTheme(t)", theme)

    async def screenshot(self, path: str | os.PathLike[str]) -> Path:
        """A full-page PNG of the host with the app in it."""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        await self.page.screenshot(path=str(out), full_page=True)
        return out

    def diagnostics(self) -> str:
        lines = ["wire:"]
        lines += [f"  {d}: {json.dumps(m)[:400]}" for d, m in self.wire]
        lines += ["console:"] + [f"  {c}" for c in self.console[-30:]]
        lines += ["host events:"] + [
            f"  {json.dumps(e)[:300]}" for e in self.events if e["kind"].startswith("host/")
        ]
        return "\n".join(lines)


def _result_json(result: CallToolResult | dict[str, Any]) -> dict[str, Any]:
    if isinstance(result, dict):
        return result
    return result.model_dump(mode="json", by_alias=True, exclude_none=True)


def _visibility(tool: Tool) -> list[str]:
    ui = (tool.meta or {}).get("ui") or {}
    return list(ui.get("visibility") or ["model", "app"])


@asynccontextmanager
async def app_host(
    client: Client,
    html: str,
    tool_input: dict[str, Any],
    tool_result: CallToolResult | dict[str, Any] | None,
    *,
    theme: Theme = "light",
    width: int = 640,
    tool: Tool | None = None,
    initial_height: int = 320,
    max_height: int = 2000,
    wait_initialized: bool = True,
    csp: str | None = DEFAULT_CSP,
    timeout: float = 15.0,
) -> AsyncIterator[AppHost]:
    """Render `html` as an MCP App in a test host; yield an `AppHost`.

    `tool_result` is the whole CallToolResult of the tool whose UI this is (content,
    structuredContent and `_meta`); it is sent once the page has completed the handshake
    (None sends no result, as while a tool is still running). `tool` adds
    `hostContext.toolInfo`. The page's `tools/call` go to `client` (a real MCP client
    connected to the real server); a tool the server marks as not callable by apps
    (`_meta.ui.visibility` without "app") is refused as the spec requires of hosts.
    The page runs under `csp` (the spec's default policy; None for none).
    With `wait_initialized`, the host is yielded only after the page has sent
    `ui/notifications/initialized` and received the tool input and result.
    """
    bundle = ensure_host_bundle()
    executable = chromium_path()
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        unavailable("playwright is not installed (pip install -e '.[test]')")

    async with AsyncExitStack() as stack:
        pw = await stack.enter_async_context(async_playwright())
        try:
            browser = await pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        except Exception as exc:
            unavailable(f"chromium at {executable} did not start: {exc}")
        stack.push_async_callback(browser.close)
        page = await browser.new_page(viewport={"width": width + 32, "height": 720})
        host = AppHost(page=page, frame=None)

        # AppBridge logs every message at debug level; the wire log has those already.
        page.on("console", lambda msg: msg.type == "debug" or host.console.append(f"[{msg.type}] {msg.text}"))
        page.on("pageerror", lambda err: host.console.append(f"[pageerror] {err}"))

        tools_by_name: dict[str, Tool] = {}

        async def record(event: dict[str, Any]) -> None:
            host.events.append(event)
            kind = event["kind"]
            if kind == "wire/from-app":
                host.wire.append(("from-app", event["data"]))
            elif kind == "wire/to-app":
                host.wire.append(("to-app", event["data"]))

        async def call_tool(params: dict[str, Any]) -> dict[str, Any]:
            name = params.get("name")
            arguments = params.get("arguments") or {}
            call = ToolCall(name=str(name), arguments=arguments)
            host.tool_calls.append(call)
            try:
                if not tools_by_name:
                    tools_by_name.update({t.name: t for t in (await client.list_tools()).tools})
                known = tools_by_name.get(str(name))
                if known is None:
                    raise ValueError(f"unknown tool: {name!r}")
                if "app" not in _visibility(known):
                    raise PermissionError(
                        f"tool {name!r} is not callable from an app (visibility {_visibility(known)})"
                    )
                result = _result_json(await client.call_tool(str(name), arguments))
            except Exception as exc:
                call.error = f"{type(exc).__name__}: {exc}"
                raise
            call.result = result
            return result

        async def read_resource(params: dict[str, Any]) -> dict[str, Any]:
            result = await client.read_resource(str(params.get("uri")))
            return result.model_dump(mode="json", by_alias=True, exclude_none=True)

        await page.expose_function("__apphostRecord", record)
        await page.expose_function("__apphostReadResource", read_resource)
        await page.expose_function("__apphostCallTool", call_tool)
        await page.goto(HOST_HTML.as_uri())
        if not await page.evaluate("typeof window.apphost === 'object'"):
            # The bundle was built, so this is a defect in host.js, not a missing tool.
            raise AssertionError(f"the host bundle {bundle} did not load into the host page: {host.console}")

        config = {
            "html": html if csp is None else with_csp(html, csp),
            "toolInput": tool_input,
            "toolResult": None if tool_result is None else _result_json(tool_result),
            "theme": theme,
            "width": width,
            "initialHeight": initial_height,
            "maxHeight": max_height,
            "toolInfo": None
            if tool is None
            else {"tool": tool.model_dump(mode="json", by_alias=True, exclude_none=True)},
        }
        await page.evaluate("(c) => window.apphost.start(c)", config)
        element = await page.query_selector("#app")
        assert element is not None
        host.frame = await element.content_frame()

        if wait_initialized:
            await host.wait_for(
                lambda: any(e["kind"] == "host/delivered" for e in host.events),
                "the app's ui/initialize + ui/notifications/initialized handshake",
                timeout,
            )
            # The frame object may have been replaced by the srcdoc navigation.
            host.frame = await element.content_frame()
        yield host
