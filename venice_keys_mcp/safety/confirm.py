"""Who may say yes: one approval path for every human decision, on every kind of host.

A gated action (a revoke, an ADMIN key, a widening patch, a secret shown to the model)
goes ahead only on a person's yes, given through a channel the model cannot use. The
channel is chosen per call from what the client declared, best first:

1. **a form** (elicitation, both protocol eras): the resolver returns `Elicit`, the SDK
   asks the person, and `settle` reads the answer;
2. **an approval card** (MCP Apps): nothing happens now; the body records a pending
   approval (`safety.approvals`) and answers `awaiting_approval` with a one-time nonce in
   the result's `_meta`, which only the card receives. The card's buttons call the
   app-only tool `approve_action`, which carries the action out once;
3. **the terminal**: the same pending approval; the person runs `venice-keys-mcp approve`
   on a TTY, and the agent's next call with `approval_id` carries out what they approved.

`VENICE_KEYS_CONFIRM` picks the policy: `auto` (the channels above), `elicit` (forms
only), `agent` (forms, else the first version's preview and `confirmation_token`, which
the agent relays; weaker, audited as `agent`) and `off`. Nothing in a result's `content`
or `structuredContent` approves anything: an `approval_id` names a record only a person
can change, and a card's nonce travels only in `_meta`.

Resolvers re-run on every round of the 2026-07-28 era, so `gate` has no side effects: it
only peeks at tokens and approvals; the tool body (which runs once) records a pending
approval (`request`) or uses one up (`settle`). Form messages are scrubbed here: on
2025-11-25 they leave as a server-to-client request, which the result scrubber never sees.
"""

from __future__ import annotations

import contextvars
import getpass
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from mcp.server.apps import client_supports_apps
from mcp.server.mcpserver import (
    AcceptedElicitation,
    CancelledElicitation,
    Context,
    DeclinedElicitation,
    Elicit,
)
from mcp_types.version import is_version_at_least
from pydantic import BaseModel, ConfigDict, Field

from venice_keys_mcp.safety.approvals import (
    Approval,
    ApprovalError,
    ApprovalStore,
    args_digest,
    new_id,
    new_nonce,
    nonce_digest,
)
from venice_keys_mcp.safety.fencing import fence
from venice_keys_mcp.safety.secrets import Scrubber
from venice_keys_mcp.safety.tokens import ConfirmationTokens
from venice_keys_mcp.settings import ConfirmMode

#: Who said yes, as the audit log records it.
Method = Literal["elicitation", "app", "terminal", "agent", "off", "not_needed", "policy"]
Channel = Literal["app", "terminal"]
#: Where a card finds its nonce: the gated result's `_meta`, never its content.
META_KEY = "venice-keys/approval"
APPROVE_COMMAND = "venice-keys-mcp approve"
#: Who approved at the terminal, for this call's audit entries (set when the approval is used).
terminal_approver: contextvars.ContextVar[str] = contextvars.ContextVar("venice_keys_approver", default="")


class Gate(BaseModel):
    """The resolver's answer when it did not ask the person through a form."""

    model_config = ConfigDict(defer_build=True)  # built on first use, not at start-up

    decision: Literal["proceed", "ask_token", "ask_person", "pending", "declined", "refused"]
    method: Method = "not_needed"
    channel: Channel | None = None
    reason: str = ""


# The forms' JSON schemas are what a host shows the person: a title, person-facing field
# descriptions, and no docstring (pydantic would publish it as the form's description).
class RevokeForm(BaseModel):
    model_config = ConfigDict(defer_build=True, title="Confirm revoke")

    last6: str = Field(title="Last six characters", description="Type the key's last six characters")


class ApproveForm(BaseModel):
    model_config = ConfigDict(defer_build=True, title="Approve change")

    approve: bool = Field(title="Approve", description="Approve this change")


class CountForm(BaseModel):
    model_config = ConfigDict(defer_build=True, title="Confirm revoke")

    count: str = Field(title="Number of keys", description="Type how many keys will be revoked")


class RevealForm(BaseModel):
    model_config = ConfigDict(defer_build=True, title="Show secret to the assistant")

    show_secret: bool = Field(
        title="Show it in the chat", description="The assistant (the model) will read the secret"
    )


