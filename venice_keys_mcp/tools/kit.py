"""How a tool is declared: `kit.tool(...)` on an async function in a module's `register(kit)`.

Every module of this package that defines `register(kit)` is a tool module, found by
`tool_modules` (and registered by `server.collect_tools`) without a list to keep: adding
a tool is writing its module. The kit applies what every tool shares, so no module repeats it:

- the toolset a tool belongs to (`VENICE_KEYS_TOOLSETS`) and read-only mode, both decided
  here once: a tool outside the chosen toolsets, or a write tool in read-only mode, is not
  registered at all (an agent cannot call what it cannot see);
- whether a tool writes, read from its own annotations (`read_only_hint`), so the audit
  guard's list cannot miss one;
- failures as plain sentences (`venice_errors`) and argument errors as plain sentences
  (`arg_errors.ArgumentCheckedTool`);
- the schemas: the SDK derives them (`Tool.from_function`, its public API) and the kit
  compacts the input schema, which every agent pays for in its context at every session.

Results are not validated again by the SDK (`output_model` is None): every tool builds
its `structuredContent` by dumping its output model (`result`), so the SDK would only
re-check what pydantic had just written. The tests check each result against the tool's
declared output model instead (`tests/server/conftest.py`).
"""

from __future__ import annotations

import functools
import importlib
import inspect
import logging
import pkgutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel

from venice_keys_mcp.runtime import Runtime
from venice_keys_mcp.safety.confirm import Confirmer
from venice_keys_mcp.safety.policy import PolicyRefusal
from venice_keys_mcp.settings import TOOLSETS, Settings, Toolset
from venice_keys_mcp.tools.arg_errors import ArgumentCheckedTool
from venice_keys_mcp.venice import VeniceError

log = logging.getLogger("venice_keys_mcp.tools")

READ_ONLY = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True
)
WRITE = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True
)
#: A revoke ends a key; a patch overwrites (a cap, the expiry, the description), so it is not
#: additive either: both destructive in MCP's sense, and doing either twice is doing it once.
DESTRUCTIVE = ToolAnnotations(
    read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=True
)
#: A rotation ends the old key (destructive) and makes a new one every time (not idempotent).
ROTATES = ToolAnnotations(
    read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=True
)

P = ParamSpec("P")
R = TypeVar("R")
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class ToolSpec:
    fn: Callable[..., Any]
    title: str
    annotations: ToolAnnotations
    toolset: Toolset | None
    meta: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        return self.fn.__name__

    @property
    def writes(self) -> bool:
        return not self.annotations.read_only_hint

    @property
    def app_only(self) -> bool:
        return (self.meta or {}).get("ui", {}).get("visibility") == ["app"]


