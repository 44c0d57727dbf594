"""The published tool schemas (`tools/published.py`) are what the SDK derives from the code.

The server lists its tools from that file so that start-up does not run pydantic's
schema generation for nine tools (see `venice_keys_mcp/tools/registration.py`). These
tests hold it to the SDK's own derivation, check that the tools built from it behave like
the SDK's, and that a stale file is never served.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.server.mcpserver.utilities.func_metadata import func_metadata

from tests.support.scripts import load_script
from venice_keys_mcp.runtime import build_runtime
from venice_keys_mcp.server import build_server, collect_tools
from venice_keys_mcp.settings import TOOLSETS, Settings
from venice_keys_mcp.tools import published, registration
from venice_keys_mcp.tools.common import READ_ONLY
from venice_keys_mcp.tools.registration import derived_tool, prebuilt_tool

pytestmark = pytest.mark.anyio


def _settings(tmp_path: Path, **extra: Any) -> Settings:
    files = {"secrets_dir": tmp_path / "secrets", "audit_log": tmp_path / "audit.jsonl"}
    files["state_dir"] = tmp_path
    return Settings(sandbox=True, **files, **{"toolsets": TOOLSETS, **extra})


def _specs(tmp_path: Path) -> list[registration.ToolSpec]:
    settings = _settings(tmp_path)
    return collect_tools(settings, build_runtime(settings)).specs


def test_published_file_is_what_the_code_derives_now():
    script = load_script("sync_tool_schemas")
    assert script.PUBLISHED.read_text(encoding="utf-8") == script.expected_text(), (
        "tools/published.py is stale; run: python scripts/sync_tool_schemas.py --write"
    )
    assert registration.source_hash() == published.SOURCE_HASH


def test_every_tool_is_published(tmp_path):
    assert [spec.name for spec in _specs(tmp_path)] == list(published.SCHEMAS)


def test_prebuilt_tools_match_the_sdk_derivation_field_by_field(tmp_path):
    for spec in _specs(tmp_path):
        fast, slow = prebuilt_tool(spec, *published.SCHEMAS[spec.name]), derived_tool(spec)
        fields = ("name", "title", "description", "parameters", "annotations", "is_async", "context_kwarg")
        for field in fields:
            assert getattr(fast, field) == getattr(slow, field), (spec.name, field)
        assert fast.output_schema == slow.output_schema, spec.name
        assert fast.resolved_params.keys() == slow.resolved_params.keys(), spec.name
        assert fast.resolver_plans.keys() == slow.resolver_plans.keys(), spec.name
        for key, plan in fast.resolver_plans.items():
            other = slow.resolver_plans[key]
            assert (plan.fn, plan.is_async, plan.wire_key) == (other.fn, other.is_async, other.wire_key)
            assert plan.params.keys() == other.params.keys(), spec.name
        # Same argument model as the SDK's `func_metadata`: same fields, constraints, defaults.
        skip = [*slow.resolved_params, *([slow.context_kwarg] if slow.context_kwarg else [])]
        sdk_model = func_metadata(spec.fn, skip_names=skip, structured_output=False).arg_model
        assert fast.fn_metadata.arg_model.model_json_schema(by_alias=True) == sdk_model.model_json_schema(
            by_alias=True
        ), spec.name


def test_argument_model_waits_for_the_first_call_and_then_validates(tmp_path):
    spec = next(s for s in _specs(tmp_path) if s.name == "list_keys")
    model = prebuilt_tool(spec, *published.SCHEMAS[spec.name]).fn_metadata.arg_model
    assert model.__pydantic_complete__ is False  # nothing built at start-up
    assert model.model_validate({"page_size": 5}).page_size == 5
    with pytest.raises(ValueError, match="page_size"):
        model.model_validate({"page_size": 0})


async def _listing(server: Any, mode: str) -> list[dict[str, Any]]:
    async with Client(server, mode=mode) as client:
        tools = (await client.list_tools()).tools
    return [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in tools]


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_a_stale_file_is_never_served(tmp_path, monkeypatch, mode):
    """A changed source (an edited checkout) means deriving every schema again, not serving old ones."""
    built: list[str] = []
    real_derive = registration.derived_tool

    def spy(spec: registration.ToolSpec) -> Any:
        built.append(spec.name)
        return real_derive(spec)

    monkeypatch.setattr(registration, "derived_tool", spy)
    server = build_server(_settings(tmp_path))
    fresh = await _listing(server, mode)
    await server.runtime.aclose()  # type: ignore[attr-defined]
    assert built == []  # in step: nothing derived at start-up

    monkeypatch.setattr(published, "SOURCE_HASH", "0" * 64)
    server = build_server(_settings(tmp_path))
    stale = await _listing(server, mode)
    await server.runtime.aclose()  # type: ignore[attr-defined]
    assert built == list(published.SCHEMAS)
    assert json.dumps(stale) == json.dumps(fresh)  # the same bytes either way


async def test_a_schema_edit_changes_the_source_hash(tmp_path, monkeypatch):
    """Any edit to a file the schemas come from makes the published file stale."""
    package = tmp_path / "pkg"
    for pattern in registration.SCHEMA_SOURCES:
        for path in registration.PACKAGE.glob(pattern):
            target = package / path.relative_to(registration.PACKAGE)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    monkeypatch.setattr(registration, "PACKAGE", package)
    assert registration.source_hash() == published.SOURCE_HASH
    views = package / "tools" / "views.py"
    views.write_text(views.read_text(encoding="utf-8").replace("last6: str", "last6: int"), encoding="utf-8")
    assert registration.source_hash() != published.SOURCE_HASH
    assert registration.published_schemas() is None


async def _odd(a, json: int = 3, b: str = "x", schema=None) -> None:  # type: ignore[no-untyped-def]
    """No annotation on two, and names that shadow `BaseModel` methods."""


def test_argument_model_is_the_sdks_for_odd_signatures_too():
    sdk = func_metadata(_odd, structured_output=False).arg_model
    ours = registration.argument_model(_odd, set())
    assert ours.model_json_schema(by_alias=True) == sdk.model_json_schema(by_alias=True)
    args = {"a": [1], "json": 4}
    assert ours.model_validate(args).model_dump_one_level() == sdk.model_validate(args).model_dump_one_level()


def test_a_failure_building_from_the_file_falls_back_to_deriving(tmp_path, monkeypatch, caplog):
    def broken(*args: Any) -> Any:
        raise RuntimeError("published.py does not fit")

    monkeypatch.setattr(registration, "prebuilt_tool", broken)
    settings = _settings(tmp_path)
    tools = collect_tools(settings, build_runtime(settings)).build()
    assert [t.name for t in tools] == list(published.SCHEMAS)
    assert [t.parameters for t in tools] == [published.SCHEMAS[t.name][0] for t in tools]
    assert "deriving them" in caplog.text


def test_two_tools_cannot_share_a_name():
    box = registration.Toolbox()

    async def list_keys() -> None: ...

    box.add(title="a", annotations=READ_ONLY)(list_keys)
    with pytest.raises(ValueError, match="two tools are named 'list_keys'"):
        box.add(title="b", annotations=READ_ONLY)(list_keys)
