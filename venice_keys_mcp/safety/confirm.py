"""Human confirmation for risky actions, on both protocol eras, with a token fallback.

A tool declares a `Resolve(...)` parameter whose resolver calls `Confirmer.gate`. The
gate either asks the human through the host (`Elicit`, which the SDK turns into
`elicitation/create` on 2025-11-25 or an `InputRequiredResult` on 2026-07-28), or, when
the client cannot show a form, answers with a `Gate`: proceed (token valid, or
confirmation off), ask for a token, or refuse (policy, elicit-only mode, or a forged,
altered, expired, replayed or mismatched token). The tool body then calls `settle` to turn
whatever came back into one `Decision`. Resolvers re-run on every 2026 round, so the gate
has no side effects: a token is only peeked here and consumed in `settle`.

The form message is scrubbed here, in one place: on 2025-11-25 it leaves as a
server-to-client `elicitation/create` request, which the result scrubber never sees, and
a key description (data from Venice) may be shaped like a secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from mcp.server.mcpserver import (
    AcceptedElicitation,
    CancelledElicitation,
    Context,
    DeclinedElicitation,
    Elicit,
)
from mcp_types.version import is_version_at_least
from pydantic import BaseModel, ConfigDict, Field

from venice_keys_mcp.safety.fencing import fence
from venice_keys_mcp.safety.secrets import Scrubber
from venice_keys_mcp.safety.tokens import ConfirmationTokens
from venice_keys_mcp.settings import ConfirmMode

Method = Literal["elicitation", "token", "off", "not_needed", "policy"]


class Gate(BaseModel):
    """The resolver's answer when it did not ask the human."""

    model_config = ConfigDict(defer_build=True)  # built on first use, not at start-up

    decision: Literal["proceed", "ask_token", "refused"]
    method: Method = "not_needed"
    reason: str = ""


class RevokeForm(BaseModel):
    """The revoke form: typing the last six characters beats a reflex click."""

    model_config = ConfigDict(defer_build=True)  # built on first use, not at start-up

    last6: str = Field(description="Type the key's last six characters to revoke it")


class ApproveForm(BaseModel):
    model_config = ConfigDict(defer_build=True)  # built on first use, not at start-up

    approve: bool = Field(description="Approve this change")


@dataclass(frozen=True)
class Decision:
    """What the tool body should do: act (`go`), or report `status` and change nothing."""

    go: bool
    status: str
    method: str
    reason: str = ""


def client_can_elicit(ctx: Context[Any, Any]) -> bool:
    """Whether asking the human will work: form elicitation declared and a way to ask.

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


class Confirmer:
    def __init__(self, mode: ConfirmMode, tokens: ConfirmationTokens, scrubber: Scrubber) -> None:
        self.mode = mode
        self.tokens = tokens
        self.scrubber = scrubber

    def scrub(self, text: str) -> str:
        """Text bound for the person (a form message, a preview line), minus anything secret."""
        return self.scrubber.scrub(text)

    def gate(
        self,
        ctx: Context[Any, Any],
        *,
        action: str,
        args: Mapping[str, object],
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
                "requires one; nothing changed. Use a host with elicitation, or set "
                "VENICE_KEYS_CONFIRM=auto.",
            )
        if not token:
            return Gate(decision="ask_token")
        verdict = self.tokens.peek(token, action, args)
        if verdict.ok:
            return Gate(decision="proceed", method="token")
        # A bad token is refused outright, with no fresh token in the same breath: an agent
        # that guessed or reused one must go back for a preview the person can read.
        return Gate(decision="refused", method="token", reason=_token_refused(verdict.reason))

    def settle(
        self,
        answer: object,
        *,
        action: str,
        args: Mapping[str, object],
        token: str | None,
        expect_last6: str | None = None,
    ) -> Decision:
        """Turn the resolver's outcome into a decision; consumes a token that is used."""
        match answer:
            case AcceptedElicitation(data=Gate(decision="proceed", method="token")):
                verdict = self.tokens.check(token, action, args)
                if verdict.ok:
                    return Decision(True, "confirmed", "token")
                # Used up between the peek and now (a concurrent call with the same token).
                return Decision(False, "refused", "token", _token_refused(verdict.reason))
            case AcceptedElicitation(data=Gate(decision="proceed", method=method)):
                return Decision(True, "confirmed", method)
            case AcceptedElicitation(data=Gate(decision="ask_token", reason=reason)):
                return Decision(False, "confirmation_required", "token", reason)
            case AcceptedElicitation(data=Gate(decision="refused", reason=reason, method=method)):
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
            case AcceptedElicitation(data=ApproveForm(approve=True)):
                return Decision(True, "confirmed", "elicitation")
            case AcceptedElicitation():
                return Decision(
                    False, "not_confirmed", "elicitation", "The person did not approve; nothing changed."
                )
            case DeclinedElicitation():
                return Decision(False, "declined", "elicitation", "The person declined; nothing changed.")
            case CancelledElicitation():
                return Decision(False, "cancelled", "elicitation", "The person cancelled; nothing changed.")
        return Decision(False, "refused", "unknown", "Confirmation could not be obtained; nothing changed.")


def _token_refused(reason: str) -> str:
    return f"The confirmation token was refused: {reason}. Nothing changed."


def name_key(key_type: str, description: str, last6: str, last_used: str | None) -> str:
    """`INFERENCE key «desc» (…abc123, last used 2026-11-02)`: enough for a person to know which key."""
    used = f"last used {last_used}" if last_used else "never used"
    return f"{key_type} key {fence(description)} (…{last6}, {used})"
