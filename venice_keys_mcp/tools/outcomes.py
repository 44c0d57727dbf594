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
from venice_keys_mcp.safety.confirm import APPROVE_COMMAND, Confirmer, Decision, terminal_approver
from venice_keys_mcp.tools.common import result
from venice_keys_mcp.tools.views import KeyLine, Output
from venice_keys_mcp.venice import VeniceError

Status = Literal[
    "awaiting_approval",
    "rotated",
    "rotated_partially",
    "not_rotated",
    "revoked_all",
    "revoked_some",
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
    approval_id: str | None = None
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
    A yes given at the terminal names the local user who gave it.
    """
    approver = terminal_approver.get()
    if method == "terminal" and approver:
        detail = f"approved at the terminal by {approver}" + (f"; {detail}" if detail else "")
    try:
        rt.audit.append(
            tool=tool, key_id=key_id, args=args, confirmation=method, outcome=outcome, detail=detail
        )
    except AuditError as exc:
        note_unrecorded(exc, tool=tool, key_id=key_id, outcome=outcome)


NOUNS = {
    "create": "creation",
    "update": "change",
    "revoke": "revoke",
    "rotate": "rotation",
    "revoke_many": "revoke",
}


def needs_token_text(action: str, preview: Preview, reason: str) -> str:
    lines = [f"Nothing changed yet. {reason}".strip()]
    lines.append(f"Show the user this {NOUNS.get(action, action)} and ask them to approve it:")
    lines += [f"- {c}" for c in preview.changes]
    lines.append(
        "Only if the user explicitly approves, call the tool again with the same arguments and "
        "confirmation_token. The token is single-use and expires in minutes."
    )
    return "\n".join(lines)


def awaiting_text(preview: Preview, approval_id: str, channel: str, minutes: int) -> str:
    """What the model is told while a person decides: where they decide, and what to do after."""
    lines = [
        f"Nothing changed yet: this {NOUNS.get(preview.action, preview.action)} needs the person's approval."
    ]
    lines += [f"- {c}" for c in preview.changes]
    if channel == "app":
        lines.append(
            "The person approves or declines in the approval card shown with this result; if they "
            "approve there, it is carried out at once and the card reports the outcome. Do not call "
            "this tool again for it."
        )
        lines.append(
            f"If no card is shown, they can run `{APPROVE_COMMAND}` in a terminal instead; then call "
            f"this tool again with the same arguments and approval_id={approval_id}."
        )
    else:
        lines.append(
            f"Ask the person to run `{APPROVE_COMMAND}` in a terminal on this machine and approve it "
            f"there; then call this tool again with the same arguments and approval_id={approval_id}. "
            "You cannot approve it yourself."
        )
    lines.append(
        f"The approval expires in {minutes} minutes. Other options: a host that shows forms, or "
        "(weaker) VENICE_KEYS_CONFIRM=agent, which the operator sets."
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
    confirmer: Confirmer | None = None,
    call: dict[str, object] | None = None,
    expect: str | None = None,
    expect_label: str = "",
) -> CallToolResult:
    """The one way a write ends without acting: audited, and a way forward when a person must decide.

    A policy refusal is an error naming its setting. `awaiting_approval` records a pending
    approval (`call` is what the approved action runs with) and, for the card, puts its
    nonce in the result's `_meta` only. Anything else (declined, cancelled, wrong typed
    characters, a refused token or approval) is a result that says nothing changed.
    """
    ids = {"key_id": key_id} if key_id is not None else {}  # a key not yet created has no id
    if decision.status == "awaiting_approval" and decision.channel is not None and confirmer is not None:
        pending = confirmer.request(
            action=tool,
            args=args,
            call=call if call is not None else args,
            summary=preview.changes,
            channel=decision.channel,
            expect=expect,
            expect_label=expect_label,
        )
        record(rt, tool=tool, key_id=key_id, args=args, method=decision.method, outcome="awaiting_approval",
               detail=f"approval {pending.approval.id} via {decision.channel}")  # fmt: skip
        out = make(
            status="awaiting_approval",
            **ids,
            message=f"Awaiting the person's approval; nothing {verb} yet.",
            approval_id=pending.approval.id,
            preview=preview,
        )
        res = result(
            out, awaiting_text(preview, pending.approval.id, decision.channel, confirmer.ttl_seconds // 60)
        )
        res.meta = pending.meta()
        return res
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
