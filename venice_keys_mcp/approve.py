"""`venice-keys-mcp approve`: the terminal channel, where a person approves what the agent asked for.

On a host with neither forms nor approval cards, a gated call records a pending approval
and tells the agent to ask the person to run this command. It lists this user's pending
approvals (the same settings and state folder as the server), shows each preview, and
asks for the same input as the form (a revoke: the key's last six characters). An
approved action is carried out by the agent's next call with the `approval_id`, once; a
reveal prints the new key's secret here, on the person's terminal, never to the model.

It runs only on a terminal: with no TTY on stdin and stdout it refuses (exit 2), so an
agent that can run commands but has no terminal cannot answer for the person.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TextIO

from venice_keys_mcp.safety.approvals import Approval, ApprovalError, FileApprovalStore
from venice_keys_mcp.safety.confirm import terminal_user
from venice_keys_mcp.safety.secrets import Scrubber, SecretDeliveryError, read_delivered_secret
from venice_keys_mcp.settings import Settings

EXIT_OK, EXIT_USAGE = 0, 2


def run_approve(
    settings: Settings,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    record: Callable[..., None] | None = None,
) -> int:
    """List pending approvals and ask the person about each; 2 without a terminal."""
    from venice_keys_mcp.runtime import approval_store

    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    if not (stdin.isatty() and stdout.isatty()):
        print(
            "venice-keys-mcp approve: refusing to run without a terminal; a person must run it "
            "in a terminal (it reads their answers from the keyboard).",
            file=sys.stderr,
            flush=True,
        )
        return EXIT_USAGE
    store = approval_store(settings)
    user = terminal_user()
    try:
        pending = store.pending()
    except ApprovalError as exc:
        print(f"venice-keys-mcp approve: {exc}", file=sys.stderr, flush=True)
        return EXIT_USAGE
    say = _printer(stdout, Scrubber())
    where = "the sandbox" if settings.sandbox else "your Venice account"
    if not pending:
        say(f"No pending approvals for {where}.")
        return EXIT_OK
    say(f"{len(pending)} pending approval(s) for {where}. Press Enter alone to skip one.")
    for n, approval in enumerate(pending, 1):
        say("")
        say(f"[{n}/{len(pending)}] {approval.id}: {_title(approval)} (expires {_when(approval.expires)})")
        for line in approval.summary:
            say(f"  - {line}")
        _ask(store, approval, user, stdin, say, record)
    return EXIT_OK


def _ask(
    store: FileApprovalStore,
    approval: Approval,
    user: str,
    stdin: TextIO,
    say: Callable[[str], None],
    record: Callable[..., None] | None,
) -> None:
    if approval.kind == "reveal":
        prompt = "Show the secret here, on this terminal, once? [y/N] "
    elif approval.expect is not None:
        prompt = f"Type {approval.expect_label} to approve, 'no' to decline: "
    else:
        prompt = "Approve? [y/N, 'no' declines] "
    say(prompt, end="")
    answer = stdin.readline().strip()
    if not answer:
        say("Skipped; still pending.")
        return
    if answer.lower() in {"no", "n", "decline"}:
        _decide(store, approval, "declined", user, say)
        if record:
            record(approval, "declined", user)
        return
    approved = answer == approval.expect if approval.expect is not None else answer.lower() in {"y", "yes"}
    if not approved:
        say("That does not match; nothing approved, still pending.")
        return
    if approval.kind == "reveal":
        if not _decide(store, approval, "used", user, say):
            return
        try:
            secret = read_delivered_secret(approval.secret_file or "")
        except (OSError, SecretDeliveryError) as exc:
            say(f"The secret file could not be read: {exc}")
            return
        from venice_keys_mcp.safety import console

        console.allow(secret)  # the one secret this person asked to see, on their terminal
        say(f"Secret (shown once; it stays in {approval.secret_file}):")
        say(f"  {secret}", scrub=False)
        if record:
            record(approval, "secret_shown", user)
        return
    if _decide(store, approval, "approved", user, say):
        say("Approved. The assistant's next call with this approval_id carries it out, once.")
        if record:
            record(approval, "approved", user)


def _decide(
    store: FileApprovalStore, approval: Approval, state: str, user: str, say: Callable[..., None]
) -> bool:
    def change(a: Approval, now: float) -> Approval:
        if a.state != "pending" or a.expires <= now:
            raise ValueError("it was decided elsewhere or expired meanwhile")
        return a.model_copy(update={"state": state, "decided_by": user, "decided_at": now})

    try:
        store.update(approval.id, change)
    except (KeyError, ValueError, ApprovalError) as exc:
        say(f"Not recorded: {exc}.")
        return False
    if state == "declined":
        say("Declined; nothing will change.")
    return True


def _title(a: Approval) -> str:
    if a.kind == "reveal":
        return "show a new key's secret"
    return {
        "revoke_key": "revoke a key",
        "create_key": "create a key",
        "mint_web3_key": "mint a key",
        "patch_key": "change a key",
    }.get(a.action, a.action)


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%H:%M:%S UTC")


def _printer(stream: TextIO, scrubber: Scrubber) -> Callable[..., None]:
    """Every line goes through the scrubber, except the one secret the person asked to see."""

    def say(text: str, *, end: str = "\n", scrub: bool = True) -> None:
        stream.write((scrubber.scrub(text) if scrub else text) + end)
        stream.flush()

    return say
