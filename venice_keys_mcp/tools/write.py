"""How a write ends: `WriteCall`, one audit entry and one answer for every way out.

A write tool's body reads: look at the key, ask `call.settle` whether a person said
yes; if not, `call.not_done(...)`; if so, send the change inside `to_the_end()` and end
with `call.finish(status, message)`. A lost answer is never resent: `read_back` looks at
Venice instead, twice if the first look finds nothing yet.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import anyio
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult
from pydantic import Field

from venice_keys_mcp.runtime import Runtime
from venice_keys_mcp.safety.audit import AuditError
from venice_keys_mcp.safety.audit_guard import note_unrecorded
from venice_keys_mcp.safety.confirm import APPROVE_COMMAND, Confirmer, Decision, terminal_approver
from venice_keys_mcp.tools.kit import result
from venice_keys_mcp.tools.views import KeyLine, Output
from venice_keys_mcp.venice import VeniceError

T = TypeVar("T")

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
    """Common shape of every write tool's result."""

    status: Status
    message: str
    confirmation_token: str | None = None
    approval_id: str | None = None
    preview: Preview | None = None


class WriteResult(Outcome):
    """A change to an existing key, named as the agent named it (`key_id`)."""

    key_id: str | None = None


#: How each action is named in a sentence ("this revoke needs the person's approval").
NOUNS = {
    "create": "creation",
    "update": "change",
    "revoke": "revoke",
    "rotate": "rotation",
    "revoke_many": "revoke",
}


@dataclass
class WriteCall:
    """One write, from the person's decision to its answer.

    `answer` is the tool's result model; `verb` says what did not happen ("revoked").
    `finish` is the one way a write that was decided ends: it records the audit entry
    and answers with the same words, so the trail and the agent never disagree.
    """

    rt: Runtime
    tool: str
    args: dict[str, Any]
    answer: type[Outcome] = WriteResult
    verb: str = "changed"
    key_id: str | None = None
    method: str = "n/a"

    def record(self, outcome: str, detail: str = "", *, key_id: str | None = None, method: str = "") -> None:
        """One audit entry. A failed append never hides the outcome: the result still reports it.

        A yes given at the terminal names the local user who gave it.
        """
        method = method or self.method
        approver = terminal_approver.get()
        if method == "terminal" and approver:
            detail = f"approved at the terminal by {approver}" + (f"; {detail}" if detail else "")
        key_id = key_id or self.key_id
        try:
            self.rt.audit.append(
                tool=self.tool,
                key_id=key_id,
                args=self.args,
                confirmation=method,
                outcome=outcome,
                detail=detail,
            )
        except AuditError as exc:
            note_unrecorded(exc, tool=self.tool, key_id=key_id, outcome=outcome)

    def finish(
        self,
        status: str,
        message: str,
        *,
        detail: str = "",
        outcome: str = "",
        text: str = "",
        **fields: Any,
    ) -> CallToolResult:
        """Record `outcome` (default: `status`) and answer `status` with `message` (and `text`, if longer)."""
        key_id = fields.pop("key_id", self.key_id)
        self.record(outcome or status, detail, key_id=fields.get("id") or key_id)
        if "key_id" in self.answer.model_fields:
            fields["key_id"] = key_id
        out = self.answer(status=status, message=message, **fields)
        return result(out, text or message)

    def settle(
        self,
        confirmer: Confirmer,
        answer: object,
        *,
        approval_id: str | None,
        token: str | None,
        **expect: Any,
    ) -> Decision:
        """The person's decision on this write: `Confirmer.settle` on this call's own tool and arguments.

        The channel it came by is kept for the audit entry (`method`), whichever way the write ends.
        """
        decision = confirmer.settle(
            answer, action=self.tool, args=self.args, approval_id=approval_id, token=token, **expect
        )
        self.method = decision.method
        return decision

    def failed(self, exc: VeniceError) -> ToolError:
        """Venice refused the write: audit it and tell the agent plainly that nothing changed."""
        self.record("failed", str(exc))
        return ToolError(f"Not {self.verb}: {exc}")

    def not_done(
        self,
        decision: Decision,
        preview: Preview,
        confirmer: Confirmer,
        *,
        call: dict[str, Any] | None = None,
        expect: str | None = None,
        expect_label: str = "",
        **fields: Any,
    ) -> CallToolResult:
        """The one way a write ends without acting: audited, and a way forward when a person must decide.

        A policy refusal is an error naming its setting. `awaiting_approval` records a pending
        approval (`call` is what the approved action runs with) and, for the card, puts its
        nonce in the result's `_meta` only. Anything else (declined, cancelled, wrong typed
        characters, a refused token or approval) is a result that says nothing changed.
        """
        if decision.status == "awaiting_approval" and decision.channel is not None:
            pending = confirmer.request(
                action=self.tool,
                args=self.args,
                call=call if call is not None else self.args,
                summary=preview.changes,
                channel=decision.channel,
                expect=expect,
                expect_label=expect_label,
            )
            approval = pending.approval.id
            text = awaiting_text(preview, approval, decision.channel, confirmer.ttl_seconds // 60)
            res = self.finish(
                "awaiting_approval",
                f"Awaiting the person's approval; nothing {self.verb} yet.",
                detail=f"approval {approval} via {decision.channel}",
                text=text,
                approval_id=approval,
                preview=preview,
                **fields,
            )
            res.meta = pending.meta()
            return res
        if decision.status == "refused" and decision.method == "policy":
            self.record("refused", decision.reason)
            raise ToolError(decision.reason)
        if decision.status == "confirmation_required":
            return self.finish(
                "confirmation_required",
                f"Confirmation required; nothing {self.verb}.",
                detail=decision.reason,
                text=needs_token_text(preview, decision.reason),
                confirmation_token=self.rt.tokens.issue(self.tool, self.args),
                preview=preview,
                **fields,
            )
        message = decision.reason or f"Nothing {self.verb}."
        text = f"Not {self.verb} ({decision.status}). {message}"
        return self.finish(decision.status, message, detail=decision.reason, text=text, **fields)


def needs_token_text(preview: Preview, reason: str) -> str:
    lines = [f"Nothing changed yet. {reason}".strip()]
    lines.append(
        f"Show the user this {NOUNS.get(preview.action, preview.action)} and ask them to approve it:"
    )
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


def to_the_end() -> anyio.CancelScope:
    """A scope in which a write runs from its request to its audit entry, even if the caller goes away.

    Once a request may have reached Venice, a cancellation (the host closing stdin, an HTTP
    client hanging up) would lose what happened: a new key's secret, the audit entry. The
    requests' own timeouts bound how long finishing takes.
    """
    return anyio.CancelScope(shield=True)


async def read_back(rt: Runtime, look: Callable[[], Awaitable[T]], done: Callable[[T], bool]) -> T:
    """After a write whose answer was lost: look at Venice, and once more if it is not `done` yet.

    Never a resend. A request that timed out may still be finishing at Venice; one short
    pause (a fraction of the request timeout, at most 2 s) before the second look catches
    the common case without making the caller wait long. A failed look raises its
    `VeniceError`.
    """
    seen = await look()
    if not done(seen):
        await anyio.sleep(min(2.0, rt.settings.timeout / 4))
        seen = await look()
    return seen


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
