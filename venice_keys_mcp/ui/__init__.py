"""The MCP App pages (the approval card, the key dashboard) and the one loader that serves them.

An MCP App page must be one self-contained HTML file: the host's content security policy
lets it load nothing from outside, not even a script beside it. The two pages still share
their host bridge (`bridge.js`), their approval flow (`decide.js`) and their look
(`base.css`), each kept once here: a page names a shared file with a marker on a line of
its own, `/*@include bridge.js*/`, inside its `<script>` or `<style>`, and `page()` puts
the file's text in its place before the page is served.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

#: A marker alone on its line; the name is a file in this folder (no path, so no way out of it).
INCLUDE = re.compile(r"^[ \t]*/\*@include ([A-Za-z0-9_-]+\.(?:js|css))\*/[ \t]*$", re.MULTILINE)
#: What would end the page's <script> or <style> early if an included file held it.
_CLOSES_ELEMENT = re.compile(r"</(?:script|style)", re.IGNORECASE)


def _text(name: str) -> str:
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")


def _included(match: re.Match[str]) -> str:
    name = match.group(1)
    text = _text(name)
    if _CLOSES_ELEMENT.search(text) or INCLUDE.search(text):
        raise ValueError(f"{name} closes its element or includes another file: it cannot be inlined")
    return text.rstrip("\n")


@cache
def page(name: str) -> str:
    """The page `name` (`approval.html`, `dashboard.html`) as served: its include markers replaced.

    Read once per process: the files are package data and do not change while it runs.
    """
    return INCLUDE.sub(_included, _text(name))
