"""Shared fixtures: the anyio backend. Area fixtures live in each test folder's conftest.

With `CLONE_READ_GUARD=1` (set by `.ci/run`) the session fails if anything, in the
tests or in the processes they start, reads outside this clone: see tests/support/read_guard.py.
"""

import pytest

from tests.support import read_guard


def pytest_configure(config: pytest.Config) -> None:
    read_guard.register(config)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
