"""`create_key` and, with a wallet, `get_web3_token` and `mint_web3_key`: a new key, never lost.

Both ways of making a key keep the same rules, in this order:

1. Policy, then the person: an ADMIN key needs the person's yes; so does showing the new
   secret to the model (`reveal_secret`). A "no" to showing the secret still makes the key.
2. At most 20 creations a minute from this process (the 21st is refused before Venice
   would; `CreationWindow`, shared with `rotate_key`), and none while the account is at
   Venice's 500 active keys.
3. One request, never a resend. If the answer is lost, a look at the account says whether
   the key exists (its secret is then lost, and the result says to revoke it).
4. The secret goes to a 0600 file. If it cannot be saved and was not revealed, the key is
   revoked at once, so no key is left that nobody can use. It reaches the model only on a
   person's yes; otherwise the person can see it in the approval card ("show secret once")
   or on their terminal (`venice-keys-mcp approve`).

Minting needs no ADMIN key, so it goes on when the account cannot be listed; a lost
answer is then reported as unknown rather than looked for. The server never holds a
wallet key: the person signs the token in their own wallet (EIP-191 `personal_sign`).
"""

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, Elicit, ElicitationResult, Resolve
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult
from pydantic import Field

from venice_keys_mcp.runtime import Runtime
from venice_keys_mcp.safety.confirm import (
    APPROVE_COMMAND,
    ApproveForm,
    Channel,
    Confirmer,
    Decision,
    Gate,
    RevealForm,
    client_shows_apps,
)
from venice_keys_mcp.safety.fencing import fence
from venice_keys_mcp.safety.policy import PolicyRefusal, check_create
from venice_keys_mcp.safety.result_scrub import allow_in_result
from venice_keys_mcp.safety.secrets import SecretDeliveryError, deliver_secret
from venice_keys_mcp.tools.approval import WITH_CARD
from venice_keys_mcp.tools.kit import READ_ONLY, WRITE, Kit, arguments, result, venice_errors
from venice_keys_mcp.tools.params import (
    ApprovalId,
    Description,
    Expiry,
    Limit,
    Period,
    Privacy,
    Token,
    checked_expiry,
)
from venice_keys_mcp.tools.params import Reveal as RevealArg
from venice_keys_mcp.tools.views import Output, now_utc
from venice_keys_mcp.tools.write import Outcome, Preview, WriteCall, lost_answer, read_back, to_the_end
from venice_keys_mcp.venice import (
    ApiKey,
    CreatedKey,
    CreateKeyRequest,
    KeyLimits,
    MalformedResponse,
    NetworkError,
    OutcomeUnknown,
    VeniceError,
    Web3MintRequest,
)

log = logging.getLogger("venice_keys_mcp.tools")

ACTION = "create_key"
MINT = "mint_web3_key"
CREATES_PER_MINUTE = 20
MAX_ACTIVE_KEYS = 500
TOKEN_LIFETIME = timedelta(minutes=15)
DEFAULT_DESCRIPTION = "Web3 API Key"  # what Venice names a minted key given no description
#: What a new key is audited and confirmed by: the person's choices, never a mint's proofs.
CREATE_ARGS = ("description", "key_type", *KeyLimits.NAMES, "reveal_secret")
#: A read with a new answer each time (a fresh wallet token).
FRESH = READ_ONLY.model_copy(update={"idempotent_hint": False})
MINT_ARGS = ("address", "key_type", "description", "usd_limit", "diem_limit", "expires_at", "reveal_secret")
#: The gates and the bodies get these from the tools' signatures (`kit.arguments`).
create_args, mint_args = arguments(*CREATE_ARGS), arguments(*MINT_ARGS)


class CreateResult(Outcome):
    """A new key: `id` as list_keys and get_key show it (create_key and mint_web3_key)."""

    id: str | None = None
    last6: str | None = None
    key_type: Literal["INFERENCE", "ADMIN"] | None = None
    secret_file: str | None = Field(default=None, description="File (0600) holding the new secret")
    secret: str | None = Field(default=None, description="Only when reveal_secret=true")


class Web3Token(Output):
    token: str
    expires_at: datetime
    instructions: str


