"""Validate response bodies against Venice's published OpenAPI (the `/api_keys` and `/billing` subsets).

Importable from any test folder: `from tests.sandbox.openapi_contract import
assert_matches_openapi`. The spec is Venice's published file, copied unchanged into
`tests/contract/` so the suite passes in any clone; a missing spec is a loud failure,
never a silent skip. A `/billing/...` path is checked against the billing subset, every
other path against the `/api_keys` one.

OpenAPI 3.0 is not JSON Schema: `nullable: true` has to become a `"null"` type, and
`anyOf` members that are just `{nullable: true, title: 'null'}` mean "null". `$ref`s
are inlined. Error statuses an operation does not list are checked against
StandardError (and DetailedError when the body has `details`).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import jsonschema
import yaml

REFERENCE_DIR = Path(__file__).resolve().parents[1] / "contract"
SPEC_PATH = REFERENCE_DIR / "venice-api-keys.openapi.yaml"
BILLING_SPEC_PATH = REFERENCE_DIR / "venice-billing.openapi.yaml"
API_PREFIX = "/api/v1"
_DROPPED = {"example", "nullable", "deprecated", "title", "x-guidance"}


@functools.cache
def load_openapi(path: Path = SPEC_PATH) -> dict[str, Any]:
    if not path.is_file():
        raise AssertionError(
            f"Venice OpenAPI reference not found at {path}: it belongs in the repository "
            f"(tests/contract/{path.name}, Venice's published file as it is)."
        )
    return yaml.safe_load(path.read_text())  # type: ignore[no-any-return]


def spec_for(template: str) -> dict[str, Any]:
    """The OpenAPI subset that documents `template`."""
    return load_openapi(BILLING_SPEC_PATH if template.startswith("/billing/") else SPEC_PATH)


def _resolve(ref: str, spec: dict[str, Any]) -> dict[str, Any]:
    node: Any = spec
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node  # type: ignore[no-any-return]


def to_json_schema(node: Any, spec: dict[str, Any] | None = None) -> Any:
    """An OpenAPI 3.0 schema as a JSON Schema (draft 2020-12), references inlined."""
    spec = spec if spec is not None else load_openapi()
    if isinstance(node, list):
        return [to_json_schema(item, spec) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return to_json_schema(_resolve(node["$ref"], spec), spec)
    if node.get("nullable") and "type" not in node and not ({"properties", "anyOf", "enum"} & set(node)):
        return {"type": "null"}  # the `{nullable: true, title: 'null'}` members of anyOf
    out = {k: to_json_schema(v, spec) for k, v in node.items() if k not in _DROPPED and k != "properties"}
    if isinstance(node.get("properties"), dict):  # property names are data, never filtered
        out["properties"] = {name: to_json_schema(sub, spec) for name, sub in node["properties"].items()}
    if node.get("nullable"):
        if "type" in out:
            out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    if "properties" in out and isinstance(out["properties"], dict) and "type" not in out:
        out["type"] = "object"
    return out


def path_template(path: str) -> str:
    """The OpenAPI path for a concrete request path (`/api/v1/api_keys/<uuid>` -> `/api_keys/{id}`)."""
    path = path.removeprefix(API_PREFIX).rstrip("/") or "/"
    if path in spec_for(path)["paths"]:
        return path
    if re.fullmatch(r"/api_keys/[^/]+", path):
        return "/api_keys/{id}"
    return path


def response_schema(method: str, template: str, status: int) -> dict[str, Any]:
    spec = spec_for(template)
    operation = spec["paths"].get(template, {}).get(method.lower())
    if operation is not None:
        documented = operation["responses"].get(str(status))
        if documented is not None:
            return to_json_schema(documented["content"]["application/json"]["schema"], spec)  # type: ignore[no-any-return]
    if status >= 400:
        return to_json_schema({"$ref": "#/components/schemas/StandardError"}, spec)  # type: ignore[no-any-return]
    raise AssertionError(f"{method.upper()} {template} has no documented {status} response in the OpenAPI")


def assert_matches_openapi(method: str, path_template: str, status: int, body: Any) -> None:
    """Fail with a readable message when `body` is not what the OpenAPI promises."""
    schema = response_schema(method, path_template, status)
    validator = jsonschema.Draft202012Validator(schema)
    problems = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    if status >= 400 and isinstance(body, dict) and "details" in body:
        detailed = to_json_schema({"$ref": "#/components/schemas/DetailedError"}, spec_for(path_template))
        problems += list(jsonschema.Draft202012Validator(detailed).iter_errors(body))
    if problems:
        lines = [
            f"  at {'/'.join(map(str, p.absolute_path)) or '<root>'}: {p.message}" for p in problems[:10]
        ]
        raise AssertionError(
            f"{method.upper()} {path_template} -> {status}: body does not match the OpenAPI:\n"
            + "\n".join(lines)
        )
