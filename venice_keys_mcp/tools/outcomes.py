"""Result models of the write tools, and the shared bits of their flow (audit, previews)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Literal

from pydantic import BaseModel, Field

from venice_keys_mcp.runtime import Runtime
from venice_keys_mcp.safety.audit import AuditError
from venice_keys_mcp.safety.audit_guard import note_unrecorded
from venice_keys_mcp.tools.views import KeyLine

Status = Literal[
    "created",
    "updated",
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


class Preview(BaseModel):
    """Exactly what would change, shown to the human before they decide."""

    action: str
    key: KeyLine | None = None
    changes: list[str] = Field(default_factory=list)


class WriteResult(BaseModel):
    """Common shape of create, patch and revoke results."""

    status: Status
    message: str
    key_id: str | None = None
    confirmation_token: str | None = None
    preview: Preview | None = None


class CreateResult(WriteResult):
    last6: str | None = None
    key_type: Literal["INFERENCE", "ADMIN"] | None = None
    secret_file: str | None = Field(default=None, description="File (0600) holding the new secret")
    secret: str | None = Field(default=None, description="Only when reveal_secret=true")


class PatchResult(WriteResult):
    changes: list[str] = Field(default_factory=list)
    key: KeyLine | None = None


def parse_expiry(value: str | None) -> datetime | None:
    """Venice's `expiresAt` forms as a UTC datetime (`""` or None: no expiry)."""
    if not value:
        return None
    if len(value) == 10:
        return datetime.combine(date.fromisoformat(value), time(0, 0), tzinfo=UTC)
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


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


def needs_token_text(action: str, preview: Preview, reason: str) -> str:
    lines = [f"Nothing changed yet. {reason}".strip()]
    lines.append(f"Show the user this {action} and ask them to approve it:")
    lines += [f"- {c}" for c in preview.changes]
    lines.append(
        "Only if the user explicitly approves, call the tool again with the same arguments and "
        "confirmation_token. The token is single-use and expires in minutes."
    )
    return "\n".join(lines)
