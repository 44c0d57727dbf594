"""Output schemas say what each answer holds, so a client's validation can catch a wrong one.

Hosts do not show output schemas to the model (the model-facing budget in
`tests/test_budgets.py` counts names, descriptions and input schemas), so they carry
types, `required`, enums and formats in full. Every `mcp.Client` call in this suite
checks its answer against them; here, that they constrain something at every depth,
match the output models field by field, and that a client does reject a wrong answer.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any, get_args

import pytest
from mcp import Client

from venice_keys_mcp.sdk_adapter import registered_tool
from venice_keys_mcp.server import build_server, tool_names
from venice_keys_mcp.settings import Settings
from venice_keys_mcp.tools.write import Status

#: Every tool, each toolset on (the `server` fixture's selection).
TOOLS = [name for names in tool_names() for name in names]

#: The keywords the MCP Inspector's `--strict` lint counts as constraining (its `untyped-schema` rule).
CONSTRAINING = {"type", "enum", "const", "$ref", "anyOf", "oneOf", "allOf", "properties", "items", "required"}


def _nodes(schema: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every subschema under properties, items, anyOf and $defs, with its path."""
    if not isinstance(schema, dict):
        return
    yield path, schema
    for key in ("properties", "$defs"):
        for name, sub in (schema.get(key) or {}).items():
            yield from _nodes(sub, f"{path}.{key}.{name}")
    for key in ("anyOf", "oneOf", "allOf"):
        for i, sub in enumerate(schema.get(key) or []):
            yield from _nodes(sub, f"{path}.{key}[{i}]")
    if isinstance(schema.get("items"), dict):
        yield from _nodes(schema["items"], f"{path}.items")


def _output_model(server: Any, name: str) -> Any:
    tool = registered_tool(server, name)
    return get_args(inspect.signature(tool.fn, eval_str=True).return_annotation)[1]


def _output_schema(server: Any, name: str) -> dict[str, Any] | None:
    """The output schema the server lists for `name` (as the SDK derived it, then typed)."""
    tool = registered_tool(server, name)
    assert tool is not None, name
    return tool.output_schema


@pytest.mark.parametrize("name", TOOLS)
def test_every_part_of_an_output_schema_constrains_something(server, name):
    output = _output_schema(server, name)
    assert output is not None and output["type"] == "object"
    for path, node in _nodes(output):
        assert CONSTRAINING & node.keys(), f"{name}{path} accepts anything: {node}"
        assert not isinstance(node.get("type"), list), f"{name}{path}: a type union is less portable"
        ref = node.get("$ref")
        assert ref is None or ref.removeprefix("#/$defs/") in output.get("$defs", {}), f"{name}{path}: {ref}"


@pytest.mark.parametrize("name", TOOLS)
def test_output_schemas_require_exactly_the_fields_every_answer_has(server, name):
    """Required: the fields without a default. The rest are left out when empty, never sent as null."""
    model = _output_model(server, name)
    schema = _output_schema(server, name)
    assert schema is not None
    assert list(schema["properties"]) == [f.alias or n for n, f in model.model_fields.items()]
    must = [f.alias or n for n, f in model.model_fields.items() if f.is_required()]
    assert schema.get("required", []) == must
    for field, sub in schema["properties"].items():
        assert "default" not in sub and {"type": "null"} not in sub.get("anyOf", []), (name, field)


def test_write_results_name_every_status_and_key_types_their_enums(server):
    for name in ("create_key", "patch_key", "revoke_key", "revoke_keys", "rotate_key", "mint_web3_key"):
        schema = _output_schema(server, name)
        assert schema is not None
        assert schema["properties"]["status"]["enum"] == list(get_args(Status))
    detail = _output_schema(server, "get_key")
    assert detail is not None
    assert detail["properties"]["type"] == {"enum": ["INFERENCE", "ADMIN"], "type": "string"}
    assert detail["properties"]["suspicious"]["type"] == "boolean"
    listing = _output_schema(server, "list_keys")
    assert listing is not None
    assert listing["properties"]["keys"] == {"items": {"$ref": "#/$defs/KeyLine"}, "type": "array"}


class Tamper:
    """Middleware that changes one field of a tool's answer after the tool built it."""

    def __init__(self, tool: str, field: str, value: Any) -> None:
        self.tool, self.field, self.value = tool, field, value

    async def __call__(self, ctx: Any, call_next: Any) -> Any:
        out = await call_next(ctx)
        params = getattr(ctx, "params", None) or {}
        if getattr(ctx, "method", None) == "tools/call" and params.get("name") == self.tool:
            out["structuredContent"][self.field] = self.value
        return out


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("tool", "args", "field", "value"),
    [
        ("list_keys", {}, "total", "many"),  # a number as text
        ("get_key", None, "type", "SUPERUSER"),  # outside the enum
        ("get_limits", {}, "models", [{"rpm": 1}]),  # an entry without its required model id
    ],
)
async def test_a_client_rejects_an_answer_its_schema_does_not_allow(tmp_path, tool, args, field, value):
    server = build_server(
        Settings(sandbox=True, secrets_dir=tmp_path / "secrets", audit_log=tmp_path / "audit.jsonl")
    )
    server.middleware.insert(0, Tamper(tool, field, value))
    async with Client(server, mode="legacy") as client:
        if args is None:
            first = (await client.call_tool("list_keys", {})).structured_content["keys"][0]["id"]
            args = {"key_id": first}
        with pytest.raises(RuntimeError, match=f"Invalid structured content returned by tool {tool}"):
            await client.call_tool(tool, args)
