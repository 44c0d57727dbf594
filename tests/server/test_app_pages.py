"""The MCP App pages as a host receives them: each one self-contained file, the shared parts inlined.

The approval card and the key dashboard keep their host bridge, their approval (controls and
flow) and their look once, in `venice_keys_mcp/ui/` (`bridge.js`, `decide.html`,
`decide.js`, `base.css`), and name them with include markers; what the server serves must
be whole. The pages' behaviour is tested in headless Chromium (tests/apps/).
"""

from __future__ import annotations

import re
from importlib import resources

import pytest
from mcp import Client

from tests.apps.test_approval_card import APPS
from venice_keys_mcp.tools.approval import CARD_URI
from venice_keys_mcp.tools.dashboard import DASHBOARD_URI
from venice_keys_mcp.ui import inline

UI = resources.files("venice_keys_mcp.ui")
PAGES = {CARD_URI: "approval.html", DASHBOARD_URI: "dashboard.html"}
#: The shared parts: every script, style and markup file in the folder but the pages.
PARTS = sorted(
    p.name for p in UI.iterdir() if p.name.endswith((".js", ".css", ".html")) and p.name not in PAGES.values()
)
#: Where in each page each part belongs.
SECTION = {"base.css": "style", "bridge.js": "script", "decide.js": "script", "decide.html": "markup"}
#: Whatever would make a browser load something from outside the page.
EXTERNAL = ("http://", "https://", "src=", "href=", "@import", "url(", "<link", "fetch(", "import(")


def squashed(text: str) -> str:
    """Whitespace runs as one space: a markup part is indented as its marker is."""
    return re.sub(r"\s+", " ", text).strip()


@pytest.mark.anyio
async def test_each_page_is_served_whole_with_every_shared_part_inlined_once(server):
    async with Client(server, mode="legacy", extensions=APPS) as client:
        pages = {uri: (await client.read_resource(uri)).contents[0].text for uri in PAGES}
    assert sorted(SECTION) == PARTS
    for uri, text in pages.items():
        assert "@include" not in text, f"{uri} still holds an include marker"
        assert text.count("<script") == 1 and text.count("<style") == 1, f"{uri} is not one script, one style"
        for external in EXTERNAL:
            assert external not in text, f"{uri} would load from outside: {external}"
        whole = squashed(text)
        sections = {
            "script": squashed(text[text.index("<script>") : text.index("</script>")]),
            "style": squashed(text[text.index("<style>") : text.index("</style>")]),
            "markup": squashed(text[text.index("<body>") : text.index("<script>")]),
        }
        for part, section in SECTION.items():
            body = squashed(UI.joinpath(part).read_text(encoding="utf-8"))
            assert whole.count(body) == 1, f"{uri} lacks {part}, or has it twice"
            assert body in sections[section], f"{uri} has {part} outside its {section}"


def test_a_marker_is_replaced_by_its_part_indented_as_the_marker_is():
    parts = {"a.js": "  const a = 1;\n", "b.css": "  p { margin: 0; }\n", "c.html": "<p>\n  x\n</p>\n"}
    html = "\n".join(
        [
            "<style>",
            "/*@include b.css*/",
            "</style>",
            "  <!--@include c.html-->",
            "<script>",
            "/*@include a.js*/",
            "/*@include ../x.js*/",  # a path is not a marker: it stays, and the page test fails on it
            "/*@include c.html*/",  # markup in a script is not a marker either
            "</script>",
        ]
    )
    assert inline(html, parts.__getitem__).splitlines() == [
        "<style>",
        "  p { margin: 0; }",
        "</style>",
        "  <p>",
        "    x",
        "  </p>",
        "<script>",
        "  const a = 1;",
        "/*@include ../x.js*/",
        "/*@include c.html*/",
        "</script>",
    ]


@pytest.mark.parametrize(
    "part", ['  const s = "</script>";', "  /* </STYLE> */", "<script>go()</script>", "/*@include other.js*/"]
)
def test_a_part_that_would_break_its_element_or_include_another_is_refused(part):
    with pytest.raises(ValueError, match=r"x\.js holds"):
        inline("<script>\n/*@include x.js*/\n</script>", {"x.js": part}.__getitem__)