def register(kit: Kit) -> None:
    rt, confirmer = kit.rt, kit.confirmer
    window: CreationWindow = kit.once("creation window", CreationWindow)

    @venice_errors
    async def gate(
        args: Annotated[dict[str, Any], Resolve(create_args)],
        approval_id: str | None,
        confirmation_token: str | None,
        ctx: Context[Any, Any],
    ) -> Gate | Elicit[Any]:
        return new_key_gate(rt, confirmer, ctx, ACTION, args, "Create", approval_id, confirmation_token)

    @kit.tool(title="Create key", annotations=WRITE, toolset="keys", meta=WITH_CARD)
    async def create_key(
        description: Description,
        confirmation: Annotated[ElicitationResult[Any], Resolve(gate)],
        args: Annotated[dict[str, Any], Resolve(create_args)],
        ctx: Context[Any, Any],
        key_type: Literal["INFERENCE", "ADMIN"] = "INFERENCE",
        usd_limit: Limit = None,
        diem_limit: Limit = None,
        limit_period: Period | None = None,
        model_privacy: Privacy | None = None,
        expires_at: Expiry = None,
        reveal_secret: RevealArg = False,
        approval_id: ApprovalId = None,
        confirmation_token: Token = None,
    ) -> Annotated[CallToolResult, CreateResult]:
        """Create a key; its secret goes to a 0600 file. ADMIN keys, reveal_secret: the person's yes."""
        call = WriteCall(rt, ACTION, args, answer=CreateResult, verb="created")
        decision = call.settle(
            confirmer,
            confirmation,
            approval_id=approval_id,
            token=confirmation_token,
            reveal_only=key_type != "ADMIN",
        )
        if not decision.go:
            return call.not_done(decision, Preview(action="create", changes=create_changes(args)), confirmer)
        return await create(call, window, reveal_plan(confirmer, ctx, args, decision))

    @kit.approved(ACTION)
    async def approved(args: dict[str, Any], method: str) -> CallToolResult:
        """What the card runs once the person approved: the same create; the card offers the secret."""
        call = WriteCall(
            rt, ACTION, {k: args.get(k) for k in CREATE_ARGS}, CreateResult, "created", method=method
        )
        return await create(call, window, Reveal(offer="app", confirmer=confirmer))

    @kit.tool(title="Wallet token", annotations=FRESH, toolset="web3")
    async def get_web3_token() -> Annotated[CallToolResult, Web3Token]:
        """A 15-minute token for a wallet with staked VVV to sign (personal_sign) for mint_web3_key."""
        token = await rt.client.get_web3_token()
        out = Web3Token(
            token=token,
            expires_at=datetime.now(UTC) + TOKEN_LIFETIME,
            instructions="Have the user sign this exact token with their wallet (EIP-191 personal_sign), "
            "then call mint_web3_key with the wallet address, signature and this token within 15 minutes.",
        )
        return result(out, f"{out.instructions}\ntoken: {token}")

    @venice_errors
    async def mint_gate(
        args: Annotated[dict[str, Any], Resolve(mint_args)],
        approval_id: str | None,
        confirmation_token: str | None,
        ctx: Context[Any, Any],
    ) -> Gate | Elicit[Any]:
        verb = f"With wallet {args['address']}, mint"
        return new_key_gate(rt, confirmer, ctx, MINT, args, verb, approval_id, confirmation_token)

    @kit.tool(title="Mint key with wallet", annotations=WRITE, toolset="web3", meta=WITH_CARD)
    async def mint_web3_key(
        address: Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{40}$")],
        signature: Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{130}$")],
        token: Annotated[str, Field(max_length=4096)],
        confirmation: Annotated[ElicitationResult[Any], Resolve(mint_gate)],
        args: Annotated[dict[str, Any], Resolve(mint_args)],
        ctx: Context[Any, Any],
        key_type: Literal["INFERENCE", "ADMIN"] = "INFERENCE",
        description: Description | None = None,
        usd_limit: Limit = None,
        diem_limit: Limit = None,
        expires_at: Expiry = None,
        reveal_secret: RevealArg = False,
        approval_id: ApprovalId = None,
        confirmation_token: str | None = None,  # undescribed: the server's instructions cover it
    ) -> Annotated[CallToolResult, CreateResult]:
        """Mint a key with a wallet-signed get_web3_token token; otherwise as create_key."""
        call = WriteCall(rt, MINT, args, answer=CreateResult, verb="created")
        decision = call.settle(
            confirmer,
            confirmation,
            approval_id=approval_id,
            token=confirmation_token,
            reveal_only=key_type != "ADMIN",
        )
        if not decision.go:
            preview = Preview(action="create", changes=create_changes(minted(args)))
            # The proofs are what the approved mint runs with; they are not what is approved.
            return call.not_done(
                decision, preview, confirmer, call={**args, "signature": signature, "token": token}
            )
        return await mint(call, window, signature, token, reveal_plan(confirmer, ctx, args, decision))

    @kit.approved(MINT)
    async def mint_approved(args: dict[str, Any], method: str) -> CallToolResult:
        """What the approval card runs once the person approved: the same mint; the card offers the secret."""
        call = WriteCall(
            rt, MINT, {k: args.get(k) for k in MINT_ARGS}, CreateResult, "created", method=method
        )
        reveal = Reveal(offer="app", confirmer=confirmer)
        return await mint(call, window, args["signature"], args["token"], reveal)


