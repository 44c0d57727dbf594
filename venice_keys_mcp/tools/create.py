"""`create_key`: a new key whose secret goes to a 0600 file, never lost, never shown unasked."""

import time
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, Elicit, ElicitationResult, MCPServer, Resolve
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult
from pydantic import Field

from venice_keys_mcp.runtime import Runtime
from venice_keys_mcp.safety.confirm import ApproveForm, Confirmer, Gate
from venice_keys_mcp.safety.fencing import fence
from venice_keys_mcp.safety.policy import PolicyRefusal, check_create
from venice_keys_mcp.safety.result_scrub import allow_in_result
from venice_keys_mcp.safety.secrets import SecretDeliveryError, deliver_secret
from venice_keys_mcp.tools.common import WRITE, result, venice_errors
from venice_keys_mcp.tools.outcomes import CreateResult, Preview, needs_token_text, parse_expiry, record
from venice_keys_mcp.tools.views import now_utc
from venice_keys_mcp.venice import CreatedKey, CreateKeyRequest, OutcomeUnknown, VeniceError
from venice_keys_mcp.venice.models import LimitsInput

ACTION = "create_key"
EXPIRES_PATTERN = r"^(\d{4}-\d\d-\d\d(T\d\d:\d\d:\d\d(\.\d{3})?Z)?)?$"
CREATES_PER_MINUTE = 20
MAX_ACTIVE_KEYS = 500

Description = Annotated[str, Field(min_length=1, max_length=64)]
Limit = Annotated[float | None, Field(ge=0, le=9_999_999_999)]
Period = Literal["EPOCH", "MONTH", "LIFETIME"]
Privacy = Literal["ALL", "PRIVATE_TEXT", "PRIVATE_ONLY"]
Expiry = Annotated[
    str | None,
    Field(pattern=EXPIRES_PATTERN, description="UTC; omit: never"),
]
Token = Annotated[str | None, Field(description="Only once the user approved")]

def create_changes(args: dict[str, Any]) -> list[str]:
    caps = [f"{u} cap {args[k]:g}" for k, u in (("usd_limit", "USD"), ("diem_limit", "DIEM")) if args.get(k) is not None]
    return [
        f"Create a new {args['key_type']} key {fence(args['description'])}",
        ", ".join(caps) + f" per {args.get('limit_period') or 'EPOCH'}" if caps else "no spend cap",
        f"expires {args['expires_at']}" if args.get("expires_at") else "never expires",
        f"model privacy {args.get('model_privacy') or 'ALL'}",
    ]

