"""The tools this server has, read from the reviewed snapshots in `tests/toolsnaps/`.

The snapshots are the one hand-reviewed list of tools: `tests/server/test_toolsnaps.py`
writes one file per tool from the live `tools/list` (as an Apps host sees it, so app-only
tools are there too) and fails when a tool has no snapshot or a snapshot no tool. Tests
that need "every tool", "every read tool" or "how many tools are listed" ask this module
instead of keeping their own list, so a new tool is covered by its snapshot alone.

What a snapshot does not record (which toolset a tool is in) is asked of the server:
`server_tools` builds the tool set of a server with the given toolsets, without serving.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

#: Where the snapshots live; `tests/server/test_toolsnaps.py` writes them here.
SNAPS = Path(__file__).resolve().parents[1] / "toolsnaps"


@dataclass(frozen=True)
class CatalogTool:
    """One snapshot: the tool's `tools/list` entry, as JSON, and what tests ask of it."""

    name: str
    contract: dict[str, Any]

    @property
    def hints(self) -> dict[str, bool]:
        return dict(self.contract.get("annotations") or {})

    @property
    def read_only(self) -> bool:
        return self.hints.get("readOnlyHint") is True

    @property
    def destructive(self) -> bool:
        return self.hints.get("destructiveHint") is True

    @property
    def app_only(self) -> bool:
        """Shown only to an Apps host, for the card's buttons (`_meta.ui.visibility == ["app"]`)."""
        return ((self.contract.get("_meta") or {}).get("ui") or {}).get("visibility") == ["app"]

    @property
    def input_schema(self) -> dict[str, Any]:
        return dict(self.contract["inputSchema"])

    @property
    def arguments(self) -> tuple[str, ...]:
        return tuple(self.input_schema.get("properties", {}))

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(self.input_schema.get("required", ()))


@cache
def catalog() -> dict[str, CatalogTool]:
    """Every snapshotted tool by name, sorted by name (a stable order for parametrized tests)."""
    tools = {}
    for path in sorted(SNAPS.glob("*.json")):
        contract = json.loads(path.read_text(encoding="utf-8"))
        assert contract["name"] == path.stem, f"{path.name} holds the contract of {contract['name']}"
        tools[path.stem] = CatalogTool(path.stem, contract)
    assert tools, f"no tool snapshots in {SNAPS}"
    return tools


def every_tool() -> frozenset[str]:
    """Every tool the server has with every toolset on, app-only ones included."""
    return frozenset(catalog())


def model_facing() -> frozenset[str]:
    """What a client that declared no Apps support is listed (all toolsets): every tool but app-only ones."""
    return frozenset(name for name, tool in catalog().items() if not tool.app_only)


def read_tools() -> frozenset[str]:
    return frozenset(name for name, tool in catalog().items() if tool.read_only)


def write_tools() -> frozenset[str]:
    return frozenset(name for name, tool in catalog().items() if not tool.read_only)


def server_tools(toolsets: Iterable[str] | None = None) -> frozenset[str]:
    """The tools (read and write, app-only included) a server with these toolsets has; default: all.

    From the server's own `tool_names`, built on the sandbox with its files in a
    temporary folder: nothing is served and nothing is written where the tests run.
    """
    from venice_keys_mcp.server import tool_names
    from venice_keys_mcp.settings import TOOLSETS, Settings

    with tempfile.TemporaryDirectory(prefix="venice-keys-catalog-") as tmp:
        settings = Settings(
            sandbox=True,
            toolsets=tuple(TOOLSETS if toolsets is None else toolsets),
            secrets_dir=Path(tmp) / "secrets",
            audit_log=Path(tmp) / "audit.jsonl",
            state_dir=Path(tmp) / "state",
        )
        reads, writes = tool_names(settings)
    return frozenset(reads) | frozenset(writes)


def listed_by_default() -> frozenset[str]:
    """What a server with the default settings lists to a client without Apps: the bundle's tools.

    The default toolsets' tools, less the app-only ones (which a snapshot marks).
    """
    from venice_keys_mcp.settings import DEFAULT_TOOLSETS

    app_only = every_tool() - model_facing()
    return server_tools(DEFAULT_TOOLSETS) - app_only
