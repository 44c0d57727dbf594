"""`/api_keys`: list, get, create, update and revoke keys, with Venice's rules and shapes."""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from venice_keys_mcp.sandbox import validation as v
from venice_keys_mcp.sandbox.periods import change_period, current_usage
from venice_keys_mcp.sandbox.state import Account, SandboxState, StoredKey, no_limits
from venice_keys_mcp.sandbox.wire import (
    API,
    ApiError,
    authenticate,
    iso,
    parse_json,
    read_body,
    read_json,
    route,
    sandbox_state,
    set_rate_headers,
    unix_ceil,
)

CREATE_WINDOW = timedelta(seconds=60)


def _usage(amount: float) -> str:
    return f"{amount:.4f}"


def render_patched(key: StoredKey) -> dict[str, Any]:
    """A key without usage: the PATCH response's `data`."""
    return {
        "apiKeyType": key.api_key_type,
        "consumptionLimits": dict(key.limits),
        "limitPeriod": key.limit_period,
        "modelPrivacy": key.model_privacy,
        "createdAt": iso(key.created_at),
        "description": key.description,
        "expiresAt": iso(key.expires_at),
        "id": key.id,
        "last6Chars": key.last6,
        "lastUsedAt": iso(key.last_used_at),
    }


def render_listed(key: StoredKey, now: datetime) -> dict[str, Any]:
    """A key as list and get show it: masked, with usage; period usage only when capped."""
    out = render_patched(key)
    out["usage"] = {
        "trailingSevenDays": {name: _usage(key.usage_7d[name]) for name in ("usd", "vcu", "diem")}
    }
    if key.limits["usd"] is not None or key.limits["diem"] is not None:
        used = current_usage(key, now)
        out["currentPeriodUsage"] = {name: _usage(used[name]) for name in ("usd", "diem")}
    return out


def render_created(key: StoredKey, secret: str, echoed_limits: dict[str, Any]) -> dict[str, Any]:
    """The create response's `data`: the only place the secret ever appears."""
    return {
        "apiKey": secret,
        "apiKeyType": key.api_key_type,
        "consumptionLimit": echoed_limits,
        "limitPeriod": key.limit_period,
        "modelPrivacy": key.model_privacy,
        "description": key.description,
        "expiresAt": iso(key.expires_at),
        "id": key.id,
    }


def admit_creation(state: SandboxState, account_id: str, request: Request) -> None:
    """Venice allows 20 key creations a minute per user (a sliding window)."""
    now = state.now()
    window = state.windows.creations.setdefault(account_id, deque())
    while window and window[0] <= now - CREATE_WINDOW:
        window.popleft()
    limit = state.create_limit_per_minute
    if len(window) >= limit:
        reset = unix_ceil(window[0] + CREATE_WINDOW)
        set_rate_headers(request, limit, 0, reset)
        wait = max(1, reset - int(now.timestamp()))
        raise ApiError(
            429,
            f"Rate limit exceeded: at most {limit} API key creations per minute. "
            f"Try again in {wait} seconds.",
        )
    window.append(now)
    reset = unix_ceil(window[0] + CREATE_WINDOW)
    set_rate_headers(request, limit, limit - len(window), reset)


def create_for_account(state: SandboxState, account: Account, body: dict[str, Any]) -> tuple[str, StoredKey]:
    """Apply the 500-key limit and the expiry rule, then store the key (shared with web3)."""
    expires_at = body.get("expiresAt", v.CLEAR)
    expires_at = None if expires_at is v.CLEAR else expires_at
    if expires_at is not None and expires_at <= state.now():
        raise v.expiry_in_past()
    if len(state.active_keys(account.id)) >= state.max_active_keys:
        raise ApiError(
            400,
            f"You have reached the maximum of {state.max_active_keys} active API keys. "
            "Delete keys you no longer use before creating new ones.",
        )
    secret, key = state.create_key(
        account.id,
        api_key_type=body["apiKeyType"],
        description=body.get("description", "Web3 API Key"),
        expires_at=expires_at,
        limits=body.get("consumptionLimit"),
        limit_period=body.get("limitPeriod", "EPOCH"),
        model_privacy=body.get("modelPrivacy", "ALL"),
    )
    state.changed()
    return secret, key


@route(API)
async def list_keys(request: Request) -> JSONResponse:
    state = sandbox_state(request)
    caller = authenticate(request, admin=True)
    now = state.now()
    return JSONResponse(
        {"object": "list", "data": [render_listed(k, now) for k in state.active_keys(caller.account_id)]}
    )


@route(API + "/{key_id}")
async def get_key(request: Request) -> JSONResponse:
    state = sandbox_state(request)
    caller = authenticate(request, admin=True)
    key = state.active_key(caller.account_id, request.path_params["key_id"])
    if key is None:
        raise ApiError(400, "API key not found")
    return JSONResponse({"data": render_listed(key, state.now())})


@route(API, "POST")
async def create_key(request: Request) -> JSONResponse:
    state = sandbox_state(request)
    caller = authenticate(request, admin=True)
    admit_creation(state, caller.account_id, request)
    body = v.check_body(await read_json(request), v.CREATE)
    secret, key = create_for_account(state, state.accounts[caller.account_id], body)
    return JSONResponse({"success": True, "data": render_created(key, secret, dict(key.limits))})


@route(API, "PATCH")
async def update_key(request: Request) -> JSONResponse:
    state = sandbox_state(request)
    caller = authenticate(request, admin=True)
    body = v.check_body(await read_json(request), v.UPDATE)
    key = state.active_key(caller.account_id, body["id"])
    if key is None:
        raise ApiError(400, "API key not found or expired")
    if "expiresAt" in body:
        expires_at = None if body["expiresAt"] is v.CLEAR else body["expiresAt"]
        if expires_at is not None and expires_at <= state.now():
            raise v.expiry_in_past()
        key.expires_at = expires_at
    if "description" in body:
        key.description = body["description"]
    if "consumptionLimit" in body:
        if state.faults.consumption_limit_merge == "replace":  # the object sent is the whole set
            key.limits = {**no_limits(), **body["consumptionLimit"]}
        else:
            key.limits.update(body["consumptionLimit"])
    if "limitPeriod" in body:
        change_period(key, body["limitPeriod"], state.now())
    key.model_privacy = body.get("modelPrivacy", key.model_privacy)
    state.changed()
    return JSONResponse({"success": True, "data": render_patched(key)})


@route(API, "DELETE")
async def delete_key(request: Request) -> JSONResponse:
    state = sandbox_state(request)
    caller = authenticate(request, admin=True)
    key_id = request.query_params.get("id")
    raw = await read_body(request)
    if not key_id and raw.strip():
        body = parse_json(raw)
        if not isinstance(body, dict):
            raise v.invalid([v.issue([], "invalid_type", f"Expected object, received {v.type_name(body)}")])
        key_id = body.get("id")
    if not isinstance(key_id, str) or not key_id:
        raise ApiError(
            400,
            'Missing API key id: pass it as ?id=<id> or as a JSON body {"id": "<id>"}.',
            details={"_errors": [], "id": {"_errors": ["Required"]}},
        )
    key = state.keys.get(key_id)
    if key is None or key.account_id != caller.account_id:
        raise ApiError(400, "API key could not be found")
    state.revoke(key_id)
    state.changed()
    return JSONResponse({"success": True})