def register(server: MCPServer, rt: Runtime, confirmer: Confirmer) -> None:
    recent: list[float] = []  # monotonic times of our own creations, for the 20-per-minute rule

    def policy_check(args: dict[str, Any]) -> None:
        check_create(
            rt.policy,
            key_type=args["key_type"],
            usd=args.get("usd_limit"),
            diem=args.get("diem_limit"),
            expires_at=parse_expiry(args.get("expires_at")),
            now=now_utc(),
        )

    async def gate(
        description: str,
        key_type: str,
        usd_limit: float | None,
        diem_limit: float | None,
        limit_period: str | None,
        model_privacy: str | None,
        expires_at: str | None,
        reveal_secret: bool,
        confirmation_token: str | None,
        ctx: Context[Any, Any],
    ) -> Gate | Elicit[ApproveForm]:
        args = dict(description=description, key_type=key_type, usd_limit=usd_limit, diem_limit=diem_limit,
                    limit_period=limit_period, model_privacy=model_privacy, expires_at=expires_at,
                    reveal_secret=reveal_secret)
        try:
            policy_check(args)
        except PolicyRefusal as exc:
            return Gate(decision="refused", method="policy", reason=str(exc))
        if key_type != "ADMIN":
            return Gate(decision="proceed", method="not_needed")
        message = "Create an ADMIN key (full control of this account's keys)?\n" + "\n".join(create_changes(args))
        return confirmer.gate(ctx, action=ACTION, args=args, token=confirmation_token, message=message,
                              form=ApproveForm)

    @server.tool(title="Create key", annotations=WRITE)
    @venice_errors
    async def create_key(
        description: Description,
        confirmation: Annotated[ElicitationResult[ApproveForm], Resolve(gate)],
        key_type: Literal["INFERENCE", "ADMIN"] = "INFERENCE",
        usd_limit: Limit = None,
        diem_limit: Limit = None,
        limit_period: Period | None = None,
        model_privacy: Privacy | None = None,
        expires_at: Expiry = None,
        reveal_secret: bool = False,
        confirmation_token: Token = None,
    ) -> Annotated[CallToolResult, CreateResult]:
        """Create a key; its secret goes to a 0600 file, shown only if reveal_secret. ADMIN keys need approval."""
        args: dict[str, Any] = dict(description=description, key_type=key_type, usd_limit=usd_limit,
                                    diem_limit=diem_limit, limit_period=limit_period, model_privacy=model_privacy,
                                    expires_at=expires_at, reveal_secret=reveal_secret)
        decision = confirmer.settle(confirmation, action=ACTION, args=args, token=confirmation_token)
        if not decision.go:
            record(rt, tool=ACTION, key_id=None, args=args, method=decision.method, outcome=decision.status,
                   detail=decision.reason)
            if decision.status == "refused" and decision.method == "policy":
                raise ToolError(decision.reason)
            preview = Preview(action="create", changes=create_changes(args))
            if decision.status == "confirmation_required":
                out = CreateResult(status="confirmation_required", message="Confirmation required; nothing created.",
                                   confirmation_token=rt.tokens.issue(ACTION, args), preview=preview)
                return result(out, needs_token_text("creation", preview, decision.reason))
            out = CreateResult(status=decision.status, message=decision.reason or "Nothing created.")
            return result(out, f"Not created ({decision.status}). {out.message}")

        now = time.monotonic()
        recent[:] = [t for t in recent if now - t < 60]
        if len(recent) >= CREATES_PER_MINUTE:
            wait = int(60 - (now - recent[0])) + 1
            raise ToolError(f"Venice allows {CREATES_PER_MINUTE} key creations a minute and this server made "
                            f"{len(recent)} in the last minute; try again in {wait} s.")
        before = await rt.client.list_keys()
        if len(before) >= MAX_ACTIVE_KEYS:
            raise ToolError(f"The account has {len(before)} active keys, Venice's maximum of {MAX_ACTIVE_KEYS}; "
                            "revoke unused keys first (list_keys unused_days=90 finds candidates).")
        request = CreateKeyRequest(
            api_key_type=key_type,
            description=description,
            **({"expires_at": expires_at} if expires_at is not None else {}),
            **({"consumption_limit": _limits(usd_limit, diem_limit)} if usd_limit is not None or diem_limit is not None
               else {}),
            **({"limit_period": limit_period} if limit_period else {}),
            **({"model_privacy": model_privacy} if model_privacy else {}),
        )
        recent.append(now)
        try:
            created = await rt.client.create_key(request)
        except OutcomeUnknown:
            return await _reconcile(rt, args, {k.id for k in before}, description, decision.method)
        except VeniceError as exc:
            record(rt, tool=ACTION, key_id=None, args=args, method=decision.method, outcome="failed",
                   detail=str(exc))
            raise
        return await deliver(rt, ACTION, created, args, decision.method, reveal_secret)

def _limits(usd: float | None, diem: float | None) -> LimitsInput:
    return LimitsInput(**{k: v for k, v in (("usd", usd), ("diem", diem)) if v is not None})

