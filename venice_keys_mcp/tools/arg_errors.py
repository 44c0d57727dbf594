"""Argument errors as plain sentences: each names the argument and the rule it broke.

The SDK reports arguments that do not fit a tool's input schema with pydantic's own text
("1 validation error for create_keyArguments / description / String should have at most
64 characters [type=string_too_long, input_value=...] For further information visit
https://errors.pydantic.dev/..."): an agent has to dig the rule out of it, and the
input is echoed back. `ArgumentCheckedTool` is the SDK's `Tool` with that one message
rewritten: "description must be at most 64 characters." The check itself is unchanged;
the input schema still says the same rules, and nothing the caller sent is repeated.
"""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool
from pydantic import ValidationError
from pydantic_core import ErrorDetails

#: What a pattern-checked argument must look like, in words (the pattern is in the schema).
FORMATS: dict[str, str] = {
    "key_id": "a key id as list_keys shows it (letters, digits, - and _; at most 64)",
    "key_ids": "a key id as list_keys shows it (letters, digits, - and _; at most 64)",
    "expires_at": "a UTC date or time: YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ",
    "since": "a UTC date or time: YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ",
    "address": "a wallet address: 0x and 40 hex digits",
    "signature": "a personal_sign signature: 0x and 130 hex digits",
}

#: pydantic error type -> the rule, for errors whose context is not needed to say it.
TYPES: dict[str, str] = {
    "missing": "is required",
    "int_parsing": "must be a whole number",
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "finite_number": "must be a finite number",
    "bool_parsing": "must be true or false",
    "bool_type": "must be true or false",
    "string_type": "must be text",
    "list_type": "must be a list",
    "dict_type": "must be an object",
}


class ArgumentCheckedTool(Tool):
    """The SDK's `Tool`, answering arguments that do not fit its schema in plain sentences."""

    async def run(self, arguments: dict[str, Any], context: Any, convert_result: bool = False) -> Any:
        try:
            return await super().run(arguments, context, convert_result=convert_result)
        except ToolError as exc:
            if isinstance(exc.__cause__, ValidationError):
                raise ToolError(f"Error executing tool {self.name}: {plain(exc.__cause__)}") from None
            raise


def plain(exc: ValidationError) -> str:
    """One sentence per argument that broke a rule, the first error for each."""
    said: dict[str, str] = {}
    for error in exc.errors(include_url=False, include_input=False):
        name = _name(error)
        said.setdefault(name, sentence(name, error))
    return " ".join(said.values())


def sentence(name: str, error: ErrorDetails) -> str:
    """`name` and the rule `error` says it broke, as a sentence."""
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind in TYPES:
        rule = TYPES[kind]
    elif kind in {"greater_than_equal", "greater_than", "less_than_equal", "less_than"}:
        words = {
            "greater_than_equal": "at least",
            "greater_than": "more than",
            "less_than_equal": "at most",
            "less_than": "less than",
        }
        bound = next(iter(ctx.values()), "?")
        if isinstance(bound, float) and bound.is_integer():
            bound = int(bound)
        rule = f"must be {words[kind]} {bound}"
    elif kind in {"string_too_long", "string_too_short"}:
        limit = ctx.get("max_length", ctx.get("min_length"))
        least = "at most" if kind == "string_too_long" else "at least"
        rule = f"must be {least} {limit} character{'s' if limit != 1 else ''} long"
    elif kind in {"too_long", "too_short"}:
        limit = ctx.get("max_length", ctx.get("min_length"))
        least = "at most" if kind == "too_long" else "at least"
        rule = f"must have {least} {limit} item{'s' if limit != 1 else ''}"
    elif kind == "literal_error":
        rule = f"must be {_choices(str(ctx.get('expected', '')))}"
    elif kind == "string_pattern_mismatch":
        base = name.split("[", 1)[0]
        rule = f"must be {FORMATS[base]}" if base in FORMATS else f"must match {ctx.get('pattern')}"
    elif kind == "value_error":
        rule = str(ctx.get("error", error["msg"])).rstrip(".")
    else:
        rule = error["msg"][:1].lower() + error["msg"][1:].rstrip(".")
        return f"{name}: {rule}."
    return f"{name} {rule}."


def _name(error: ErrorDetails) -> str:
    """The argument as the caller named it: `remove[0]` for an item of a list."""
    parts = [str(p) for p in error["loc"]]
    if not parts:
        return "the arguments"
    name = parts[0].removeprefix("field_")  # the SDK's alias for names BaseModel shadows
    return name + "".join(f"[{p}]" for p in parts[1:])


def _choices(expected: str) -> str:
    """pydantic's `'A', 'B' or 'C'` as `A, B or C`."""
    return expected.replace("'", "")
