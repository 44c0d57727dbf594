"""The approval card's side of the human channel: `approve_action`, an app-only tool.

A gated tool called by a client that declared MCP Apps (and no forms) answers
`awaiting_approval` and is bound to the card `ui://venice-keys/approval.html`; the host
renders the card with the result, including its `_meta`, where the one-time nonce is.
The card's Approve and Decline buttons call `approve_action` with that nonce. It is
app-only (`_meta.ui.visibility: ["app"]`): hosts do not offer it to the model, this server
lists it only to clients that declared Apps, and without the nonce, which the model is
never given, it approves nothing.

An approved action runs here, once, through the same code the tool runs after a form's
yes (`Actions`), and is audited as approved through the `app`. A reveal approval shows a
new key's secret to the person in the card: the result of a call the card made, which
the model does not see.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, TextContent
from pydantic import Field

from venice_keys_mcp.runtime import Runtime
from venice_keys_mcp.safety.approvals import Approval, ApprovalError, nonce_matches
from venice_keys_mcp.safety.audit_guard import refusal
from venice_keys_mcp.safety.confirm import client_shows_apps
from venice_keys_mcp.safety.result_scrub import allow_in_result
from venice_keys_mcp.safety.secrets import SecretDeliveryError, read_delivered_secret
from venice_keys_mcp.tools.kit import WRITE, Kit, result
from venice_keys_mcp.tools.views import Output
from venice_keys_mcp.tools.write import WriteCall
from venice_keys_mcp.ui import page

CARD_URI = "ui://venice-keys/approval.html"
APP_ONLY = {"ui": {"resourceUri": CARD_URI, "visibility": ["app"]}}
#: Gated tools carry this, so an Apps host renders the card with their results.
WITH_CARD = {"ui": {"resourceUri": CARD_URI}}


class ApprovalOutcome(Output):
    """What the card shows after a button: the decision, and the action's own result."""

    status: Literal["approved", "declined", "not_confirmed", "refused", "failed", "secret_shown"]
    approval_id: str
    action: str | None = None
    message: str
    outcome: dict[str, Any] | None = None
    secret: str | None = Field(default=None, description="Shown to the person in the card only")


class _Refused(Exception):
    pass


def record(rt: Runtime, *, tool: str, key_id: str | None, args: dict[str, Any], method: str, outcome: str,
           detail: str = "") -> None:  # fmt: skip
    """The audit entry of a decision in the card (or of a refused one)."""
    WriteCall(rt, tool, args, key_id=key_id, method=method).record(outcome, detail)


def register_card(kit: Kit) -> None:
    """`approve_action`: registered once the gated tools are (`kit.actions` holds what each runs)."""
    rt, store, actions = kit.rt, kit.confirmer.approvals, kit.actions

    def answer(
        status: str, approval_id: str, message: str, action: str | None = None, **extra: Any
    ) -> CallToolResult:
        out = ApprovalOutcome(status=status, approval_id=approval_id, action=action, message=message, **extra)
        return result(out, message)

    def decide(approval_id: str, state: str) -> Approval:
        """Move a pending, live record to `state`, atomically: of two clicks, one wins."""

        def change(a: Approval, now: float) -> Approval:
            if a.state != "pending":
                raise _Refused(f"This approval was already {'used' if a.state == 'used' else a.state}.")
            if a.expires <= now:
                raise _Refused("This approval expired; nothing changed. Ask the assistant to try again.")
            return a.model_copy(update={"state": state, "decided_by": "app", "decided_at": now})

        return store.update(approval_id, change)

    @kit.tool(title="Approve or decline (approval card)", annotations=WRITE, toolset=None, meta=APP_ONLY)
    async def approve_action(
        approval_id: Annotated[str, Field(max_length=64)],
        decision: Literal["approve", "decline"],
        nonce: Annotated[str, Field(max_length=128)],
        typed: Annotated[str, Field(max_length=64)] = "",
    ) -> Annotated[CallToolResult, ApprovalOutcome]:
        """The approval card's buttons: the person's answer to one pending approval. Not for the model."""
        try:
            found = store.get(approval_id)
        except ApprovalError as exc:
            raise ToolError(str(exc)) from None
        if found is None or not nonce_matches(found, nonce):
            # Same words for an unknown id and a wrong nonce: nothing to learn by probing.
            record(rt, tool="approve_action", key_id=None, args={"approval_id": approval_id},
                   method="app", outcome="refused", detail="unknown approval or wrong nonce")  # fmt: skip
            return answer("refused", approval_id, "This approval is not valid here; nothing changed.")
        approval = found
        key_id = approval.call.get("key_id") if isinstance(approval.call.get("key_id"), str) else None
        if decision == "approve" and approval.expect is not None and typed.strip() != approval.expect:
            detail = f"approval {approval_id}: typed text did not match"
            record(rt, tool=approval.action, key_id=key_id, args=approval.call, method="app",
                   outcome="not_confirmed", detail=detail)  # fmt: skip
            return answer(
                "not_confirmed",
                approval_id,
                f"That does not match {approval.expect_label or 'what was asked'}; nothing changed. "
                "Try again.",
                approval.action,
            )
        try:
            decided = decide(approval_id, "declined" if decision == "decline" else "used")
        except _Refused as exc:
            return answer("refused", approval_id, str(exc), approval.action)
        except (KeyError, ApprovalError) as exc:
            return answer("refused", approval_id, f"This approval cannot be used ({exc}).", approval.action)
        if decision == "decline":
            record(rt, tool=approval.action, key_id=key_id, args=approval.call, method="app",
                   outcome="declined", detail=f"approval {approval_id} declined in the card")  # fmt: skip
            return answer("declined", approval_id, "Declined; nothing changed.", approval.action)
        if decided.kind == "reveal":
            return _reveal(rt, decided, key_id, answer)
        run = actions.get(decided.action)
        if run is None:  # an approval recorded by a newer or other server: refuse, never guess
            return answer("refused", approval_id, f"This server cannot carry out {decided.action}.")
        try:
            done = await run(decided.call, "app")
        except ToolError as exc:
            return answer("failed", approval_id, str(exc), decided.action)
        message = next((c.text for c in done.content if isinstance(c, TextContent)), "Done.")
        out = answer(
            "approved", approval_id, message, decided.action, outcome=done.structured_content or None
        )
        out.meta = done.meta  # a new key's reveal offer, for the card's "show secret once"
        return out


