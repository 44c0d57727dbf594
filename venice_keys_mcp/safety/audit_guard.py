"""No change without a trace: refuse writes while the audit log is unwritable, never hide a lost entry.

Promise 3 of the design breaks in two ways. The audit log may not be writable at all (a
wrong path, a directory in the way, a read-only disk): then `AuditGuard` refuses every
write tool before it runs, so no key changes and nobody is asked to approve a change
that would go unrecorded; read tools keep working. Or one append may fail after the
change was made (a full disk): undoing the change could fail too and lose more, so the
change stands, the tool's result still reports it, and `note_unrecorded` adds a warning
to that result and logs an error, so the person knows the trail has a gap.
"""

from __future__ import annotations

import contextvars
import logging
import re
from collections.abc import Iterable
from typing import Any

from mcp_types.version import is_version_at_least
from pydantic import BaseModel

from venice_keys_mcp.safety.audit import AUDIT_LOG_ENV, AuditError, AuditLog

__all__ = ["AuditGuard", "ReadOnlyGuard", "note_unrecorded"]

_log = logging.getLogger("venice_keys_mcp.audit")
#: What a key id looks like (as the tools' `key_id` parameter says): anything else an unchecked
#: call carries is not written to the log as an id (the arguments' digest still covers it).
_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")

_UNRECORDED: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "venice_keys_unrecorded", default=None
)


def note_unrecorded(error: AuditError, *, tool: str, key_id: str | None, outcome: str) -> None:
    """An outcome that happened but could not be logged: tell the operator and the current result."""
    what = f"{tool} {outcome}" + (f" (key {key_id})" if key_id else "")
    _log.error("AUDIT ENTRY LOST: %s happened but was not recorded: %s", what, error)
    notes = _UNRECORDED.get()
    if notes is not None:
        notes.append(
            f"WARNING: this outcome ({outcome}) could not be written to the audit log: {error} "
            "What this result reports did happen; note it by hand, since the log has a gap."
        )


class AuditGuard:
    """`ServerMiddleware`: write tools run only while the audit log can take an entry."""

    def __init__(self, audit: AuditLog, write_tools: Iterable[str]) -> None:
        self.audit = audit
        self.write_tools = frozenset(write_tools)
        problem = self.problem()
        if problem is not None:  # said at start-up, so the operator need not wait for a refusal
            _log.error("%s Until then every write tool refuses to run.", problem)

    def problem(self) -> str | None:
        """Why an entry could not be written now, or None when it could."""
        try:
            self.audit.ensure_writable()
        except AuditError as exc:
            return str(exc)
        return None

    async def __call__(self, ctx: Any, call_next: Any) -> Any:
        params = getattr(ctx, "params", None) or {}
        if getattr(ctx, "method", None) != "tools/call" or params.get("name") not in self.write_tools:
            return await call_next(ctx)
        problem = self.problem()
        if problem is not None:
            _log.error("refused %s: %s", params.get("name"), problem)
            return refusal(
                ctx,
                # Worded like every other tool error, so an agent reads it the same way.
                f"Error executing tool {params.get('name')}: Refused, and nothing was changed: this change "
                f"could not be recorded. {problem} Every change must leave a trace; ask the operator to "
                f"fix {AUDIT_LOG_ENV}.",
            )
        notes: list[str] = []
        token = _UNRECORDED.set(notes)
        try:
            out = await call_next(ctx)
        finally:
            _UNRECORDED.reset(token)
        out = self._bad_form_answer(ctx, params, out)
        return _with_warnings(out, notes) if notes else out

    def _bad_form_answer(self, ctx: Any, params: dict[str, Any], out: Any) -> Any:
        """A form answer the SDK refused (it did not match the form) is a refusal: record it, say it plainly.

        The SDK answers with its own error naming our resolver, before the tool body runs, so
        without this no audit entry would show that a person's answer was refused.
        """
        if not isinstance(out, dict) or not out.get("isError"):
            return out
        text = " ".join(c.get("text", "") for c in out.get("content") or [] if isinstance(c, dict))
        if "does not match the requested schema" not in text:
            return out
        tool = str(params.get("name"))
        record_refusal(self.audit, params, "elicitation", "the form's answer did not match the form")
        return refusal(
            ctx,
            f"Error executing tool {tool}: Refused, and nothing was changed: the answer to the "
            "confirmation form did not match what the form asked. Try again and answer the form as shown.",
        )


READ_ONLY_REFUSAL = (
    "Error executing tool {tool}: Refused, and nothing was changed: this server is read-only "
    "(VENICE_KEYS_READ_ONLY=1), so its write tools are switched off. Ask the operator to unset "
    "VENICE_KEYS_READ_ONLY to make changes."
)


class ReadOnlyGuard:
    """`ServerMiddleware`: a call to an unlisted write tool is refused naming the setting, and audited.

    Without it the SDK answers "Unknown tool", which tells neither the agent nor the person
    why, or which setting to change.
    """

    def __init__(self, audit: AuditLog, write_tools: Iterable[str]) -> None:
        self.audit = audit
        self.write_tools = frozenset(write_tools)

    async def __call__(self, ctx: Any, call_next: Any) -> Any:
        params = getattr(ctx, "params", None) or {}
        tool = params.get("name") if isinstance(params, dict) else None
        if getattr(ctx, "method", None) != "tools/call" or tool not in self.write_tools:
            return await call_next(ctx)
        record_refusal(self.audit, params, "policy", "read-only mode (VENICE_KEYS_READ_ONLY=1)")
        return refusal(ctx, READ_ONLY_REFUSAL.format(tool=tool))


def record_refusal(audit: AuditLog, params: dict[str, Any], confirmation: str, detail: str) -> None:
    """Audit a call refused before its tool ran; the refusal stands even if the entry cannot be written."""
    tool = str(params.get("name"))
    args = params.get("arguments") if isinstance(params.get("arguments"), dict) else {}
    key_id = args.get("key_id")
    try:
        audit.append(
            tool=tool,
            key_id=key_id if isinstance(key_id, str) and _KEY_ID.fullmatch(key_id) else None,
            args=args,
            confirmation=confirmation,
            outcome="refused",
            detail=detail,
        )
    except AuditError as exc:  # nothing changed either way
        _log.error("refusal of %s not recorded: %s", tool, exc)


def refusal(ctx: Any, message: str) -> dict[str, Any]:
    result: dict[str, Any] = {"content": [{"type": "text", "text": message}], "isError": True}
    if is_version_at_least(getattr(ctx, "protocol_version", None) or "", "2026-07-28"):
        result["resultType"] = "complete"
    return result


def _with_warnings(out: Any, notes: list[str]) -> Any:
    """The result with each warning as a text block and appended to its `message`."""
    if isinstance(out, BaseModel):
        out = out.model_dump(by_alias=True, mode="json", exclude_none=True)
    if not isinstance(out, dict) or not isinstance(out.get("content"), list):
        return out  # not a finished tool result (e.g. a 2026 input request); the log has the error
    warning = "\n".join(notes)
    out = {**out, "content": [*out["content"], {"type": "text", "text": warning}]}
    structured = out.get("structuredContent")
    if isinstance(structured, dict) and isinstance(structured.get("message"), str):
        out["structuredContent"] = {**structured, "message": f"{structured['message']} {warning}"}
    return out
