"""The agent-facing contract, snapshotted: a change to what agents see shows up as a diff.

Each tool's name, title, description, annotations and schemas live in
`tests/toolsnaps/<tool>.json`. Run with `UPDATE_TOOLSNAPS=1` to rewrite them after an
intended change, then review the diff like any other code.

The snapshots are also the tests' one list of tools (`tests/support/tool_catalog.py`):
per-tool tests iterate them, and `tests/ecosystem/test_tool_lists.py` checks that the
manifest and the README table name the same tools.
"""

from __future__ import annotations

import json
import os

import pytest
from mcp import Client
from mcp.client import advertise
from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID

from tests.support.tool_catalog import SNAPS

UPDATE = os.environ.get("UPDATE_TOOLSNAPS") == "1"

pytestmark = pytest.mark.anyio


def _render(tool: dict[str, object]) -> str:
    return json.dumps(tool, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


async def test_tool_contracts_match_snapshots(server):
    # As an Apps host sees them, so the app-only approve_action is snapshotted too.
    apps = [advertise(EXTENSION_ID, {"mimeTypes": [APP_MIME_TYPE]})]
    async with Client(server, mode="legacy", extensions=apps) as c:
        tools = (await c.list_tools()).tools
    live = {t.name: t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in tools}
    if UPDATE:
        SNAPS.mkdir(exist_ok=True)
        for stale in SNAPS.glob("*.json"):
            if stale.stem not in live:
                stale.unlink()
        for name, tool in live.items():
            (SNAPS / f"{name}.json").write_text(_render(tool), encoding="utf-8")
    stored = {p.stem for p in SNAPS.glob("*.json")}
    assert stored == set(live), f"snapshots {sorted(stored)} != live tools {sorted(live)}; UPDATE_TOOLSNAPS=1"
    changed = [n for n, t in live.items() if (SNAPS / f"{n}.json").read_text(encoding="utf-8") != _render(t)]
    assert not changed, f"tool contract changed for {changed}; review, then rerun with UPDATE_TOOLSNAPS=1"