# -- what the person approves ----------------------------------------------------------------


def new_key_limits(args: dict[str, Any]) -> KeyLimits:
    """What the new key may spend and do; an impossible or past expiry is refused here, before anything."""
    return KeyLimits(
        usd_limit=args.get("usd_limit"),
        diem_limit=args.get("diem_limit"),
        limit_period=args.get("limit_period"),
        model_privacy=args.get("model_privacy"),
        expires_at=checked_expiry(args.get("expires_at")),
    )


def new_key_gate(
    rt: Runtime,
    confirmer: Confirmer,
    ctx: Context[Any, Any],
    action: str,
    args: dict[str, Any],
    verb: str,
    approval_id: str | None,
    token: str | None,
) -> Gate | Elicit[Any]:
    """Policy first; then the person, for an ADMIN key or for showing the secret to the model."""
    try:
        check_create(rt.policy, key_type=args["key_type"], limits=new_key_limits(args), now=now_utc())
    except PolicyRefusal as exc:
        return Gate(decision="refused", method="policy", reason=str(exc))
    if args["key_type"] != "ADMIN" and not args["reveal_secret"]:
        return Gate(decision="proceed", method="not_needed")
    changes = create_changes(minted(args) if action == MINT else args)
    return confirmer.gate(
        ctx,
        action=action,
        args=args,
        approval_id=approval_id,
        token=token,
        message=creation_message(verb, args, changes),
        form=ApproveForm if args["key_type"] == "ADMIN" else RevealForm,
    )


def create_changes(args: dict[str, Any]) -> list[str]:
    caps = [
        f"{u} cap {args[k]:.12g}"
        for k, u in (("usd_limit", "USD"), ("diem_limit", "DIEM"))
        if args.get(k) is not None
    ]
    return [
        f"Create a new {args['key_type']} key {fence(args['description'])}",
        ", ".join(caps) + f" per {args.get('limit_period') or 'EPOCH'}" if caps else "no spend cap",
        f"expires {args['expires_at']}" if args.get("expires_at") else "never expires",
        f"model privacy {args.get('model_privacy') or 'ALL'}",
    ]


def minted(args: dict[str, Any]) -> dict[str, Any]:
    """A mint's arguments as the key will be: Venice names a key given no description."""
    return {**args, "description": args.get("description") or DEFAULT_DESCRIPTION}


def creation_message(verb: str, args: dict[str, Any], changes: list[str]) -> str:
    """The form's text for a new key: an ADMIN key's approval, or the question of showing its secret."""
    if args["key_type"] == "ADMIN":
        text = f"{verb} an ADMIN key (full control of this account's keys)?\n" + "\n".join(changes)
        if args.get("reveal_secret"):
            text += "\nIts secret will also be shown in this chat: the assistant (the model) will read it."
        return text
    return (
        "Show the new key's secret in this chat? The assistant (the model) will read it. If you say no, "
        "the key is still created and its secret is saved to a private file only.\n" + "\n".join(changes)
    )


@dataclass(frozen=True)
class Reveal:
    """What may happen to a new secret besides its file.

    `show`: a person approved that the model sees it. `offer`: the channel through which the
    person can see it instead (the card, or the terminal). `why_not`: why it was asked for and
    not shown, for the result.
    """

    show: bool = False
    offer: Channel | None = None
    why_not: str = ""
    confirmer: Confirmer | None = None


