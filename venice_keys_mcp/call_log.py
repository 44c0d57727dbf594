"""One INFO line per tool call on stderr, so a person watching the server sees what it does.

Tool name, outcome and time only: arguments stay out (a description or a token is the
caller's business), and the log's scrubbing filter still sees every line.

A transport that writes answers itself (`stdio.py`) holds the lines until the answer
they describe is written (`held_lines`): writing a log record costs a tenth of a tool
call, and the agent need not wait for it. A call that raised (cancelled, say) may get no
answer to wait for, so its line goes out at once, after any held before it; so does
every line outside such a transport.
"""

from __future__ import annotations

import contextlib
import contextvars
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
            if (held := _held.get()) is not None:
                held.flush()  # keep the order
            log.info("tools/call %s: failed (%s) in %.0f ms", name, type(exc).__name__, _ms(started))
            raise
        line = ("tools/call %s: %s in %.0f ms", name, outcome(out), _ms(started))
        if (held := _held.get()) is None:
            log.info(*line)
        else:
            held.pending.append(line)
        return out


class HeldLines:
    """Call lines waiting for the answer they describe to be written; `flush` writes them in order."""

    def __init__(self) -> None:
        self.pending: deque[tuple[Any, ...]] = deque()

    def flush(self) -> None:
        while self.pending:
            log.info(*self.pending.popleft())


#: The serving transport's held lines, seen by the requests it starts (a context variable, so
#: another server in the same process keeps its own).
_held: contextvars.ContextVar[HeldLines | None] = contextvars.ContextVar("held_call_lines", default=None)


@contextlib.contextmanager
def held_lines() -> Iterator[HeldLines]:
    """While a transport serves, lines wait for its `flush` after each answer; all are out at the end."""
    held = HeldLines()
    token = _held.set(held)
    try:
        yield held
    finally:
        _held.reset(token)
        held.flush()


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
