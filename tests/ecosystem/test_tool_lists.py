"""Every tool is in every list: the server's tools, their snapshots, the manifest, the README table.

The snapshots (`tests/toolsnaps/`) are the reviewed list of tools; `manifest.json` and the
README's tool table are generated from the live server by `scripts/`. Each of those has
its own "generated equals live" test; this one reads the three files as a reviewer, a
host and a reader meet them, and checks each against the tools the server has (every
toolset on, from `server.tool_names`), so a tool that one of them lacks, or a name one of
them lists that the server does not have, fails here by name.

What each list holds: the snapshots, every tool (app-only ones too, as an Apps host sees
them); the README table, every tool the model can be shown (all toolsets); the manifest,
what the bundle lists by default (the default toolsets, no app-only tool).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection, Mapping

from tests.support import tool_catalog
from tests.support.tool_catalog import CatalogTool
from venice_keys_mcp.settings import DEFAULT_TOOLSETS

from .conftest import manifest

README_ROW = re.compile(r"^\| `(\w+)` \| ([^|]*) \| ([^|]*) \|", re.MULTILINE)
TABLE = re.compile(r"<!-- generated:tools [^>]*-->\n(.*?)<!-- /generated:tools -->", re.DOTALL)


def readme_rows(readme: str) -> list[tuple[str, str, str]]:
    """(tool, toolset column, kind column) of each row of the README's generated tool table."""
    table = TABLE.search(readme)
    assert table, "README.md has no <!-- generated:tools --> table"
    return [(m[1], m[2].strip(), m[3].strip()) for m in README_ROW.finditer(table.group(1))]


def kind(tool: CatalogTool) -> str:
    """The README's Kind column for a tool, from its reviewed annotations."""
    if tool.read_only:
        return "read-only"
    return "destructive" if tool.destructive else "changes keys"


def differences(
    server: Collection[str],
    by_default: Collection[str],
    snapshots: Mapping[str, CatalogTool],
    manifest_names: list[str],
    rows: list[tuple[str, str, str]],
) -> list[str]:
    """Every way the lists disagree with the server's tools, one line each; empty when all agree.

    `server`: the tools with every toolset on; `by_default`: with the default toolsets.
    """
    problems = []
    for name in sorted(set(server) - set(snapshots)):
        problems.append(f"{name} has no snapshot (UPDATE_TOOLSNAPS=1, tests/server/test_toolsnaps.py)")
    for name in sorted(set(snapshots) - set(server)):
        problems.append(f"tests/toolsnaps/{name}.json is a snapshot of a tool the server does not have")
    app_only = {name for name, tool in snapshots.items() if tool.app_only}
    shown = set(server) - app_only
    readme = [name for name, _, _ in rows]
    for name in sorted(shown - set(readme)):
        problems.append(f"{name} is missing from the README's tool table (scripts/sync_readme.py --write)")
    for name in sorted(set(readme) - shown):
        problems.append(f"the README's tool table lists {name}, which the server does not show the model")
    bundled = set(by_default) - app_only
    for name in sorted(bundled - set(manifest_names)):
        problems.append(f"{name} is missing from manifest.json (scripts/sync_manifest.py --write)")
    for name in sorted(set(manifest_names) - bundled):
        problems.append(f"manifest.json lists {name}, which the server does not list by default")
    for where, names in (("manifest.json", manifest_names), ("the README's tool table", readme)):
        problems += [f"{where} lists {name} {n} times" for name, n in Counter(names).items() if n > 1]
    for name, toolset, said in rows:
        if name not in snapshots:
            continue
        if said != kind(snapshots[name]):
            problems.append(f"the README calls {name} {said!r}; its snapshot says {kind(snapshots[name])!r}")
        if toolset.endswith("(not default)") == (name in by_default):
            problems.append(f"the README's toolset column for {name} ({toolset!r}) says otherwise")
    return problems


def test_every_tool_the_server_has_is_in_each_list_and_no_list_has_more(readme_text):
    server = tool_catalog.server_tools()
    by_default = tool_catalog.server_tools(DEFAULT_TOOLSETS)
    names = [t["name"] for t in manifest()["tools"]]
    problems = differences(server, by_default, tool_catalog.catalog(), names, readme_rows(readme_text))
    assert problems == [], "\n".join(problems)
    assert by_default < server  # something is left out by default (minting with a wallet)
    assert tool_catalog.read_tools() & set(names) and tool_catalog.write_tools() & set(names)


def test_a_tool_one_list_lacks_is_named(readme_text):
    """The check can fail: each list, doctored in one way, is reported by the tool's name."""
    server = tool_catalog.server_tools()
    by_default = tool_catalog.server_tools(DEFAULT_TOOLSETS)
    snapshots = dict(tool_catalog.catalog())
    names = [t["name"] for t in manifest()["tools"]]
    rows = readme_rows(readme_text)
    read = next(n for n in names if snapshots[n].read_only)  # a default read tool
    write = next(n for n in names if not snapshots[n].read_only)  # a default write tool
    read_row = next(row for row in rows if row[0] == read)

    new_tool = differences({*server, "new_tool"}, {*by_default, "new_tool"}, snapshots, names, rows)
    assert new_tool == [
        "new_tool has no snapshot (UPDATE_TOOLSNAPS=1, tests/server/test_toolsnaps.py)",
        "new_tool is missing from the README's tool table (scripts/sync_readme.py --write)",
        "new_tool is missing from manifest.json (scripts/sync_manifest.py --write)",
    ]
    del snapshots[read]
    unsnapped = differences(server, by_default, snapshots, names, rows)
    assert unsnapped == [f"{read} has no snapshot (UPDATE_TOOLSNAPS=1, tests/server/test_toolsnaps.py)"]
    gone = differences(server - {write}, by_default - {write}, tool_catalog.catalog(), names, rows)
    assert f"tests/toolsnaps/{write}.json is a snapshot of a tool the server does not have" in gone
    assert f"manifest.json lists {write}, which the server does not list by default" in gone
    assert f"the README's tool table lists {write}, which the server does not show the model" in gone

    others = [n for n in names if n != read]
    doctored = [(n, ts, "read-only" if n == write else k) for n, ts, k in rows if n != read] + [read_row]
    shown = differences(server, by_default, tool_catalog.catalog(), [*others, write], doctored)
    assert shown == [
        f"{read} is missing from manifest.json (scripts/sync_manifest.py --write)",
        f"manifest.json lists {write} 2 times",
        f"the README calls {write} 'read-only'; its snapshot says {kind(tool_catalog.catalog()[write])!r}",
    ]
    hidden = differences(server, by_default - {read}, tool_catalog.catalog(), others, rows)
    assert hidden == [f"the README's toolset column for {read} ({read_row[1]!r}) says otherwise"]
