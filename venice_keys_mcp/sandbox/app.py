"""`create_app(state)`: the Starlette app that answers like Venice's `/api_keys` and `/billing` endpoints."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from venice_keys_mcp.sandbox import control, routes_billing, routes_keys, routes_limits, web3
from venice_keys_mcp.sandbox.faults import FaultInjector
from venice_keys_mcp.sandbox.guard import RateGuard, rate_values, with_rate_headers
from venice_keys_mcp.sandbox.state import SandboxState
from venice_keys_mcp.sandbox.wire import RATE_HEADERS_SCOPE_KEY, ApiError

API = "/api/v1/api_keys"
BILLING = "/api/v1/billing"
Endpoint = Callable[[Request], Awaitable[Response]]


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.response()


async def _http_error(request: Request, exc: Exception) -> Response:
    """404 and 405 as JSON, never Starlette's plain-text pages."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = f"Not found: {request.method} {request.url.path}"
    elif exc.status_code == 405:
        message = f"Method {request.method} is not allowed on {request.url.path}"
    else:
        message = str(exc.detail)
    return JSONResponse({"error": message}, status_code=exc.status_code, headers=exc.headers)


async def _unexpected(request: Request, exc: Exception) -> Response:
    """Venice's 500. Starlette calls this outside the guard, so the rate headers come from
    the values the guard left in the scope (absent for the `/_sandbox` controls)."""
    response = JSONResponse({"error": "An unknown error occurred"}, status_code=500)
    holder = request.scope.get(RATE_HEADERS_SCOPE_KEY)
    if isinstance(holder, dict):
        response.raw_headers = with_rate_headers(response.raw_headers, rate_values(holder))
    return response


def _route(path: str, **by_method: Endpoint) -> Route:
    """One route per path, so a 405 lists every allowed method in its Allow header."""

    async def dispatch(request: Request) -> Response:
        return await by_method[request.method if request.method != "HEAD" else "GET"](request)

    return Route(path, dispatch, methods=list(by_method))


def create_app(state: SandboxState) -> Starlette:
    """A fresh app over `state`; faults and clock are driven through `state` or `/_sandbox`."""
    routes = [
        _route(
            API,
            GET=routes_keys.list_keys,
            POST=routes_keys.create_key,
            PATCH=routes_keys.update_key,
            DELETE=routes_keys.delete_key,
        ),
        _route(f"{API}/rate_limits", GET=routes_limits.rate_limits),
        _route(f"{API}/rate_limits/log", GET=routes_limits.breach_log),
        _route(f"{API}/generate_web3_key", GET=web3.get_token, POST=web3.mint_key),
        _route(API + "/{key_id}", GET=routes_keys.get_key),
        _route(f"{BILLING}/balance", GET=routes_billing.balance),
        _route(f"{BILLING}/usage-analytics", GET=routes_billing.usage_analytics),
        _route("/_sandbox/health", GET=control.health),
        _route(
            "/_sandbox/faults", GET=control.list_faults, POST=control.add_fault, DELETE=control.clear_faults
        ),
        _route("/_sandbox/clock", POST=control.move_clock),
        _route("/_sandbox/limits", GET=control.limits, POST=control.limits),
        _route("/_sandbox/windows", DELETE=control.reset_windows),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(RateGuard, state=state), Middleware(FaultInjector, state=state)],
        exception_handlers={ApiError: _api_error, HTTPException: _http_error, Exception: _unexpected},
    )
    app.state.sandbox = state
    return app