@dataclass
class Kit:
    """What a tool module registers with, and everything its tools share at run time.

    `confirmer` (who may say yes), `actions` (what the approval card runs once approved) and
    what `once` makes (the creation window, shared by create, mint and rotate) exist once per server.
    """

    settings: Settings
    rt: Runtime
    specs: list[ToolSpec] = field(default_factory=list)
    actions: dict[str, Callable[[dict[str, Any], str], Awaitable[CallToolResult]]] = field(
        default_factory=dict
    )
    shared: dict[str, Any] = field(default_factory=dict)

    @functools.cached_property
    def confirmer(self) -> Confirmer:
        s, rt = self.settings, self.rt
        return Confirmer(s.confirm, rt.tokens, rt.scrubber, rt.approvals, ttl_seconds=s.approval_ttl)

    def once(self, name: str, make: Callable[[], Any]) -> Any:
        """One object per server under `name`, made on first use (e.g. the creation window)."""
        if name not in self.shared:
            self.shared[name] = make()
        return self.shared[name]

    def tool(
        self,
        *,
        title: str,
        annotations: ToolAnnotations = READ_ONLY,
        toolset: Toolset | None,
        meta: dict[str, Any] | None = None,
    ) -> Callable[[F], F]:
        """Register a tool, unless its toolset is off or it writes on a read-only server.

        `toolset=None`: part of the server's machinery (the approval card's buttons), always on.
        `meta` is the tool's `_meta` (the approval card's binding, app-only visibility).
        """

        def decorator(fn: F) -> F:
            spec = ToolSpec(venice_errors(fn), title, annotations, toolset, meta)
            if toolset is not None and toolset not in self.settings.toolsets:
                return fn
            if spec.writes and self.settings.read_only:
                return fn
            if any(s.name == spec.name for s in self.specs):
                raise ValueError(f"two tools are named {spec.name!r}")
            self.specs.append(spec)
            return fn

        return decorator

    def approved(self, action: str) -> Callable[[F], F]:
        """Register what the approval card runs for the tool `action` once a person approved it there.

        Only for a tool this server has (registered just before): a tool left out has nothing to approve.
        """

        def decorator(fn: F) -> F:
            if not any(s.name == action for s in self.specs):
                return fn
            if action in self.actions:
                raise ValueError(f"two approved-action runners for {action!r}")
            self.actions[action] = fn
            return fn

        return decorator

    @property
    def writes(self) -> tuple[str, ...]:
        """Every registered tool that may change something, by its own annotations."""
        return tuple(s.name for s in self.specs if s.writes)

    def ordered(self) -> list[ToolSpec]:
        """`tools/list` order: reads, then writes, each by toolset; app-only tools last."""
        rank = {name: i for i, name in enumerate(TOOLSETS)}
        return sorted(self.specs, key=lambda s: (s.app_only, s.writes, rank.get(s.toolset or "", len(rank))))

    def build(self) -> list[Tool]:
        return [derived_tool(spec) for spec in self.ordered()]


def tool_modules() -> list[str]:
    """Every module of this package that registers tools (defines `register(kit)`), by name."""
    import venice_keys_mcp.tools as package

    found = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        if callable(getattr(module, "register", None)):
            found.append(module.__name__)
    return found


def derived_tool(spec: ToolSpec) -> Tool:
    """The SDK's own registration, the input schema compacted and the output schema tidied."""
    sdk = Tool.from_function(spec.fn, title=spec.title, annotations=spec.annotations, meta=spec.meta)
    tool = ArgumentCheckedTool(**{name: getattr(sdk, name) for name in Tool.model_fields})
    tool.description = inspect.cleandoc(tool.description)
    tool.parameters = compact_schema(tool.parameters)
    meta = tool.fn_metadata
    if meta.output_schema is not None:
        meta.output_schema = typed_output_schema(meta.output_schema)
    meta.output_model = None  # see the module docstring
    return tool


def arguments(*names: str) -> Callable[..., Awaitable[dict[str, Any]]]:
    """A resolver handing these tool arguments, as one dict in this order, to a gate or a body.

    A write tool's gate needs the same arguments as its body (they are what a person
    approves and what the audit records); with `Annotated[dict[str, Any], Resolve(args)]`
    both get them from the tool's own signature instead of listing them again. The SDK
    fills a resolver's parameters by name from the tool's arguments, and reads which ones
    from its signature, which this sets to `names`.
    """

    async def picked(**given: Any) -> dict[str, Any]:
        return {name: given[name] for name in names}

    keyword = inspect.Parameter.KEYWORD_ONLY
    picked.__signature__ = inspect.Signature([inspect.Parameter(n, keyword) for n in names])  # type: ignore[attr-defined]
    return picked


# -- what every tool answers with -----------------------------------------------------------


