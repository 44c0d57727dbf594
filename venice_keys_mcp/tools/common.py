"""What every tool area shares: annotations, error mapping, results with compact text."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar

import anyio
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel

from venice_keys_mcp.runtime import Runtime
from venice_keys_mcp.safety.policy import PolicyRefusal
from venice_keys_mcp.tools.params import parse_expiry
from venice_keys_mcp.venice import VeniceError

READ_ONLY = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True
)
WRITE = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True
)
#: A patch overwrites (a cap, the expiry, the description): not additive, so destructive in MCP's sense.
UPDATE = ToolAnnotations(
    read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=True
)
DESTRUCTIVE = ToolAnnotations(
    read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=True
)
#: A rotation ends the old key (destructive) and makes a new one every time (not idempotent).
ROTATES = ToolAnnotations(
    read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=True
)

P = ParamSpec("P")
R = TypeVar("R")

log = logging.getLogger("venice_keys_mcp.tools")


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


def checked_expiry(value: str | None) -> datetime | None:
    """`expires_at` as a datetime, refusing an impossible date (2026-02-30) or a past one.

    Both before any request: Venice refuses a past date too, but in its own field's name
    (`expiresAt`), and a refused create still counts against its 20 creations a minute.
    """
    try:
        when = parse_expiry(value)
    except ValueError:
        raise ToolError(
            f"expires_at={value!r} is not a real date; use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC)."
        ) from None
    if when is not None and when <= datetime.now(UTC):
        raise ToolError(f"expires_at must be in the future (UTC); {value} has passed.")
    return when


def lost_answer(exc: VeniceError) -> str:
    """Why a write's outcome was unknown, as a clause: the client's cause, minus its advice.

    `OutcomeUnknown` says "The create may or may not have happened: <cause>."; the tool
    says what did happen once it has looked, so only the cause is kept.
    """
    text = exc.message.rstrip(". ")
    _, found, cause = text.partition("may or may not have happened: ")
    if found:
        return cause
    return text.partition("; ")[0]  # MalformedResponse: drop its guess ("most likely applied")


def to_the_end() -> anyio.CancelScope:
    """A scope in which a write runs from its request to its audit entry, even if the caller goes away.

    Once a request may have reached Venice, a cancellation (the host closing stdin, an HTTP
    client hanging up) would lose what happened: a new key's secret, the audit entry. The
    requests' own timeouts bound how long finishing takes.
    """
    return anyio.CancelScope(shield=True)


async def look_again(rt: Runtime) -> None:
    """Pause before a second look when a write's answer was lost.

    A request that timed out may still be finishing at Venice; one short pause (a
    fraction of the request timeout, at most 2 s) before concluding "nothing happened"
    catches the common case without making the caller wait long.
    """
    await anyio.sleep(min(2.0, rt.settings.timeout / 4))


def result(model: BaseModel, text: str) -> CallToolResult:
    """Structured content for programs plus one compact text rendering for the model."""
    return CallToolResult(
        content=[TextContent(type="text", text=text)],
        structured_content=model.model_dump(mode="json", by_alias=True, exclude_none=True),
    )


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
