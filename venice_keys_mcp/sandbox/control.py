"""`/_sandbox/...`: test controls for a sandbox running as a separate process.

They mirror what in-process tests do on `SandboxState` directly: inject and clear
faults, move the clock, check health. No auth: the sandbox serves test data only.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from venice_keys_mcp.sandbox.faults import LIMIT_MERGES
from venice_keys_mcp.sandbox.state import RateWindows
from venice_keys_mcp.sandbox.wire import ApiError, iso, read_json, route, sandbox_state

_FAULT_FIELDS = {
    "method",
    "path",
    "latency",
    "status",
    "drop",
    "malformed",
    "content_type",
    "body",
    "headers",
    "times",
    "wallet_verification_down",
    "consumption_limit_merge",
}
_SWITCHES = {"method", "path", "wallet_verification_down", "consumption_limit_merge"}


def _fault_kwargs(body: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(body) - _FAULT_FIELDS)
    if unknown:
        raise ApiError(400, f"Unknown fault field(s): {', '.join(unknown)}.")
    kwargs = {k: body[k] for k in _FAULT_FIELDS - _SWITCHES if k in body}
    if isinstance(kwargs.get("body"), str):
        kwargs["body"] = kwargs["body"].encode()
    if "headers" in kwargs and kwargs["headers"] is not None:
        if not isinstance(kwargs["headers"], dict):
            raise ApiError(400, "Fault 'headers' must be an object of header names to values.")
        kwargs["headers"] = {str(k): str(val) for k, val in kwargs["headers"].items()}
    return kwargs


@route("/_sandbox/faults", "POST")
async def add_fault(request: Request) -> JSONResponse:
    state = sandbox_state(request)
    body = await read_json(request)
    if not isinstance(body, dict):
        raise ApiError(400, "Send a JSON object with the fault's fields.")
    kwargs = _fault_kwargs(body)
    if "wallet_verification_down" in body:
        state.faults.wallet_verification_down = bool(body["wallet_verification_down"])
    if "consumption_limit_merge" in body:
        if body["consumption_limit_merge"] not in LIMIT_MERGES:
            raise ApiError(400, f"'consumption_limit_merge' must be one of: {', '.join(LIMIT_MERGES)}.")
        state.faults.consumption_limit_merge = body["consumption_limit_merge"]
    if "method" in body or "path" in body:
        if not isinstance(body.get("method"), str) or not isinstance(body.get("path"), str):
            raise ApiError(400, "A fault needs 'method' and 'path' strings (e.g. POST, /api_keys).")
        try:
            state.faults.add(body["method"], body["path"], **kwargs)
        except (TypeError, ValueError) as exc:
            raise ApiError(400, f"Invalid fault: {exc}") from None
    return JSONResponse({"success": True, "pending": [f.describe() for f in state.faults.pending]})


@route("/_sandbox/faults")
async def list_faults(request: Request) -> JSONResponse:
    faults = sandbox_state(request).faults
    return JSONResponse(
        {
            "pending": [f.describe() for f in faults.pending],
            "wallet_verification_down": faults.wallet_verification_down,
            "consumption_limit_merge": faults.consumption_limit_merge,
        }
    )


@route("/_sandbox/faults", "DELETE")
async def clear_faults(request: Request) -> JSONResponse:
    sandbox_state(request).faults.clear()
    return JSONResponse({"success": True})


_LIMITS = (
    "request_budget",
    "create_limit_per_minute",
    "max_active_keys",
    "abuse_threshold",
    "abuse_window_seconds",
    "abuse_block_seconds",
    "failed_requests_threshold",
)


@route("/_sandbox/limits")
@route("/_sandbox/limits", "POST")
async def limits(request: Request) -> JSONResponse:
    """Read or change the limits (e.g. raise the abuse threshold for a long shared session)."""
    state = sandbox_state(request)
    if request.method == "POST":
        body = await read_json(request)
        if not isinstance(body, dict) or set(body) - set(_LIMITS):
            raise ApiError(400, f"Send an object with any of: {', '.join(_LIMITS)}.")
        for name, value in body.items():
            if type(value) not in (int, float) or value < 0:
                raise ApiError(400, f"'{name}' must be a number, zero or more.")
            setattr(state, name, type(getattr(state, name))(value))
    return JSONResponse({name: getattr(state, name) for name in _LIMITS})


@route("/_sandbox/windows", "DELETE")
async def reset_windows(request: Request) -> JSONResponse:
    """Forget request budgets, failure counts, abuse blocks and creation windows."""
    sandbox_state(request).windows = RateWindows()
    return JSONResponse({"success": True})


@route("/_sandbox/clock", "POST")
async def move_clock(request: Request) -> JSONResponse:
    state = sandbox_state(request)
    body = await read_json(request)
    seconds = body.get("advance") if isinstance(body, dict) else None
    if type(seconds) not in (int, float) or seconds < 0:
        raise ApiError(400, 'Send {"advance": <seconds, zero or more>}.')
    return JSONResponse({"now": iso(state.advance(seconds))})


@route("/_sandbox/health")
async def health(request: Request) -> JSONResponse:
    state = sandbox_state(request)
    active = len(state.active_keys(state.demo.account_id)) if state.has_demo else 0
    return JSONResponse(
        {
            "ok": True,
            "now": iso(state.now()),
            "activeKeys": active,
            "pendingFaults": len(state.faults.pending),
        }
    )