@dataclass(frozen=True)
class Decision:
    """What the tool body should do: act (`go`), or report `status` and change nothing.

    `channel` is set when a person must still decide (`awaiting_approval`); `reveal` says
    whether a person agreed that a new secret may reach the model.
    """

    go: bool
    status: str
    method: str
    reason: str = ""
    channel: Channel | None = None
    reveal: bool = False


@dataclass(frozen=True)
class Pending:
    """A pending approval just recorded: its id, and the card's nonce (app channel only)."""

    approval: Approval
    nonce: str | None

    def meta(self) -> dict[str, Any] | None:
        if self.nonce is None:
            return None
        a = self.approval
        return {
            META_KEY: {
                "nonce": self.nonce,
                "approval_id": a.id,
                "kind": a.kind,
                "expect": a.expect_label,
                "summary": a.summary,
                "expires": a.expires,
            }
        }


def client_can_elicit(ctx: Context[Any, Any]) -> bool:
    """Whether asking the person will work: form elicitation declared and a way to ask.

    2026-07-28 asks through `InputRequiredResult` (no back-channel needed); the handshake
    era needs a live server-to-client channel, absent in stateless or JSON-only HTTP.
    """
    caps = ctx.client_capabilities
    e = caps.elicitation if caps else None
    if e is None or (e.form is None and e.url is not None):
        return False
    if is_version_at_least(ctx.protocol_version or "", "2026-07-28"):
        return True
    try:
        return bool(ctx.session.can_send_request)
    except Exception:  # no session (e.g. a direct call in tests): cannot ask
        return False


def client_shows_apps(ctx: Any) -> bool:
    """Whether the client declared MCP Apps (a tool's `Context` or a middleware's request context)."""
    try:
        return client_supports_apps(ctx)
    except Exception:  # no session: no card
        return False


def terminal_user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