def _reveal(
    rt: Runtime, a: Approval, key_id: str | None, answer: Callable[..., CallToolResult]
) -> CallToolResult:
    """Show a new key's secret to the person in the card, once; the model never sees this result."""
    try:
        secret = read_delivered_secret(a.secret_file or "")
    except (OSError, SecretDeliveryError) as exc:
        record(rt, tool=a.action, key_id=key_id, args=a.call, method="app", outcome="reveal_failed",
               detail=f"approval {a.id}: {exc}")  # fmt: skip
        return answer("failed", a.id, f"The secret file could not be read ({exc}).", a.action)
    rt.scrubber.add(secret)
    allow_in_result(secret)
    record(rt, tool=a.action, key_id=key_id, args=a.call, method="app", outcome="secret_shown",
           detail=f"approval {a.id}: shown to the person in the approval card")  # fmt: skip
    return answer(
        "secret_shown",
        a.id,
        f"The secret of key …{secret[-6:]} is shown once in this card; copy it now. "
        f"It stays in {a.secret_file}.",
        a.action,
        secret=secret,
    )


def card_html() -> str:
    """The approval card: one self-contained HTML page, its shared parts inlined (no external loads)."""
    return page("approval.html")


class AppOnlyTools:
    """`ServerMiddleware`: app-only tools are listed and callable only for clients that declared Apps.

    A host that renders cards keeps them from the model (`visibility: ["app"]`); a client that
    declared no Apps support would show them to the model as ordinary tools, so they are left
    out of its `tools/list` and refused by name if called anyway.
    """

    def __init__(self, kit: Kit) -> None:
        self.app_only = frozenset(s.name for s in kit.specs if s.app_only)

    async def __call__(self, ctx: Any, call_next: Any) -> Any:
        method = getattr(ctx, "method", None)
        if not self.app_only or method not in {"tools/list", "tools/call"}:
            return await call_next(ctx)
        if method == "tools/call":  # the capability is asked only for an app-only tool's name
            name = (getattr(ctx, "params", None) or {}).get("name")
            if name in self.app_only and not client_shows_apps(ctx):
                return refusal(ctx, f"Unknown tool: {name}")  # as for any tool it was never shown
            return await call_next(ctx)
        out = await call_next(ctx)
        if client_shows_apps(ctx):
            return out
        if isinstance(out, dict) and isinstance(out.get("tools"), list):
            out = {**out, "tools": [t for t in out["tools"] if t.get("name") not in self.app_only]}
        elif hasattr(out, "tools"):
            out = out.model_copy(update={"tools": [t for t in out.tools if t.name not in self.app_only]})
        return out
