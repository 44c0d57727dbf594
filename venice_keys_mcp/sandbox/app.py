"""`create_app(state)`: the Starlette app that answers like Venice's `/api_keys` and `/billing` endpoints."""

from __future__ import annotations

import importlib
import pkgutil

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import venice_keys_mcp.sandbox as sandbox
from venice_keys_mcp.sandbox.faults import FaultInjector
from venice_keys_mcp.sandbox.guard import RateGuard, rate_values, with_rate_headers
from venice_keys_mcp.sandbox.state import SandboxState
from venice_keys_mcp.sandbox.wire import ENDPOINTS, RATE_HEADERS_SCOPE_KEY, ApiError, Endpoint

#: The modules that declare endpoints (`@route`): every `routes_*` module, the wallet flow, the controls.
ROUTE_MODULES = ("web3", "control")


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


def _route(path: str, by_method: dict[str, Endpoint]) -> Route:
    """One route per path, so a 405 lists every allowed method in its Allow header."""

    async def dispatch(request: Request) -> Response:
        return await by_method[request.method if request.method != "HEAD" else "GET"](request)

    return Route(path, dispatch, methods=list(by_method))


def endpoints() -> dict[str, dict[str, Endpoint]]:
    """Every declared endpoint, its module imported (a new `routes_*` module needs no line here)."""
    names = [m.name for m in pkgutil.iter_modules(sandbox.__path__) if m.name.startswith("routes_")]
    for name in (*names, *ROUTE_MODULES):
        importlib.import_module(f"{sandbox.__name__}.{name}")
    return ENDPOINTS


def create_app(state: SandboxState) -> Starlette:
    """A fresh app over `state`; faults and clock are driven through `state` or `/_sandbox`."""
    # Fixed paths before ones with a `{parameter}`: `/api_keys/rate_limits` is not a key id.
    table = sorted(endpoints().items(), key=lambda item: "{" in item[0])
    routes = [_route(path, methods) for path, methods in table]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(RateGuard, state=state), Middleware(FaultInjector, state=state)],
        exception_handlers={ApiError: _api_error, HTTPException: _http_error, Exception: _unexpected},
    )
    app.state.sandbox = state
    return app