def venice_errors(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Turn every failure into a `ToolError` sentence: the model reads what happened, no traceback.

    Client and policy errors already are sentences. Anything else is a bug here, but the
    SDK would answer it with a bare "Error executing tool X", which tells an agent
    neither what happened nor whether a change went through; say both, and log the rest.
    Also used on confirmation resolvers, which run before the tool body.
    """

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except ToolError:
            raise
        except (VeniceError, PolicyRefusal) as exc:
            raise ToolError(str(exc)) from None
        except Exception as exc:
            log.exception("unexpected error in %s", getattr(fn, "__name__", "a tool"))
            raise ToolError(unexpected(exc)) from None

    return wrapper


def unexpected(exc: Exception) -> str:
    """The sentence for a failure nobody planned for (the server log has the traceback)."""
    what = " ".join(str(exc).split())[:200]
    return (
        f"The server failed unexpectedly ({type(exc).__name__}{': ' + what if what else ''}). "
        "If this was a change, check the key with get_key or list_keys before trying again; "
        "the server's log has the details."
    )


def result(model: BaseModel, text: str) -> CallToolResult:
    """Structured content for programs plus one compact text rendering for the model."""
    return CallToolResult(
        content=[TextContent(type="text", text=text)],
        structured_content=model.model_dump(mode="json", by_alias=True, exclude_none=True),
    )


# -- schemas ---------------------------------------------------------------------------------


def _drop_null(schema: dict[str, Any], *, keep_default: bool = True) -> dict[str, Any]:
    """`anyOf: [X, null]` with a null default is just an optional X: say so in fewer bytes.

    True of inputs (leaving the argument out is the same as null) and of outputs, whose
    `structuredContent` is dumped with `exclude_none` (`result`): a field with nothing to
    say is absent, never null, so "optional X" is the exact contract.
    """
    options = schema.get("anyOf")
    if isinstance(options, list) and len(options) == 2 and {"type": "null"} in options:
        if schema.get("default") is not None:
            return schema  # a null that is not the default is a real value: keep it nullable
        other = next(o for o in options if o != {"type": "null"})
        rest = {
            k: v
            for k, v in schema.items()
            if k not in {"anyOf", "default"} or (k == "default" and v is not None and keep_default)
        }
        return {**other, **rest}
    return schema


def compact_schema(schema: Any) -> Any:
    """Shrink a pydantic input schema without changing what it accepts.

    Drops auto `title`s, folds optional-or-null into optional, and drops defaults that
    say what leaving an argument out says anyway (a flag off, an empty list): the name,
    description and input schema of every tool are what a host puts in the model's
    context at every session (`tests/test_budgets.py` holds them to a budget).
    """
    if isinstance(schema, list):
        return [compact_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    schema = _drop_null(schema)
    out: dict[str, Any] = {}
    for k, v in schema.items():
        if k == "title" and isinstance(v, str):
            continue
        if k == "default" and (v is False or v == []):
            continue
        if k in {"properties", "$defs"} and isinstance(v, dict):
            out[k] = {name: compact_schema(sub) for name, sub in v.items()}
        else:
            out[k] = compact_schema(v)
    return out


def typed_output_schema(schema: Any) -> Any:
    """A pydantic output schema that still says everything it constrains, minus the noise.

    Hosts do not show output schemas to the model, so these are not budgeted: every field
    keeps its type, format, enum, `required` and description, and nested models stay in
    `$defs` behind local `$ref`s, so a client's validation (the SDK's `Client`, the
    Inspector's `--strict` lint) can catch a wrong answer. What goes: auto `title`s and
    `default`s (a reader never sees a default, only a value), and `null` branches of
    fields that are null by default, since those are left out instead (see `_drop_null`).
    """
    if isinstance(schema, list):
        return [typed_output_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    schema = _drop_null(schema, keep_default=False)
    out: dict[str, Any] = {}
    for k, v in schema.items():
        if k in {"title", "default"} and not isinstance(v, dict):
            continue
        if k in {"properties", "$defs"} and isinstance(v, dict):
            out[k] = {name: typed_output_schema(sub) for name, sub in v.items()}
        else:
            out[k] = typed_output_schema(v)
    return out
