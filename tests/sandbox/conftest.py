"""Sandbox fixtures: a seeded state, its app, and clients that check every answer.

Every response an API client here receives is validated against the OpenAPI and must
carry the `x-ratelimit-*` headers, so each test is also a contract test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from typing import Any

import httpx2
import pytest
from starlette.applications import Starlette

from venice_keys_mcp.sandbox import SandboxState, asgi_transport, create_app, seeded_state

from .openapi_contract import assert_matches_openapi, path_template

BASE_URL = "http://sandbox/api/v1"
RATE_HEADERS = ("x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests")


async def check_contract(response: httpx2.Response) -> None:
    """Response hook: the body matches the OpenAPI and the rate-limit headers are there."""
    await response.aread()
    request = response.request
    if not request.url.path.startswith("/api/v1") or request.method == "HEAD":
        return
    for name in RATE_HEADERS:
        assert response.headers.get(name, "").isdigit(), (
            f"{name} missing on {request.method} {request.url.path}"
        )
    assert response.headers["content-type"].startswith("application/json")
    template = path_template(request.url.path)
    assert_matches_openapi(request.method, template, response.status_code, response.json())


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def contract_client(state: SandboxState, key: str | None = None) -> httpx2.AsyncClient:
    """A checked in-process client over its own app, for tests that build their own state."""
    return httpx2.AsyncClient(
        transport=asgi_transport(create_app(state)),
        base_url=BASE_URL,
        headers=bearer(key) if key else None,
        event_hooks={"response": [check_contract]},
    )


@pytest.fixture
def state() -> SandboxState:
    return seeded_state(seed=7)


@pytest.fixture
def app(state: SandboxState) -> Starlette:
    return create_app(state)


ClientFactory = Callable[..., httpx2.AsyncClient]


@pytest.fixture
async def make_client(app: Starlette) -> AsyncIterator[ClientFactory]:
    """`make_client(key=None, checked=True)`: an in-process client, closed after the test."""
    async with AsyncExitStack() as stack:

        def make(key: str | None = None, *, checked: bool = True, **kwargs: Any) -> httpx2.AsyncClient:
            kwargs.setdefault("base_url", BASE_URL)
            client = httpx2.AsyncClient(
                transport=asgi_transport(app),
                headers=bearer(key) if key else None,
                event_hooks={"response": [check_contract]} if checked else None,
                **kwargs,
            )
            stack.push_async_callback(client.aclose)
            return client

        yield make


@pytest.fixture
def admin(make_client: ClientFactory, state: SandboxState) -> httpx2.AsyncClient:
    return make_client(state.demo.admin_key)


@pytest.fixture
def inference(make_client: ClientFactory, state: SandboxState) -> httpx2.AsyncClient:
    return make_client(state.demo.inference_key)


@pytest.fixture
def anon(make_client: ClientFactory) -> httpx2.AsyncClient:
    return make_client()


@pytest.fixture
def raw(make_client: ClientFactory, state: SandboxState) -> httpx2.AsyncClient:
    """An ADMIN client that does not check answers (for deliberately broken ones)."""
    return make_client(state.demo.admin_key, checked=False)
