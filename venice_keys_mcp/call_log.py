"""One INFO line per tool call on stderr, so a person watching the server sees what it does.

Tool name, outcome and time only: arguments stay out (a description or a token is the
caller's business), and the log's scrubbing filter still sees every line.

A transport that writes answers itself (`stdio.py`) holds the lines until the answer
they describe is written (`held_lines`): writing a log record costs a tenth of a tool
call, and the agent need not wait for it. Elsewhere a line is written at once.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import deque
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

log = logging.getLogger("venice_keys_mcp.calls")


class LogCalls:
    """`ServerMiddleware` that logs `tools/call <name>: <outcome> in <ms> ms`."""

    async def __call__(self, ctx: Any, call_next: Any) -> Any:
        if getattr(ctx, "method", None) != "tools/call" or not log.isEnabledFor(logging.INFO):
            return await call_next(ctx)
        params = getattr(ctx, "params", None)
        name = params.get("name") if isinstance(params, dict) else None
        # The caller chose the name: only a plain identifier goes into the log (no forged lines).
        name = name if isinstance(name, str) and name.isidentifier() and len(name) <= 64 else "?"
        started = time.perf_counter()
        try:
            out = await call_next(ctx)
        except BaseException as exc:
            _line("tools/call %s: failed (%s) in %.0f ms", name, type(exc).__name__, _ms(started))
            raise
        _line("tools/call %s: %s in %.0f ms", name, outcome(out), _ms(started))
        return out


class HeldLines:
    """Call lines waiting for the answer they describe to be written; `flush` writes them in order."""

    def __init__(self) -> None:
        self.pending: deque[tuple[Any, ...]] = deque()

    def flush(self) -> None:
        while self.pending:
            log.info(*self.pending.popleft())


_held: HeldLines | None = None


@contextlib.contextmanager
def held_lines() -> Iterator[HeldLines]:
    """While a transport serves, lines wait for its `flush` after each answer; all are out at the end."""
    global _held
    previous, _held = _held, HeldLines()
    held = _held
    try:
        yield held
    finally:
        _held = previous
        held.flush()


def _line(*args: Any) -> None:
    if _held is None:
        log.info(*args)
    else:
        _held.pending.append(args)


def outcome(out: Any) -> str:
    """`error`, the result's `status` (revoked, confirmation_required, ...) or `ok`."""
    if isinstance(out, BaseModel):  # read the fields; a dump would copy the whole result
        is_error = getattr(out, "is_error", False)
        structured = getattr(out, "structured_content", None)
        kind = getattr(out, "result_type", None)
    elif isinstance(out, dict):
        is_error, structured, kind = out.get("isError"), out.get("structuredContent"), out.get("resultType")
    else:
        return "ok"
    status = structured.get("status") if isinstance(structured, dict) else None
    if is_error:
        return f"error ({status})" if isinstance(status, str) else "error"
    if isinstance(status, str):
        return status
    return "input requested" if kind == "input_required" else "ok"


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
