"""The tools' functions, collected by `Toolbox.add` and made into the SDK's `Tool`s by `build`.

Every tool is built the SDK's public way, `Tool.from_function`, which derives its input and
output schemas from the function's signature at start-up (since issue 14: the schemas are
no longer stored ahead, and nothing rebuilds the SDK's tool construction from its private
modules; docs/benchmarks.md has what the derivation costs). Three things are changed on
the tool it builds:

- the input schema is compacted (`common.compact_schema`): a host puts every tool's name,
  description and input schema in the model's context at every session;
- the output schema is typed in full (`common.typed_output_schema`), so a client's
  validation can catch a wrong answer;
- arguments that do not fit are answered in plain sentences (`ArgumentCheckedTool`).

Results are not validated again by the SDK (`fn_metadata.output_model` is None; the SDK
advertises a schema without a model and does not check results against it): every tool
builds its `structuredContent` by dumping its output model (`common.result`), so the SDK
would only re-check what pydantic had just written. The tests check each result against
the tool's declared output model instead (`tests/server/conftest.py`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from mcp.server.mcpserver.tools import Tool
from mcp_types import ToolAnnotations

from venice_keys_mcp.tools.arg_errors import ArgumentCheckedTool
from venice_keys_mcp.tools.common import compact_schema, typed_output_schema

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class ToolSpec:
    fn: Callable[..., Any]
    title: str
    annotations: ToolAnnotations
    meta: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        return self.fn.__name__


class Toolbox:
    """Collects the tools' functions; `build` makes the SDK's `Tool`s for `MCPServer(tools=...)`."""

    def __init__(self) -> None:
        self.specs: list[ToolSpec] = []

    def add(
        self, *, title: str, annotations: ToolAnnotations, meta: dict[str, Any] | None = None
    ) -> Callable[[F], F]:
        """Collect a tool; `meta` is its `_meta` (the approval card's binding, app-only visibility)."""

        def decorator(fn: F) -> F:
            if any(spec.name == fn.__name__ for spec in self.specs):
                raise ValueError(f"two tools are named {fn.__name__!r}")
            self.specs.append(ToolSpec(fn, title, annotations, meta))
            return fn

        return decorator

    def build(self) -> list[Tool]:
        return [derived_tool(spec) for spec in self.specs]


def derived_tool(spec: ToolSpec) -> Tool:
    """The SDK's own registration (`Tool.from_function`), schemas compacted and typed (see above)."""
    sdk = Tool.from_function(spec.fn, title=spec.title, annotations=spec.annotations, meta=spec.meta)
    tool = ArgumentCheckedTool(**{name: getattr(sdk, name) for name in Tool.model_fields})
    tool.description = inspect.cleandoc(tool.description)
    tool.parameters = compact_schema(tool.parameters)
    meta = tool.fn_metadata
    if meta.output_schema is not None:
        meta.output_schema = typed_output_schema(meta.output_schema)
    meta.output_model = None  # see the module docstring
    return tool
