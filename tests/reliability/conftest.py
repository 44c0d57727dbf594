"""Reliability fixtures: the protocol-era parameter shared with the server tests."""

from __future__ import annotations

import pytest

MODES = ["legacy", "2026-07-28"]


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return request.param