class Confirmer:
    def __init__(
        self,
        mode: ConfirmMode,
        tokens: ConfirmationTokens,
        scrubber: Scrubber,
        approvals: ApprovalStore,
        ttl_seconds: int = 600,
    ) -> None:
        self.mode = mode
        self.tokens = tokens
        self.scrubber = scrubber
        self.approvals = approvals
        self.ttl_seconds = ttl_seconds

    def scrub(self, text: str) -> str:
        """Text bound for the person (a form message, a preview line), minus anything secret."""
        return self.scrubber.scrub(text)

    # -- the resolver's half: choose the channel, peek, never change anything ------------

    def gate(
        self,
        ctx: Context[Any, Any],
        *,
        action: str,
        args: Mapping[str, object],
        approval_id: str | None,
        token: str | None,
        message: str,
        form: type[BaseModel],
    ) -> Gate | Elicit[Any]:
        if self.mode == "off":
            return Gate(decision="proceed", method="off")
        if client_can_elicit(ctx):
            return Elicit(self.scrub(message), form)
        if self.mode == "elicit":
            return Gate(
                decision="refused",
                method="elicitation",
                reason="This client cannot show confirmation forms, and VENICE_KEYS_CONFIRM=elicit "
                "requires one; nothing changed. Use a host with forms, or ask the operator to set "
                "VENICE_KEYS_CONFIRM=auto.",
            )
        if self.mode == "agent":
            if not token:
                return Gate(decision="ask_token", method="agent")
            verdict = self.tokens.peek(token, action, args)
            if verdict.ok:
                return Gate(decision="proceed", method="agent")
            # A bad token is refused outright, with no fresh token in the same breath: an agent
            # that guessed or reused one must go back for a preview the person can read.
            return Gate(decision="refused", method="agent", reason=_token_refused(verdict.reason))
        if approval_id:
            return self._peek_approval(approval_id, action, args)
        return Gate(decision="ask_person", channel="app" if client_shows_apps(ctx) else "terminal")

    def _peek_approval(self, approval_id: str, action: str, args: Mapping[str, object]) -> Gate:
        try:
            a, now = self.approvals.look(approval_id)
        except ApprovalError as exc:
            return Gate(decision="refused", method="terminal", reason=f"{exc} Nothing changed.")
        problem = _mismatch(a, approval_id, action, args)
        if problem:
            return Gate(decision="refused", method="terminal", reason=problem)
        assert a is not None
        if a.state == "used":
            return Gate(
                decision="refused",
                method="terminal",
                reason=f"Approval {approval_id} was already used ({a.outcome or 'carried out'}); "
                "nothing changed now. Call again without approval_id for a new one.",
            )
        if a.state == "declined":
            return Gate(
                decision="declined",
                method=_channel_method(a.decided_by),
                reason=f"The person declined approval {approval_id}; nothing changed.",
            )
        if a.expires <= now:
            return Gate(
                decision="refused",
                method="terminal",
                reason=f"Approval {approval_id} expired; nothing changed. Call again without "
                "approval_id for a new one.",
            )
        if a.state == "pending":
            return Gate(decision="pending", method="terminal", reason=approval_id)
        return Gate(decision="proceed", method="terminal")

    # -- the body's half: turn the resolver's outcome into one decision ------------------

    def settle(
        self,
        answer: object,
        *,
        action: str,
        args: Mapping[str, object],
        approval_id: str | None = None,
        token: str | None = None,
        expect_last6: str | None = None,
        expect_count: int | None = None,
        reveal_only: bool = False,
    ) -> Decision:
        """Turn the resolver's outcome into a decision; uses up a token or an approval that is used.

        `reveal_only` marks a gate that asked only whether a new secret may be shown: a
        "no" there still creates the key (its secret goes to its file), so it is `go`.
        """
        match answer:
            case AcceptedElicitation(data=Gate(decision="proceed", method="agent")):
                verdict = self.tokens.check(token, action, args)
                if verdict.ok:
                    return Decision(True, "confirmed", "agent", reveal=True)
                # Used up between the peek and now (a concurrent call with the same token).
                return Decision(False, "refused", "agent", _token_refused(verdict.reason))
            case AcceptedElicitation(data=Gate(decision="proceed", method="terminal")):
                return self._use_approval(approval_id, action, args)
            case AcceptedElicitation(data=Gate(decision="proceed", method=method)):
                return Decision(True, "confirmed", method, reveal=method == "off")
            case AcceptedElicitation(data=Gate(decision="ask_token", reason=reason)):
                return Decision(False, "confirmation_required", "agent", reason)
            case AcceptedElicitation(data=Gate(decision="ask_person", channel=channel)):
                if reveal_only:
                    return Decision(True, "confirmed", "not_needed", channel=channel)
                return Decision(False, "awaiting_approval", channel or "terminal", channel=channel)
            case AcceptedElicitation(data=Gate(decision="pending", reason=pending_id)):
                return Decision(
                    False,
                    "awaiting_approval",
                    "terminal",
                    f"Approval {pending_id} is still waiting for the person: ask them to run "
                    f"`{APPROVE_COMMAND}` in a terminal, then call again with the same approval_id.",
                )
            case AcceptedElicitation(data=Gate(decision="declined", method=method, reason=reason)):
                return Decision(False, "declined", method, reason)
            case AcceptedElicitation(data=Gate(decision="refused", reason=reason, method=method)):
                if reveal_only and method == "elicitation":  # forms required, none here: no reveal
                    return Decision(
                        True,
                        "confirmed",
                        "not_needed",
                        reason="this client cannot show forms, and VENICE_KEYS_CONFIRM=elicit requires one",
                    )
                return Decision(False, "refused", method, reason)
            case AcceptedElicitation(data=RevokeForm(last6=typed)):
                if expect_last6 is not None and typed.strip() == expect_last6:
                    return Decision(True, "confirmed", "elicitation")
                return Decision(
                    False,
                    "not_confirmed",
                    "elicitation",
                    "The typed characters did not match; nothing changed.",
                )
            case AcceptedElicitation(data=CountForm(count=typed)):
                if expect_count is not None and typed.strip() == str(expect_count):
                    return Decision(True, "confirmed", "elicitation")
                return Decision(
                    False, "not_confirmed", "elicitation", "The typed number did not match; nothing changed."
                )
            case AcceptedElicitation(data=ApproveForm(approve=True)):
                return Decision(True, "confirmed", "elicitation", reveal=True)
            case AcceptedElicitation(data=RevealForm(show_secret=show)):
                return Decision(
                    True, "confirmed", "elicitation", reveal=show, reason="" if show else _NOT_SHOWN_PERSON
                )
            case AcceptedElicitation() | DeclinedElicitation() | CancelledElicitation():
                # The person said no (or did not say yes): to a reveal alone, the key is still made.
                if reveal_only:
                    return Decision(True, "confirmed", "elicitation", reason=_NOT_SHOWN_PERSON)
                status, said = _NOT_A_YES[type(answer)]
                return Decision(False, status, "elicitation", f"The person {said}; nothing changed.")
        return Decision(False, "refused", "unknown", "Confirmation could not be obtained; nothing changed.")

    def _use_approval(self, approval_id: str | None, action: str, args: Mapping[str, object]) -> Decision:
        """Mark a terminal-approved record used, atomically: of two calls racing, one goes ahead."""
        if not approval_id:
            return Decision(False, "refused", "terminal", "No approval_id; nothing changed.")

        def use(a: Approval, now: float) -> Approval:
            problem = _mismatch(a, approval_id, action, args)
            if problem or a.state != "approved" or a.expires <= now:
                raise _NotUsable(problem or f"Approval {approval_id} is no longer usable ({a.state}).")
            return a.model_copy(update={"state": "used", "outcome": "carried out by the agent's call"})

        try:
            used = self.approvals.update(approval_id, use)
        except (KeyError, _NotUsable, ApprovalError) as exc:
            why = exc.args[0] if isinstance(exc, _NotUsable) else str(exc)
            return Decision(False, "refused", "terminal", f"{why} Nothing changed.")
        terminal_approver.set(used.decided_by or "unknown")
        return Decision(True, "confirmed", "terminal", reveal=True)

    # -- recording what a person must decide ---------------------------------------------

    def request(
        self,
        *,
        action: str,
        args: Mapping[str, object],
        call: Mapping[str, object],
        summary: list[str],
        channel: Channel | None,
        expect: str | None = None,
        expect_label: str = "",
        kind: Literal["action", "reveal"] = "action",
        secret_file: str | None = None,
    ) -> Pending:
        """Record a pending approval (the body's side effect); the card's nonce only for the app channel."""
        nonce = new_nonce() if channel == "app" else None
        approval = self.approvals.add(
            lambda now: Approval(
                id=new_id(),
                kind=kind,
                action=action,
                digest=args_digest(action, args),
                call=dict(call),
                summary=[self.scrub(line) for line in summary],
                expect=expect,
                expect_label=expect_label,
                nonce_digest=nonce_digest(nonce) if nonce else None,
                secret_file=secret_file,
                created=now,
                expires=now + self.ttl_seconds,
            )
        )
        return Pending(approval, nonce)


