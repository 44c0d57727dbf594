"""Adding a tool is writing its module: nothing else in the package lists it (issue 14).

A tool module written outside the package's folder (this test's temporary folder, added
to the `tools` package's search path) is found, listed and served like the shipped ones;
its toolset and read-only mode apply to it, and a write tool in it is guarded by the audit
guard because its annotations say it writes, not because a list names it.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp import Client

import venice_keys_mcp.tools as tools_package
from venice_keys_mcp.server import tool_names
from venice_keys_mcp.settings import TOOLSETS, Settings

MODULE = "key_census"
SOURCE = '''
from typing import Annotated

from mcp_types import CallToolResult

from venice_keys_mcp.tools.kit import WRITE, Kit, result
from venice_keys_mcp.tools.views import Output


class Census(Output):
    total: int
    admin: int


def register(kit: Kit) -> None:
    rt = kit.rt

    @kit.tool(title="Key census", toolset="keys")
    async def count_keys() -> Annotated[CallToolResult, Census]:
        """How many keys, and how many of them are ADMIN keys."""
        keys = await rt.client.list_keys()
        out = Census(total=len(keys), admin=sum(k.api_key_type == "ADMIN" for k in keys))
        return result(out, f"{out.total} keys, {out.admin} ADMIN")

    @kit.tool(title="Touch key", annotations=WRITE, toolset="keys")
    async def touch_key(key_id: str) -> str:
        """A write tool: listed only when writes are, guarded by the audit guard."""
        return key_id
'''


@pytest.fixture
def new_tool_module(tmp_path: Path) -> Iterator[None]:
    folder = tmp_path / "more_tools"
    folder.mkdir()
    (folder / f"{MODULE}.py").write_text(textwrap.dedent(SOURCE), encoding="utf-8")
    saved = list(tools_package.__path__)
    tools_package.__path__.append(str(folder))
    try:
        yield
    finally:
        tools_package.__path__[:] = saved
        sys.modules.pop(f"{tools_package.__name__}.{MODULE}", None)


@pytest.mark.anyio
async def test_a_new_tool_module_is_listed_and_served_with_no_other_edit(new_tool_module, make_server):
    server = make_server()
    async with Client(server, mode="legacy") as c:
        listed = {t.name: t for t in (await c.list_tools()).tools}
        assert {"count_keys", "touch_key"} <= set(listed)
        assert listed["count_keys"].annotations.read_only_hint is True
        answer = await c.call_tool("count_keys", {})
        keys = (await c.call_tool("list_keys", {"page_size": 100})).structured_content
    assert not answer.is_error
    assert answer.structured_content["total"] == keys["total"] > 0
    assert answer.structured_content["admin"] == sum(k["type"] == "ADMIN" for k in keys["keys"])


@pytest.mark.anyio
async def test_its_toolset_and_read_only_mode_apply_and_its_write_is_guarded(new_tool_module, make_server):
    reads, writes = tool_names(Settings(sandbox=True, toolsets=TOOLSETS))
    assert "count_keys" in reads and "touch_key" in writes  # from its annotations alone
    async with Client(make_server(read_only=True), mode="legacy") as c:
        names = {t.name for t in (await c.list_tools()).tools}
        refused = await c.call_tool("touch_key", {"key_id": "k"})
    assert "count_keys" in names and "touch_key" not in names
    assert refused.is_error and "read-only" in refused.content[0].text
    async with Client(make_server(toolsets=("spend",)), mode="legacy") as c:
        names = {t.name for t in (await c.list_tools()).tools}
    assert "count_keys" not in names and "touch_key" not in names
