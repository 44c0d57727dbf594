"""The MCP App pages (the approval card, the key dashboard) and the one loader that serves them.

An MCP App page must be one self-contained HTML file: the host's content security policy
lets it load nothing from outside, not even a script beside it. The two pages still share
their host bridge (`bridge.js`), their approval (its controls in `decide.html`, its flow in
`decide.js`) and their look (`base.css`), each kept once here: a page names a shared part
with a marker on a line of its own, `/*@include bridge.js*/` inside its `<script>` or
`<style>`, `<!--@include decide.html-->` in its markup, and `page()` puts the part's text in
its place, indented as the marker is, before the page is served.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from functools import cache
from importlib import resources

#: A marker alone on its line, as a script, style or markup comment; the name is a file in
#: this folder (no path, so no way out of it).
INCLUDE = re.compile(
    r"^(?P<indent>[ \t]*)"
    r"(?:/\*@include (?P<code>[\w-]+\.(?:js|css))\*/|<!--@include (?P<markup>[\w-]+\.html)-->)"
    r"[ \t]*$",
    re.MULTILINE | re.ASCII,
)
#: What would end the page's <script> or <style> early, or start another, in a part; and a
#: marker, which would be served as it is (parts are inlined once, not recursively).
_UNSAFE_IN_PART = re.compile(r"</?(?:script|style)|@include", re.IGNORECASE)


def inline(html: str, read: Callable[[str], str]) -> str:
    """`html` with each include marker replaced by the text `read(name)` gives.

    A part with a script or style tag, or a marker of its own, is refused: the page would
    break in the browser with no error here.
    """

    def part(match: re.Match[str]) -> str:
        name = match["code"] or match["markup"]
        text = read(name)
        if _UNSAFE_IN_PART.search(text):
            raise ValueError(f"{name} holds a script or style tag, or an include marker")
        return textwrap.indent(text.rstrip("\n"), match["indent"])

    return INCLUDE.sub(part, html)


def _read(name: str) -> str:
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")


@cache
def page(name: str) -> str:
    """The page `name` (`approval.html`, `dashboard.html`) as served, its shared parts inlined.

    Read once per process: the files are package data and do not change while it runs.
    """
    return inline(_read(name), _read)
