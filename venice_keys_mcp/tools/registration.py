"""Tools registered from their published schemas, so start-up does not derive them again.

An MCP host starts this server at every session, often only to list its tools, and
deriving the nine tools' JSON schemas from their signatures is most of what our start-up
costs (pydantic builds a validator and a schema per argument model and per output model;
about 60 ms, more than everything else of ours together). The schemas cannot change
between releases, so `scripts/sync_tool_schemas.py --write` derives them once, the SDK's
way (`Tool.from_function`, then `compact_schema` and `typed_output_schema`), into
`published.py`, with a hash of the source they were derived from. At start-up a tool is
built from that file and its argument model is left to build on first call (`defer_build`).

If the source changed since (a checkout being edited; hashing it costs about 2 ms), or
building from the file fails at all, every tool is derived as before: a stale file costs
time, never a wrong schema. The hash leaves out the SDK's and pydantic's versions on
purpose: the schemas describe our signatures, the argument model is always built by the
installed pydantic, and `tests/server/test_published_schemas.py` compares both with what
the installed SDK derives (CI installs the newest versions allowed). CI also runs
`sync_tool_schemas.py --check`.

Results are not validated again by the SDK (`output_model` is None): every tool builds
its `structuredContent` by dumping its output model (`common.result`), so the SDK only
re-checked what pydantic had just written. The tests check each result against the
tool's declared output model instead (`tests/server/conftest.py`).
"""

from __future__ import annotations

import hashlib
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

from mcp.server.mcpserver.tools import Tool
from mcp_types import ToolAnnotations
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, create_model

from venice_keys_mcp.sdk_adapter import (
    ArgModelBase,
    FuncMetadata,
    build_resolver_plans,
    find_context_parameter,
    find_resolved_parameters,
)
from venice_keys_mcp.tools.arg_errors import ArgumentCheckedTool
from venice_keys_mcp.tools.common import compact_schema, typed_output_schema

log = logging.getLogger("venice_keys_mcp")

F = TypeVar("F", bound=Callable[..., Any])
PACKAGE = Path(__file__).resolve().parent.parent
#: The source the published schemas are derived from: the tools, their models and types.
SCHEMA_SOURCES = ("tools/*.py", "venice/models.py")
PUBLISHED = "tools/published.py"


def source_hash() -> str:
    """A hash of every file the schemas depend on, to tell whether `published.py` still holds."""
    digest = hashlib.sha256()
    for path in sorted(p for pattern in SCHEMA_SOURCES for p in PACKAGE.glob(pattern)):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel == PUBLISHED:
            continue
        digest.update(rel.encode() + b"\x00" + path.read_bytes() + b"\x00")
    return digest.hexdigest()


def published_schemas() -> dict[str, tuple[dict[str, Any], dict[str, Any] | None]] | None:
    """Each tool's (input, output) schema from `published.py`, or None if the source changed since."""
    try:
        from venice_keys_mcp.tools import published

        current = source_hash()
        stale = current != published.SOURCE_HASH
    except (ImportError, OSError, AttributeError):  # no file, a source unreadable, no hash: derive
        return None
    if stale:
        log.debug("tools/published.py is older than the tool source: deriving schemas")
        return None
    return published.SCHEMAS


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
        schemas = published_schemas()
        if schemas is not None and all(spec.name in schemas for spec in self.specs):
            try:
                return [prebuilt_tool(spec, *schemas[spec.name]) for spec in self.specs]
            except Exception:  # whatever went wrong, the SDK's own way still works
                log.warning("could not build the tools from tools/published.py; deriving them", exc_info=True)
        return [derived_tool(spec) for spec in self.specs]


def derived_tool(spec: ToolSpec) -> Tool:
    """The SDK's own registration, schemas compacted: the source of truth for `published.py`."""
    sdk = Tool.from_function(spec.fn, title=spec.title, annotations=spec.annotations, meta=spec.meta)
    tool = ArgumentCheckedTool(**{name: getattr(sdk, name) for name in Tool.model_fields})
    tool.description = inspect.cleandoc(tool.description)
    tool.parameters = compact_schema(tool.parameters)
    meta = tool.fn_metadata
    if meta.output_schema is not None:
        meta.output_schema = typed_output_schema(meta.output_schema)
    meta.output_model = None  # see the module docstring
    return tool


def prebuilt_tool(spec: ToolSpec, parameters: dict[str, Any], output_schema: dict[str, Any] | None) -> Tool:
    """What `Tool.from_function` builds, with the published schemas and a deferred argument model."""
    fn = spec.fn
    context_kwarg = find_context_parameter(fn)
    resolved = find_resolved_parameters(fn)
    skip = {*resolved, *([context_kwarg] if context_kwarg else [])}
    arg_model = argument_model(fn, skip)
    names = {field.alias or name for name, field in arg_model.model_fields.items()}
    return ArgumentCheckedTool(
        fn=fn,
        name=spec.name,
        title=spec.title,
        description=inspect.cleandoc(fn.__doc__ or ""),
        parameters=parameters,
        fn_metadata=FuncMetadata(arg_model=arg_model, output_schema=output_schema),
        is_async=inspect.iscoroutinefunction(fn),
        context_kwarg=context_kwarg,
        resolved_params=dict(resolved),
        resolver_plans=build_resolver_plans(resolved, names),
        annotations=spec.annotations,
        meta=spec.meta,
    )


class _DeferredArgs(ArgModelBase):
    model_config = ConfigDict(arbitrary_types_allowed=True, defer_build=True)


def argument_model(fn: Callable[..., Any], skip: set[str]) -> type[ArgModelBase]:
    """The arguments model `func_metadata` makes, built on its first validation, not now.

    Same fields, defaults and aliases (a name that shadows a `BaseModel` attribute gets
    the SDK's `field_` prefix); `tests/server/test_published_schemas.py` compares the two.
    """
    fields: dict[str, Any] = {}
    for param in inspect.signature(fn, eval_str=True).parameters.values():
        if param.name in skip:
            continue
        name, extra = param.name, {}
        if callable(getattr(BaseModel, name, None)):
            name, extra = f"field_{name}", {"alias": name}
        if param.annotation is inspect.Parameter.empty:  # as the SDK: any value, listed as a string
            listed = WithJsonSchema({"title": param.name, "type": "string"})
            annotation: Any = Annotated[Any, listed, Field(**extra)]
        else:
            annotation = Annotated[param.annotation, Field(**extra)] if extra else param.annotation
        fields[name] = annotation if param.default is inspect.Parameter.empty else (annotation, param.default)
    return create_model(f"{fn.__name__}Arguments", __base__=_DeferredArgs, **fields)
