"""The contract helper itself: OpenAPI 3.0 quirks become the right JSON Schema."""

from __future__ import annotations

from pathlib import Path

import pytest

from .openapi_contract import SPEC_PATH, assert_matches_openapi, path_template, to_json_schema


def test_reference_spec_is_inside_the_repository() -> None:
    repo = Path(__file__).resolve().parents[2]
    assert SPEC_PATH.is_file(), f"expected Venice's OpenAPI at {SPEC_PATH}"
    assert SPEC_PATH.resolve().is_relative_to(repo), f"{SPEC_PATH} lies outside the repository {repo}"


def test_nullable_members_of_any_of_mean_null() -> None:
    schema = to_json_schema({"anyOf": [{"type": "number"}, {"nullable": True, "title": "null"}]}, {})
    assert schema == {"anyOf": [{"type": "number"}, {"type": "null"}]}


def test_nullable_type_accepts_null() -> None:
    assert to_json_schema({"type": "string", "nullable": True}, {}) == {"type": ["string", "null"]}


def test_refs_are_inlined() -> None:
    spec = {"components": {"schemas": {"E": {"type": "object", "required": ["error"]}}}}
    assert to_json_schema({"$ref": "#/components/schemas/E"}, spec) == {
        "type": "object",
        "required": ["error"],
    }


def test_concrete_paths_map_to_templates() -> None:
    assert path_template("/api/v1/api_keys") == "/api_keys"
    assert path_template("/api/v1/api_keys/rate_limits/log") == "/api_keys/rate_limits/log"
    assert path_template("/api/v1/api_keys/0b7c1e7e-5d1b-4a51-9a8e-2f2b3c4d5e6f") == "/api_keys/{id}"


def test_extra_field_in_a_listed_key_is_a_contract_failure() -> None:
    key = {
        "apiKeyType": "ADMIN",
        "consumptionLimits": {"usd": None, "diem": None, "vcu": None},
        "limitPeriod": "EPOCH",
        "modelPrivacy": "ALL",
        "createdAt": "2026-01-01T00:00:00.000Z",
        "expiresAt": None,
        "id": "x",
        "last6Chars": "abcdef",
        "lastUsedAt": None,
    }
    assert_matches_openapi("GET", "/api_keys", 200, {"object": "list", "data": [key]})
    with pytest.raises(AssertionError, match="apiKey"):
        assert_matches_openapi("GET", "/api_keys", 200, {"object": "list", "data": [{**key, "apiKey": "s"}]})


def test_undocumented_error_status_must_still_be_a_standard_error() -> None:
    assert_matches_openapi("GET", "/api_keys", 429, {"error": "slow down"})
    with pytest.raises(AssertionError):
        assert_matches_openapi("GET", "/api_keys", 429, {"message": "slow down"})