def reveal_plan(
    confirmer: Confirmer, ctx: Context[Any, Any], args: dict[str, Any], decision: Decision
) -> Reveal:
    """Whether the new secret may reach the model, and else how the person can see it."""
    asked = bool(args.get("reveal_secret"))
    if asked and decision.reveal:
        return Reveal(show=True)
    offer: Channel | None = None
    if client_shows_apps(ctx):
        offer = "app"
    elif asked and confirmer.mode == "auto":
        offer = "terminal"
    why_not = ""
    if asked:
        why_not = decision.reason or "no person approved showing it to the model"
    return Reveal(offer=offer, why_not=why_not, confirmer=confirmer)


# -- making it ---------------------------------------------------------------------------------


class CreationWindow:
    """This process's key creations in the last minute, to refuse the 21st before Venice does.

    Only creations sent to Venice count; a slot is reserved before the first await (so
    concurrent calls cannot all pass the check) and released if nothing was sent.
    """

    def __init__(self, limit: int = CREATES_PER_MINUTE, seconds: float = 60.0) -> None:
        self.limit = limit
        self.seconds = seconds
        self._times: list[float] = []

    def reserve(self) -> float:
        now = time.monotonic()
        self._times[:] = [t for t in self._times if now - t < self.seconds]
        if len(self._times) >= self.limit:
            wait = int(self.seconds - (now - self._times[0])) + 1
            raise ToolError(
                f"Not created: Venice allows {self.limit} key creations a minute and this server "
                f"made {len(self._times)} in the last minute; try again in {wait} s."
            )
        self._times.append(now)
        return now

    def release(self, slot: float) -> None:
        if slot in self._times:
            self._times.remove(slot)


async def create(call: WriteCall, window: CreationWindow, reveal: Reveal) -> CallToolResult:
    args = call.args
    request = CreateKeyRequest(
        api_key_type=args["key_type"],
        description=args["description"],
        **new_key_limits(args).request_fields(),
    )
    return await make_key(call, window, lambda: call.rt.client.create_key(request), reveal)


async def mint(
    call: WriteCall, window: CreationWindow, signature: str, token: str, reveal: Reveal
) -> CallToolResult:
    args = call.args
    description = args.get("description")
    request = Web3MintRequest(
        address=args["address"],
        signature=signature,
        token=token,
        api_key_type=args["key_type"],
        **({"description": description} if description is not None else {}),
        **new_key_limits(args).request_fields(),
    )
    return await make_key(  # one window with create_key: Venice counts mints and creates together
        call,
        window,
        lambda: call.rt.client.mint_web3_key(request),
        reveal,
        listing_required=False,  # minting needs no ADMIN key; without one, a lost answer stays unknown
        match=minted(args),
    )


async def make_key(
    call: WriteCall,
    window: CreationWindow,
    send: Callable[[], Awaitable[CreatedKey]],
    reveal: Reveal,
    *,
    listing_required: bool = True,
    match: dict[str, Any] | None = None,
) -> CallToolResult:
    """Send one creation inside the limits, reconcile a lost answer, deliver the secret.

    `listing_required=False` (minting) goes on when the account cannot be listed. `match`
    is what the new key will look like when it differs from the call's arguments (a
    default description, a rotation's new key).
    """
    try:
        slot = window.reserve()  # before any await: concurrent calls cannot all squeeze in
    except ToolError as exc:
        call.record("refused", f"creation rate limit: {exc}")
        raise
    sent = False
    try:
        before = await _listing(call.rt, required=listing_required)
        if before is not None and len(before) >= MAX_ACTIVE_KEYS:
            refusal = (
                f"Not created: the account has {len(before)} active keys, Venice's maximum of "
                f"{MAX_ACTIVE_KEYS}; revoke unused keys first (list_keys unused_days=90 finds candidates)."
            )
            call.record("refused", f"active key limit: {refusal}")
            raise ToolError(refusal)
        with to_the_end():  # from the request to the delivered secret, whatever happens to the caller
            sent = True
            created: CreatedKey | None = None
            try:
                try:
                    created = await send()
                except (OutcomeUnknown, MalformedResponse) as exc:
                    # Sent, answer lost: look for the key instead of resending (a resend could make two).
                    looked_for = match or call.args
                    if before is None:
                        return _unreconcilable(call, looked_for["description"], exc)
                    return await reconcile(call, looked_for, {k.id for k in before}, exc)
                except VeniceError as exc:
                    sent = not isinstance(exc, NetworkError)  # NetworkError: nothing left this process
                    raise call.failed(exc) from None
                return await deliver(call, created, reveal)
            except ToolError:
                raise  # `failed` recorded it
            except Exception as exc:
                # A key may exist at Venice from here on: never leave without an entry and an answer.
                return unaccounted(call, exc, created)
    finally:
        if not sent:
            window.release(slot)


