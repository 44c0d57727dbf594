"""Reading lists from Venice's answers: one validator per model, reused on every call."""

from __future__ import annotations

from typing import Any

import pytest

from venice_keys_mcp.venice._wire import WireError, _list_adapter, parse_model_list
from venice_keys_mcp.venice.limits import BreachLogEntry


def entry(model_id: str) -> dict[str, Any]:
    return {
        "apiKeyId": "k1",
        "modelId": model_id,
        "rateLimitTier": "paid",
        "rateLimitType": "RPM",
        "timestamp": "2026-01-02T03:04:05Z",
    }


def test_lists_of_one_model_share_one_validator_across_calls() -> None:
    first = parse_model_list({"data": [entry("m1")]}, BreachLogEntry)
    second = parse_model_list({"data": [entry("m2"), entry("m3")]}, BreachLogEntry)

    assert [e.model_id for e in first + second] == ["m1", "m2", "m3"]
    assert _list_adapter(BreachLogEntry) is _list_adapter(BreachLogEntry)


def test_a_bad_item_after_good_calls_is_still_reported_without_its_value() -> None:
    parse_model_list({"data": [entry("ok")]}, BreachLogEntry)
    bad = entry("secret-looking-model-id")
    bad["rateLimitType"] = "NOT_A_TYPE"
    with pytest.raises(WireError) as caught:
        parse_model_list({"data": [entry("fine"), bad]}, BreachLogEntry)
    assert "1.rateLimitType" in caught.value.reason
    assert "NOT_A_TYPE" not in caught.value.reason