class _NotUsable(Exception):
    pass


_NOT_SHOWN_PERSON = "the person did not agree to show the secret in the chat"
_NOT_A_YES: dict[type, tuple[str, str]] = {
    AcceptedElicitation: ("not_confirmed", "did not approve"),
    DeclinedElicitation: ("declined", "declined"),
    CancelledElicitation: ("cancelled", "cancelled"),
}


def _mismatch(a: Approval | None, approval_id: str, action: str, args: Mapping[str, object]) -> str:
    """Why this record cannot approve this call (empty: it can)."""
    if a is None:
        return (
            f"No approval {approval_id!r} exists (unknown or long expired); nothing changed. "
            "Call again without approval_id for a new one."
        )
    if a.kind != "action" or a.action != action:
        return f"Approval {approval_id} is for a different action; nothing changed."
    if a.digest != args_digest(action, args):
        return (
            f"Approval {approval_id} was given for different arguments; it approves only the exact "
            "call that was previewed. Nothing changed."
        )
    return ""


def _channel_method(decided_by: str | None) -> Method:
    return "app" if decided_by == "app" else "terminal"


def _token_refused(reason: str) -> str:
    return f"The confirmation token was refused: {reason}. Nothing changed."


def name_key(key_type: str, description: str, last6: str, last_used: str | None) -> str:
    """`INFERENCE key «desc» (…abc123, last used 2026-11-02)`: enough for a person to know which key."""
    used = f"last used {last_used}" if last_used else "never used"
    return f"{key_type} key {fence(description)} (…{last6}, {used})"