async def _listing(rt: Runtime, *, required: bool) -> list[ApiKey] | None:
    """The account's keys before a creation; None when they cannot be listed and need not be."""
    try:
        return await rt.client.list_keys()
    except VeniceError:
        if required:
            raise
        return None


def _made(call: WriteCall) -> tuple[str, str]:
    return ("minted", "mint") if call.tool == MINT else ("created", "create")


def unaccounted(call: WriteCall, exc: Exception, created: CreatedKey | None) -> CallToolResult:
    """The creation was sent and then something nobody planned for failed: record it and say what to check.

    Whether the secret reached its file is unknown here, so the key is not revoked blindly;
    the result names the key (when known) and both ways forward.
    """
    log.exception("unexpected error after %s was sent", call.tool)
    if created is not None:
        call.rt.scrubber.add(created.secret)
    what = call.rt.scrubber.scrub(f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}")
    made, _ = _made(call)
    detail = f"request sent, then the server failed unexpectedly ({what})"
    if created is None:
        return call.finish(
            "outcome_unknown",
            f"Unknown whether the key was {made}: the request was sent, then the server failed "
            f"unexpectedly ({what}). Check list_keys for {fence(call.args['description'])} before "
            "trying again.",
            detail=detail,
        )
    return call.finish(
        "outcome_unknown",
        f"Key …{created.last6} (id {created.id}) was {made}, then the server failed unexpectedly "
        f"({what}); its secret may not have been saved. Look for {created.id}.key in the secrets "
        f"folder; if it is not there, nobody can use the key: revoke it with revoke_key key_id={created.id}.",
        detail=detail,
        id=created.id,
        last6=created.last6,
        key_type=created.api_key_type,
    )


def _unreconcilable(call: WriteCall, description: str, exc: VeniceError) -> CallToolResult:
    """A lost answer with no listing to look in: say so, and that making it again could make two."""
    why = lost_answer(exc)
    made, make = _made(call)
    return call.finish(
        "outcome_unknown",
        f"Unknown whether the key was {made} ({why}), and this server cannot list keys to "
        f"check. Do not {make} it again yet: look for {fence(description)} in the account first.",
        detail=why,
    )


async def reconcile(
    call: WriteCall, args: dict[str, Any], before: set[str], exc: VeniceError
) -> CallToolResult:
    """The create (or mint) was sent but its answer was lost: find out whether the key exists; never resend.

    A new key is one absent from the list taken just before, with the description and
    type that were asked for (or the id Venice's broken answer named).
    """
    why = lost_answer(exc)
    desc = fence(args["description"])
    named = getattr(exc, "key_id", None)

    async def look() -> list[ApiKey]:
        return _new_keys(await call.rt.client.list_keys(), before, args, named)

    try:
        found = await read_back(call.rt, look, bool)
    except VeniceError as err:
        return call.finish(
            "outcome_unknown",
            f"Unknown whether the key was created ({why}), and reading back failed ({err}). Do not "
            f"create it again yet: check list_keys for {desc} first.",
            detail=f"{why}; reading back failed: {err}",
            id=named,
        )
    if not found:
        # A request that timed out may still be finished by Venice later; any other lost
        # answer (reset, garbage, a gateway error) ended with the exchange.
        advice = (
            f"Venice may still finish a request that timed out: check list_keys for {desc} in a "
            "minute before creating it again."
            if "Timeout" in why
            else f"Nothing was left behind; it is safe to call {call.tool} again."
        )
        return call.finish(
            "not_created",
            f"Not created: reading back shows no new key {desc} (outcome unknown at first: {why}). {advice}",
            detail=f"{why}; no new key found on two looks",
        )
    k, others = found[0], [o.id for o in found[1:]]
    also = (
        f" ({len(others)} other new key(s) match too: {', '.join(others)}; someone else may have "
        "created them)"
        if others
        else ""
    )
    return call.finish(
        "created_secret_lost",
        f"Created: id {k.id} (…{k.last6}), but its secret was lost with Venice's answer ({why}), so nobody "
        f"can use it{also}. Revoke it? Ask the user, then call revoke_key with key_id={k.id} and create a "
        "new key.",
        detail=f"{why}; found by reading back; secret never received"
        + (f"; other candidates {', '.join(others)}" if others else ""),
        id=k.id,
        last6=k.last6,
        key_type=k.api_key_type,
    )


