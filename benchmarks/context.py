"""Context cost: how many bytes of an agent's context each answer takes.

What is measured is what a host puts in the model's context. For the tool list that is
each tool's name, description and input schema (hosts do not show the model a tool's
title, annotations or output schema), summed over the tools listed by default; the whole
`tools/list` result is reported beside it, not budgeted. For a tool call it is the
JSON-RPC `result` object exactly as a host receives it (`content` and
`structuredContent` together, since hosts pass both on), serialized compactly in UTF-8.
The benchmark takes it from a real stdio server; the budget test (`tests/test_budgets.py`)
takes it from the same server built in memory.
Both go through `measure_context`, so the numbers and the budgets cannot drift apart.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The account the budgets are about: the sandbox's largest, whose breach log is full.
ACCOUNT_KEYS = 500

#: The tool list as the model sees it: name + description + input schema, on average per tool.
#: Its budget is this times the tools listed by default (the default toolsets, not read-only),
#: counted in the measured `tools/list` itself: a new tool brings its own allowance, and
#: the tests check the count against the tool snapshots (tests/support/tool_catalog.py).
MODEL_FACING_PER_TOOL = 500
MODEL_FACING = "tools/list model-facing"

#: Default renderings, per answer, at most: what an agent pays when it does not ask for more.
ANSWER_BUDGETS: dict[str, int] = {
    "list_keys": 6_000,
    "get_key": 16_000,
    "get_limits": 16_000,
    "get_breach_log": 16_000,
    "audit_keys": 10_000,
    "get_spend": 6_000,
}


def budgets(tools_listed: int) -> dict[str, int]:
    """Every budget: the model-facing one for this many listed tools, then each answer's."""
    return {MODEL_FACING: MODEL_FACING_PER_TOOL * tools_listed, **ANSWER_BUDGETS}


#: The largest answer an agent can ask for explicitly; reported, not budgeted (nor is the
#: whole `tools/list` result, output schemas and annotations included).
ASKED_FOR_MORE: dict[str, dict[str, Any]] = {
    "list_keys page_size=100": {"page_size": 100},
    "get_limits limit=500": {"limit": 500},
    "get_breach_log limit=50": {"limit": 50},
    "audit_keys per_group=50": {"per_group": 50},
    "get_spend lookback=90 limit=50": {"lookback": 90, "limit": 50},
}

ToolsList = Callable[[], Awaitable[Mapping[str, Any]]]
CallTool = Callable[[str, Mapping[str, Any]], Awaitable[Mapping[str, Any]]]


