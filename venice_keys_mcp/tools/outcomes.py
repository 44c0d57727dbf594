"""Result models of the write tools, and the shared bits of their flow (audit, previews)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult
from pydantic import Field

from venice_keys_mcp.runtime import Runtime
from venice_keys_mcp.safety.audit import AuditError
from venice_keys_mcp.safety.audit_guard import note_unrecorded
from venice_keys_mcp.safety.confirm import Decision
from venice_keys_mcp.tools.common import result
from venice_keys_mcp.tools.views import KeyLine, Output
from venice_keys_mcp.venice import VeniceError

Status = Literal[
    "created",
    "updated",
    "updated_with_differences",
    "revoked",
    "no_change",
    "confirmation_required",
    "not_confirmed",
    "declined",
    "cancelled",
    "refused",
    "already_gone",
    "not_revoked",
    "created_secret_lost",
    "not_created",
    "revoked_after_delivery_failure",
    "outcome_unknown",
]


class Preview(Output):
    """Exactly what would change, shown to the human before they decide."""

    action: str
    key: KeyLine | None = None
    changes: list[str] = Field(default_factory=list)


class Outcome(Output):
    """Common shape of create, patch and revoke results."""

    status: Status
    message: str
    confirmation_token: str | None = None
    preview: Preview | None = None


class WriteResult(Outcome):
    """A change to an existing key, named as the agent named it (`key_id`)."""

    key_id: str | None = None


class CreateResult(Outcome):
    """A new key: `id` as list_keys and get_key show it (create_key and mint_web3_key)."""

    id: str | None = None
    last6: str | None = None
    key_type: Literal["INFERENCE", "ADMIN"] | None = None
    secret_file: str | None = Field(default=None, description="File (0600) holding the new secret")
    secret: str | None = Field(default=None, description="Only when reveal_secret=true")


class PatchResult(WriteResult):
    changes: list[str] = Field(default_factory=list)
    key: KeyLine | None = None
    differences: list[str] | None = Field(
        default=None, description="How the key read back differed from what was approved, if it did"
    )


def record(
    rt: Runtime,
    *,
    tool: str,
    key_id: str | None,
    args: dict[str, object],
    method: str,
    outcome: str,
    detail: str = "",
) -> None:
    """One audit entry per change, refusal and confirmation outcome.

    A failed append never hides the outcome: the result still reports it, with a warning.
    """
    try:
        rt.audit.append(
            tool=tool, key_id=key_id, args=args, confirmation=method, outcome=outcome, detail=detail
        )
    except AuditError as exc:
        note_unrecorded(exc, tool=tool, key_id=key_id, outcome=outcome)


NOUNS = {"create": "creation", "update": "change", "revoke": "revoke"}


def needs_token_text(action: str, preview: Preview, reason: str) -> str:
    lines = [f"Nothing changed yet. {reason}".strip()]
    lines.append(f"Show the user this {NOUNS.get(action, action)} and ask them to approve it:")
    lines += [f"- {c}" for c in preview.changes]
    lines.append(
        "Only if the user explicitly approves, call the tool again with the same arguments and "
        "confirmation_token. The token is single-use and expires in minutes."
    )
    return "\n".join(lines)


def not_done(
    rt: Runtime,
    decision: Decision,
    *,
    tool: str,
    key_id: str | None,
    args: dict[str, object],
    preview: Preview,
    make: Callable[..., Outcome],
    verb: str,
) -> CallToolResult:
    """The one way a write ends without acting: audited, and a token when one is what's missing.

    A policy refusal is an error naming its setting; anything else (declined, cancelled,
    wrong typed characters, a refused token) is a result that says nothing changed.
    """
    record(
        rt,
        tool=tool,
        key_id=key_id,
        args=args,
        method=decision.method,
        outcome=decision.status,
        detail=decision.reason,
    )
    if decision.status == "refused" and decision.method == "policy":
        raise ToolError(decision.reason)
    ids = {"key_id": key_id} if key_id is not None else {}  # a key not yet created has no id
    if decision.status == "confirmation_required":
        out = make(
            status="confirmation_required",
            **ids,
            message=f"Confirmation required; nothing {verb}.",
            confirmation_token=rt.tokens.issue(tool, args),
            preview=preview,
        )
        return result(out, needs_token_text(preview.action, preview, decision.reason))
    out = make(status=decision.status, **ids, message=decision.reason or f"Nothing {verb}.")
    return result(out, f"Not {verb} ({decision.status}). {out.message}")


def failed(
    rt: Runtime,
    exc: VeniceError,
    *,
    tool: str,
    key_id: str | None,
    args: dict[str, object],
    method: str,
    verb: str,
) -> ToolError:
    """Venice refused a write: audit it and tell the agent plainly that nothing changed."""
    record(rt, tool=tool, key_id=key_id, args=args, method=method, outcome="failed", detail=str(exc))
    return ToolError(f"Not {verb}: {exc}")