def _new_keys(after: list[ApiKey], before: set[str], args: dict[str, Any], named: str | None) -> list[ApiKey]:
    """Keys that appeared since `before` and match the request (newest first, as Venice lists them)."""
    if named:
        exact = [k for k in after if k.id == named]
        if exact:
            return exact
    return [
        k
        for k in after
        if k.id not in before and k.description == args["description"] and k.api_key_type == args["key_type"]
    ]


# -- its secret --------------------------------------------------------------------------------


async def deliver(call: WriteCall, created: CreatedKey, reveal: Reveal) -> CallToolResult:
    """Put the new secret where a person can get it; if nowhere, revoke the key (nothing orphaned)."""
    rt = call.rt
    rt.scrubber.add(created.secret)
    path = None
    try:
        path = deliver_secret(
            rt.secrets_dir,
            created.id,
            created.secret,
            meta={"type": created.api_key_type, "description": created.description},
        )
    except SecretDeliveryError as exc:
        if not reveal.show:
            return await revoke_undeliverable(call, created, str(exc))
        failure = str(exc)
    else:
        failure = ""
    message = f"Created {created.api_key_type} key …{created.last6}" + (
        f"; secret saved to {path} (mode 0600)" if path else f"; saving the secret failed ({failure})"
    )
    if reveal.show:
        message += "; the secret is in this result: it will not be shown again."
    elif reveal.why_not:
        message += f". The secret was not shown here: {reveal.why_not}."
    else:
        message += "."
    meta = None
    if not reveal.show and reveal.offer and reveal.confirmer and path:
        pending = reveal.confirmer.request(
            action=call.tool,
            args={"key_id": created.id},
            call={"key_id": created.id},
            summary=[f"Show the secret of the new {created.api_key_type} key …{created.last6} to you, once"],
            channel=reveal.offer,
            kind="reveal",
            secret_file=str(path),
        )
        meta = pending.meta()
        if reveal.offer == "app":
            message += " The person can see it once in the approval card (Show secret)."
        else:
            message += (
                f" The person can see it on their terminal with `{APPROVE_COMMAND}` "
                f"(approval {pending.approval.id})."
            )
    if reveal.show:
        allow_in_result(created.secret)
    res = call.finish(
        "created",
        message,
        detail=(f"secret_file={path}" if path else "secret revealed inline only")
        + ("; secret shown to the model" if reveal.show else ""),
        text=message + (f"\nsecret: {created.secret}" if reveal.show else ""),
        id=created.id,
        last6=created.last6,
        key_type=created.api_key_type,
        secret_file=str(path) if path else None,
        secret=created.secret if reveal.show else None,
    )
    res.meta = meta
    return res


async def revoke_undeliverable(call: WriteCall, created: CreatedKey, why: str) -> CallToolResult:
    """The secret could not be saved anywhere: revoke the new key, so none is left that nobody can use."""
    key = {"id": created.id, "last6": created.last6, "key_type": created.api_key_type}
    try:
        await call.rt.client.delete_key(created.id)
    except VeniceError as exc:
        return call.finish(
            "created_secret_lost",
            f"Key …{created.last6} was created but its secret could not be saved ({why}) "
            f"and revoking it failed ({exc}); revoke it with revoke_key.",
            detail=f"delivery failed: {why}; revoke failed: {exc}",
            **key,
        )
    return call.finish(
        "revoked_after_delivery_failure",
        f"The secret could not be saved ({why}), so the new key was revoked and nothing "
        "is left behind. Fix VENICE_KEYS_SECRETS_DIR or use reveal_secret=true.",
        detail=why,
        **key,
    )
