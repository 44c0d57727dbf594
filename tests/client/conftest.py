"""Client fixtures: one real sandbox process on loopback for the whole session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from fake_venice import CountingTransport
from support.sandbox_process import SandboxProcess, running_sandbox

from venice_keys_mcp.venice import RetryPolicy, VeniceClient

FAST = RetryPolicy(max_attempts=4, base_delay=0.005, max_delay=0.02, total_budget=3.0)
Connect = Callable[..., tuple[VeniceClient, CountingTransport]]


@pytest.fixture(scope="session")
def sandbox_process() -> Iterator[SandboxProcess]:
    with running_sandbox() as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(sandbox_process: SandboxProcess) -> Iterator[SandboxProcess]:
    """The session's sandbox with no faults pending before or after the test."""
    sandbox_process.clear_faults()
    yield sandbox_process
    sandbox_process.clear_faults()


@pytest.fixture
async def connect(sandbox: SandboxProcess) -> AsyncIterator[Connect]:
    """Build clients on the loopback sandbox (admin key by default); all closed at the end."""
    made: list[VeniceClient] = []

    def build(
        api_key: str | None = sandbox.admin_key, **kwargs: Any
    ) -> tuple[VeniceClient, CountingTransport]:
        counter = CountingTransport()
        kwargs.setdefault("retry", FAST)
        kwargs.setdefault("timeout", 5.0)
        base_url = kwargs.pop("base_url", sandbox.base_url)
        client = VeniceClient(api_key, base_url, transport=counter, **kwargs)
        made.append(client)
        return client, counter

    yield build
    for client in made:
        await client.aclose()
