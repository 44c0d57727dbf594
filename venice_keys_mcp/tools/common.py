"""What every tool area shares: annotations, error mapping, results with compact text."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel

from venice_keys_mcp.safety.policy import PolicyRefusal
from venice_keys_mcp.venice import VeniceError

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True)
WRITE = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True)
UPDATE = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=True)
DESTRUCTIVE = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=True)

P = ParamSpec("P")
R = TypeVar("R")


def venice_errors(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Turn client and policy errors into `ToolError`s: the model reads the sentence, no traceback."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except (VeniceError, PolicyRefusal) as exc:
            raise ToolError(str(exc)) from None

    return wrapper


def result(model: BaseModel, text: str) -> CallToolResult:
    """Structured content for programs plus one compact text rendering for the model."""
    return CallToolResult(
        content=[TextContent(type="text", text=text)],
        structured_content=model.model_dump(mode="json", by_alias=True, exclude_none=True),
    )


def _drop_null(schema: dict[str, Any]) -> dict[str, Any]:
    """`anyOf: [X, null]` with a null default is just an optional X: say so in fewer bytes."""
    options = schema.get("anyOf")
    if isinstance(options, list) and len(options) == 2 and {"type": "null"} in options:
        other = next(o for o in options if o != {"type": "null"})
        rest = {k: v for k, v in schema.items() if k not in {"anyOf", "default"} or (k == "default" and v is not None)}
        return {**other, **rest}
    return schema


def _loose(schema: Any) -> Any:
    """In an output schema a scalar field is named, not typed: `{}` (any) costs 2 bytes, not 17."""
    if isinstance(schema, dict) and schema.get("type") in {"string", "number", "integer", "boolean"}:
        return {}
    return schema


def compact_schema(schema: Any, *, output: bool = False) -> Any:
    """Shrink a pydantic JSON schema without changing what it accepts.

    Drops auto `title`s, folds optional-or-null into optional, and for output schemas
    also drops defaults, descriptions and nested detail (`$defs` become plain objects):
    the whole `tools/list` is paid for in every agent's context at every session.
    """
    if isinstance(schema, list):
        return [compact_schema(s, output=output) for s in schema]
    if not isinstance(schema, dict):
        return schema
    schema = _drop_null(schema)
    out: dict[str, Any] = {}
    for k, v in schema.items():
        if k == "title" and isinstance(v, str):
            continue
        if output and k in {"default", "description", "$defs", "enum", "required", "format"}:
            continue
        if output and k == "$ref":
            return {"type": "object"}
        if k == "properties" and isinstance(v, dict):
            out[k] = {name: _loose(compact_schema(sub, output=output)) if output else compact_schema(sub)
                      for name, sub in v.items()}
        elif k == "$defs" and isinstance(v, dict):
            out[k] = {name: compact_schema(sub, output=output) for name, sub in v.items()}
        else:
            out[k] = compact_schema(v, output=output)
    if output and "enum" in schema and "type" not in out:
        out["type"] = "string"
    return out