async def deliver(
    rt: Runtime, tool: str, created: CreatedKey, args: dict[str, Any], method: str, reveal: bool
) -> CallToolResult:
    """Put the new secret where a person can get it; if nowhere, revoke the key (nothing orphaned)."""
    rt.scrubber.add(created.secret)
    path = None
    try:
        path = deliver_secret(rt.secrets_dir, created.id, created.secret,
                              meta={"type": created.api_key_type, "description": created.description})
    except SecretDeliveryError as exc:
        if not reveal:
            return await _revoke_undeliverable(rt, tool, created, args, method, str(exc))
        failure = str(exc)
    else:
        failure = ""
    out = CreateResult(
        status="created",
        key_id=created.id,

        last6=created.last6,
        key_type=created.api_key_type,
        secret_file=str(path) if path else None,
        message=f"Created {created.api_key_type} key …{created.last6}"
        + (f"; secret saved to {path} (mode 0600)" if path else f"; saving the secret failed ({failure})")
        + ("; the secret is in this result: it will not be shown again." if reveal else "."),
    )
    if reveal:
        allow_in_result(created.secret)
        out.secret = created.secret
    record(rt, tool=tool, key_id=created.id, args=args, method=method, outcome="created",
           detail=f"secret_file={path}" if path else "secret revealed inline only")
    return result(out, out.message + (f"\nsecret: {created.secret}" if reveal else ""))

async def _revoke_undeliverable(
    rt: Runtime, tool: str, created: CreatedKey, args: dict[str, Any], method: str, why: str
) -> CallToolResult:
    try:
        await rt.client.delete_key(created.id)
    except VeniceError as exc:
        record(rt, tool=tool, key_id=created.id, args=args, method=method, outcome="created_secret_lost",
               detail=f"delivery failed: {why}; revoke failed: {exc}")
        out = CreateResult(status="created_secret_lost", key_id=created.id, last6=created.last6,
                           key_type=created.api_key_type,
                           message=f"Key …{created.last6} was created but its secret could not be saved ({why}) "
                           f"and revoking it failed ({exc}); revoke it with revoke_key.")
        return result(out, out.message)
    record(rt, tool=tool, key_id=created.id, args=args, method=method, outcome="revoked_after_delivery_failure",
           detail=why)
    out = CreateResult(status="revoked_after_delivery_failure", key_id=created.id,
                       last6=created.last6, key_type=created.api_key_type,
                       message=f"The secret could not be saved ({why}), so the new key was revoked and nothing "
                       "is left behind. Fix VENICE_KEYS_SECRETS_DIR or use reveal_secret=true.")
    return result(out, out.message)

async def _reconcile(
    rt: Runtime, args: dict[str, Any], before: set[str], description: str, method: str
) -> CallToolResult:
    """The create was sent but no answer came: find out whether the key exists; never resend."""
    try:
        after = await rt.client.list_keys()
    except VeniceError as exc:
        record(rt, tool=ACTION, key_id=None, args=args, method=method, outcome="outcome_unknown", detail=str(exc))
        out = CreateResult(status="outcome_unknown", message="The connection dropped and Venice could not be "
                           "asked whether the key was created; check list_keys before trying again.")
        return result(out, out.message)
    new = [k for k in after if k.id not in before and k.description == description]
    if not new:
        record(rt, tool=ACTION, key_id=None, args=args, method=method, outcome="not_created",
               detail="connection dropped; no new key found")
        out = CreateResult(status="not_created", message="The connection dropped before Venice created the key: "
                           "no key was created. It is safe to call create_key again.")
        return result(out, out.message)
    k = new[0]
    record(rt, tool=ACTION, key_id=k.id, args=args, method=method, outcome="created_secret_lost",
           detail="connection dropped after creation; secret never received")
    out = CreateResult(status="created_secret_lost", key_id=k.id, last6=k.last6, key_type=k.api_key_type,
                       message=f"Created: id {k.id} (…{k.last6}), but the connection dropped before its secret "
                       "arrived, so nobody has it. Revoke it with revoke_key and create a new one.")
    return result(out, out.message)
