"""server.json, the MCP Registry's description of this server, is valid and in step with the code.

Validated against the registry's published JSON schema (2025-12-11), a copy of which is
kept in tests/contract/ (no installable package ships it). Beyond the schema: what the
official registry checks at publish time (one specific version, the PyPI ownership marker
in the README), and what only this project can know (the version, the package name, every
environment variable the settings read, and which of them are secrets).
"""

from __future__ import annotations

import copy
import json
import re
import tomllib
import typing
from typing import Any

import jsonschema
import pytest
from pydantic import SecretStr

from venice_keys_mcp import __version__
from venice_keys_mcp.settings import ENV_VARS, Settings

from .conftest import README, REPO

SERVER_JSON = REPO / "server.json"
SCHEMA_FILE = REPO / "tests" / "contract" / "server.schema.json"
SCHEMA_URL = "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json"


@pytest.fixture(scope="module")
def server() -> dict[str, Any]:
    return json.loads(SERVER_JSON.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert schema["$id"] == SCHEMA_URL
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


def _package(server: dict[str, Any]) -> dict[str, Any]:
    [package] = server["packages"]
    return package  # type: ignore[no-any-return]


def test_server_json_is_valid_against_the_registry_schema(server, validator) -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(server)]
    assert errors == []
    assert server["$schema"] == SCHEMA_URL


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda d: d.pop("name"), "name is required"),
        (lambda d: d.update(name="no-slash"), "the name needs one slash"),
        (lambda d: d.update(description="x" * 101), "a description has at most 100 characters"),
        (lambda d: _package(d).update(version="latest"), "a package version is never 'latest'"),
        (lambda d: _package(d)["transport"].update(type="carrier-pigeon"), "transports are enumerated"),
    ],
)
def test_the_schema_refuses_what_the_registry_refuses(server, validator, change, why) -> None:
    broken = copy.deepcopy(server)
    change(broken)
    assert list(validator.iter_errors(broken)), why


def test_version_and_package_match_the_code(server) -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    package = _package(server)
    assert server["version"] == package["version"] == __version__
    assert package["registryType"] == "pypi" and package["identifier"] == project["name"]
    assert package["transport"] == {"type": "stdio"}
    assert not re.search(r"[\^~<>=*\s]|(^|\.)[xX](\.|$)", package["version"]), "one specific version"


def test_every_environment_variable_the_settings_read_is_declared(server) -> None:
    declared = [v["name"] for v in _package(server)["environmentVariables"]]
    assert len(declared) == len(set(declared))
    # The first name of each setting; VENICE_API_KEY, an alias of VENICE_ADMIN_KEY, is said in its text.
    assert set(declared) == {names[0] for names in ENV_VARS.values()}


def test_secrets_are_marked_secret_and_nothing_else_is(server) -> None:
    secret_fields = {
        field
        for field, info in Settings.model_fields.items()
        if SecretStr in typing.get_args(info.annotation) or info.annotation is SecretStr
    }
    assert {"admin_key", "signing_key", "http_token"} <= secret_fields
    secret_names = {ENV_VARS[field][0] for field in secret_fields if field in ENV_VARS}
    variables = {v["name"]: v for v in _package(server)["environmentVariables"]}
    assert {name for name, v in variables.items() if v.get("isSecret")} == secret_names
    assert variables["VENICE_ADMIN_KEY"].get("isRequired") is True
    assert "VENICE_API_KEY" in variables["VENICE_ADMIN_KEY"]["description"]


def test_readme_carries_the_registry_ownership_marker_and_the_same_owner(server) -> None:
    readme = README.read_text(encoding="utf-8")
    assert f"mcp-name: {server['name']}" in readme  # how the registry verifies a PyPI package's owner
    owner = re.fullmatch(r"io\.github\.([\w.-]+)/venice-keys-mcp", server["name"])
    assert owner, server["name"]
    urls = set(re.findall(r"github\.com/([\w.-]+)/venice-keys-mcp", readme))
    assert urls == {owner.group(1)}, "the README's git URL and server.json name one owner"


def test_server_json_ships_in_the_sdist_list() -> None:
    sdist = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["hatch"]["build"]
    assert "server.json" in sdist["targets"]["sdist"]["only-include"]
