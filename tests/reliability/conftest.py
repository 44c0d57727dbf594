"""Reliability fixtures: the protocol era (`mode`) comes from tests/conftest.py."""

from __future__ import annotations

from tests.support.eras import ERAS as MODES

__all__ = ["MODES"]
