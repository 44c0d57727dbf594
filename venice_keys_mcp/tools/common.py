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


def compact_schema(schema: Any) -> Any:
    """Drop pydantic's auto `title`s from a JSON schema: they repeat the names and cost context."""
    if isinstance(schema, dict):
        out: dict[str, Any] = {}
        for k, v in schema.items():
            if k == "title" and isinstance(v, str):
                continue
            if k in {"properties", "$defs", "definitions"} and isinstance(v, dict):
                out[k] = {name: compact_schema(sub) for name, sub in v.items()}
            else:
                out[k] = compact_schema(v)
        return out
    if isinstance(schema, list):
        return [compact_schema(s) for s in schema]
    return schema