def wire_bytes(result: Mapping[str, Any]) -> int:
    """Bytes of a JSON-RPC result as sent: compact JSON, UTF-8 (the SDK's own serialization)."""
    return len(json.dumps(result, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


@dataclass
class ContextCost:
    """Bytes per answer: the budgeted defaults, and the largest answers a caller can ask for."""

    default: dict[str, int]
    asked_for_more: dict[str, int]
    tools_listed: int

    @property
    def budgets(self) -> dict[str, int]:
        return budgets(self.tools_listed)

    def over_budget(self) -> dict[str, tuple[int, int]]:
        """Answers over their budget, as `{name: (bytes, budget)}`; empty when all fit.

        The model-facing budget is per tool, over the tools actually listed.
        """
        return {n: (b, self.budgets[n]) for n, b in self.default.items() if b > self.budgets[n]}


def model_facing_bytes(tools_list: Mapping[str, Any]) -> int:
    """What a host gives the model of a `tools/list` result: each tool's name, description, input schema.

    Name and description as UTF-8 text, the input schema as compact JSON; a tool's title,
    annotations and output schema are for the host and programs, not the model.
    """
    total = 0
    for tool in tools_list["tools"]:
        text = tool["name"] + (tool.get("description") or "")
        total += len(text.encode("utf-8")) + wire_bytes(tool["inputSchema"])
    return total


async def measure_context(list_tools: ToolsList, call_tool: CallTool) -> ContextCost:
    """Measure `tools/list` and every budgeted tool's default answer, then the largest asks."""
    tools = await list_tools()
    default = {MODEL_FACING: model_facing_bytes(tools)}
    listed = await call_tool("list_keys", {})
    default["list_keys"] = wire_bytes(listed)
    first_key = listed["structuredContent"]["keys"][0]["id"]
    default["get_key"] = wire_bytes(await call_tool("get_key", {"key_id": first_key}))
    default["get_limits"] = wire_bytes(await call_tool("get_limits", {}))
    default["get_breach_log"] = wire_bytes(await call_tool("get_breach_log", {}))
    default["audit_keys"] = wire_bytes(await call_tool("audit_keys", {}))
    default["get_spend"] = wire_bytes(await call_tool("get_spend", {}))
    more = {"tools/list whole result": wire_bytes(tools)}
    for label, args in ASKED_FOR_MORE.items():
        more[label] = wire_bytes(await call_tool(label.split()[0], args))
    return ContextCost(default=default, asked_for_more=more, tools_listed=len(tools["tools"]))


async def measure_in_memory(server: Any, mode: str = "legacy") -> ContextCost:
    """`measure_context` on an in-process `MCPServer` through the SDK's `Client`.

    `mode` is the protocol era ("legacy" or "2026-07-28"): hosts speak either, so the
    budget test checks both. The client parses each answer into a model; dumping it back
    with only the fields that were set gives the same JSON object the server put on the wire.
    """
    from mcp import Client

    def as_sent(model: Any) -> dict[str, Any]:
        dumped: dict[str, Any] = model.model_dump(mode="json", by_alias=True, exclude_unset=True)
        return dumped

    async with Client(server, mode=mode) as client:

        async def list_tools() -> dict[str, Any]:
            return as_sent(await client.list_tools())

        async def call_tool(name: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
            result = await client.call_tool(name, dict(arguments))
            if result.is_error:
                raise RuntimeError(f"{name} failed: {result.content}")
            return as_sent(result)

        return await measure_context(list_tools, call_tool)


def measure_context_cost(workdir: Path) -> dict[str, Any]:
    """The benchmark's section: a stdio server on a 500-key sandbox, checked against in-memory."""
    import anyio

    from benchmarks.procs import server_command, server_env
    from benchmarks.stdio_rpc import rpc_process

    argv, described = server_command("--sandbox", "--sandbox-keys", str(ACCOUNT_KEYS))
    with rpc_process(argv, env=server_env(workdir)) as proc:
        proc.handshake()

        async def list_tools() -> Mapping[str, Any]:
            return proc.request("tools/list")

        async def call_tool(name: str, arguments: Mapping[str, Any]) -> Mapping[str, Any]:
            return proc.call_tool(name, arguments)

        wire = anyio.run(measure_context, list_tools, call_tool)
    in_memory = anyio.run(measure_in_memory, budget_server(workdir / "in-memory"))
    return {
        "command": described,
        "budgets": wire.budgets,
        "default": wire.default,
        "asked_for_more": wire.asked_for_more,
        "over_budget": {name: list(pair) for name, pair in wire.over_budget().items()},
        "tools_listed": wire.tools_listed,
        "model_facing_per_tool": round(wire.default[MODEL_FACING] / wire.tools_listed, 1),
        "in_memory_default": in_memory.default,
        "met": not wire.over_budget(),
    }


def budget_server(workdir: Path) -> Any:
    """The server the budgets are about: the sandbox with 500 keys and a full breach log."""
    from venice_keys_mcp.server import build_server
    from venice_keys_mcp.settings import Settings

    return build_server(
        Settings(
            sandbox=True,
            sandbox_keys=ACCOUNT_KEYS,
            secrets_dir=workdir / "secrets",
            audit_log=workdir / "audit.jsonl",
            log_level="WARNING",
        )
    )
