"""Shared fixtures: the anyio backend. Area fixtures live in each test folder's conftest."""

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
