"""The package's layout rules, checked by reading its source (each rule names where its one place is).

- Environment: `venice_keys_mcp/settings.py` is the only module that touches `os.environ` /
  `os.getenv` or holds a `VENICE_*` variable's name as a value (a string that is exactly
  the name, as a lookup key or a `*_ENV` constant would be). Every other module takes
  values from `Settings` (or is handed them) and gets a name it needs as a value from
  `settings.env_name`, so no layer re-reads the environment behind the settings' back.
  Decided: prose that tells a person what to set ("set VENICE_KEYS_HTTP_TOKEN (...)") may
  spell the name out, since a sentence reads better whole and such text is in files other
  people edit at the same time; but every name it spells must be one `settings` knows, so
  a renamed or misspelled variable fails here instead of misleading the reader.
- SDK: `venice_keys_mcp/sdk_adapter.py` is the only module that imports a private name of
  the MCP SDK or reaches into an SDK object's private attribute. Private: a module with a
  `_` part (`mcp.shared._context_streams`), a `_` name, a name left out of its module's
  `__all__` (`mcp.server.mcpserver.resolve.build_resolver_plans`), the SDK's internal
  utility modules (`func_metadata`, `context_injection`), and `x._name` where `_name` is an
  attribute the SDK's own source defines (`server._lowlevel_server`, `._tool_manager`).
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import importlib.util
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import mcp

import venice_keys_mcp
from venice_keys_mcp.settings import ENV_VARS, TEST_HOOK_ENV

PACKAGE = Path(venice_keys_mcp.__file__).parent
SETTINGS = PACKAGE / "settings.py"
ENV_NAMES = {name for names in ENV_VARS.values() for name in names} | set(TEST_HOOK_ENV.values())
#: Any of the server's variables, exactly.
NAME_RE = re.compile("|".join(sorted(map(re.escape, ENV_NAMES), key=len, reverse=True)))
#: A `VENICE_KEYS_*` name as a whole word (`VENICE_KEYS_*` with the star, as prose says, is not one).
VARIABLE_RE = re.compile(r"(?<![A-Za-z0-9_])VENICE_KEYS_[A-Z][A-Z0-9_]*(?![A-Za-z0-9_*])")


def modules() -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def docstrings(tree: ast.Module) -> set[int]:
    """ids of the docstring constants of the module, its classes and its functions."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def env_offences(path: Path, tree: ast.Module) -> list[str]:
    rel = path.relative_to(PACKAGE.parent)
    skip = docstrings(tree)
    out: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            text = node.value.strip()
            if NAME_RE.fullmatch(text) or VARIABLE_RE.fullmatch(text):
                out.append(f"{rel}:{node.lineno}: holds the name {text}")
                continue
            for match in VARIABLE_RE.finditer(node.value):
                if match.group() not in ENV_NAMES:
                    out.append(f"{rel}:{node.lineno}: names an unknown variable {match.group()}")
        if isinstance(node, ast.Attribute) and node.attr in {"environ", "getenv", "environb", "putenv"}:
            out.append(f"{rel}:{node.lineno}: uses os.{node.attr}")
        if isinstance(node, ast.ImportFrom) and node.module == "os":
            for alias in node.names:
                if alias.name in {"environ", "getenv", "environb", "putenv"}:
                    out.append(f"{rel}:{node.lineno}: imports os.{alias.name}")
    return out


def test_only_settings_names_an_environment_variable_or_reads_the_environment():
    offences = [o for path, tree in modules() if path != SETTINGS for o in env_offences(path, tree)]
    assert offences == [], "\n".join(offences)


def test_the_environment_scan_finds_each_kind_of_stray(tmp_path):
    """The rule above catches each form a stray lookup takes (and passes what is not one)."""
    source = '''
"""Docstrings may say VENICE_KEYS_READ_ONLY."""
import os
from os import getenv
a = os.environ.get("VENICE_KEYS_TIMEOUT")
b = {}.get(f"{x}VENICE_ADMIN_KEY")
c = "set VENICE_KEYS_NEW_THING to 1"
d = "VENICE_ADMIN_KEY_abc"
e = "set VENICE_KEYS_READ_ONLY=1 or VENICE_ADMIN_KEY"
'''
    path = PACKAGE / "stray.py"  # named as if in the package; never written
    found = env_offences(path, ast.parse(source))
    assert sorted(f.split(": ", 1)[1] for f in found) == [
        "holds the name VENICE_ADMIN_KEY",
        "holds the name VENICE_KEYS_TIMEOUT",
        "imports os.getenv",
        "names an unknown variable VENICE_KEYS_NEW_THING",
        "uses os.environ",
    ]


def test_settings_imports_no_other_module_of_the_package():
    """Every layer imports settings; settings importing a layer (`safety`, say) would make a cycle."""
    tree = ast.parse(SETTINGS.read_text(encoding="utf-8"))
    imported = [
        n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module
    ] + [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in imported if m.startswith("venice_keys_mcp")]


# -- the SDK's private names -------------------------------------------------------------------------

ADAPTER = PACKAGE / "sdk_adapter.py"
SDK = Path(mcp.__file__).parent
#: SDK modules that are internal though no part of their name says so: the public
#: `mcp.server.mcpserver` exports none of their names.
INTERNAL_SDK_MODULES = (
    "mcp.server.mcpserver.utilities.func_metadata",
    "mcp.server.mcpserver.utilities.context_injection",
)
#: Names an SDK module lists but its public package (`mcp.server.mcpserver`) does not export:
#: the plumbing `Tool.from_function` uses to plan `Resolve` parameters.
INTERNAL_SDK_NAMES = {
    ("mcp.server.mcpserver.resolve", "build_resolver_plans"),
    ("mcp.server.mcpserver.resolve", "find_resolved_parameters"),
}


@cache
def sdk_private_attributes() -> frozenset[str]:
    """Every `_name` (not dunder) the SDK's own source assigns on an object or defines as a method."""
    found: set[str] = set()
    pattern = re.compile(r"self\.(_[A-Za-z]\w*)\s*[:=]|def (_[A-Za-z]\w*)\(")
    for path in SDK.rglob("*.py"):
        for match in pattern.finditer(path.read_text(encoding="utf-8")):
            name = match.group(1) or match.group(2)
            if not name.startswith("__"):
                found.add(name)
    return frozenset(found)


def _private_import(module: str, name: str | None) -> bool:
    if module != "mcp" and not module.startswith("mcp."):
        return False
    if any(part.startswith("_") for part in module.split(".")) or module in INTERNAL_SDK_MODULES:
        return True
    if name is None:
        return False
    if name.startswith("_") or (module, name) in INTERNAL_SDK_NAMES:
        return True
    try:
        exported = getattr(importlib.import_module(module), "__all__", None)
    except ImportError:
        return True  # not importable as a module of this SDK: not its public API either
    if exported is None or name in exported:
        return False
    return importlib.util.find_spec(f"{module}.{name}") is None  # a submodule is not a listed name


def sdk_offences(path: Path, tree: ast.Module) -> list[str]:
    rel = path.relative_to(PACKAGE.parent)
    private = sdk_private_attributes()
    out: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                if _private_import(node.module, alias.name):
                    out.append(f"{rel}:{node.lineno}: imports {node.module}.{alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if _private_import(alias.name, None):
                    out.append(f"{rel}:{node.lineno}: imports {alias.name}")
        elif (
            isinstance(node, ast.Attribute)
            and node.attr in private
            and not (isinstance(node.value, ast.Name) and node.value.id in {"self", "cls"})
        ):
            out.append(f"{rel}:{node.lineno}: touches .{node.attr}")
    return out


def test_only_the_sdk_adapter_uses_private_sdk_names():
    offences = [o for path, tree in modules() if path != ADAPTER for o in sdk_offences(path, tree)]
    assert offences == [], "\n".join(offences)


def test_the_sdk_scan_finds_each_kind_of_private_use():
    source = """
from mcp.shared._context_streams import create_context_streams
from mcp.server.mcpserver.resolve import build_resolver_plans, Resolve
from mcp.server.mcpserver.utilities.func_metadata import FuncMetadata
from mcp.server.mcpserver import MCPServer, Context
from mcp.server import _private_thing
import mcp.shared._context_streams
low = server._lowlevel_server
tools = server._tool_manager.list_tools()
mine = self._lowlevel_server
"""
    found = sdk_offences(PACKAGE / "stray.py", ast.parse(source))
    assert sorted(f.split(": ", 1)[1] for f in found) == [
        "imports mcp.server._private_thing",
        "imports mcp.server.mcpserver.resolve.build_resolver_plans",
        "imports mcp.server.mcpserver.utilities.func_metadata.FuncMetadata",
        "imports mcp.shared._context_streams",
        "imports mcp.shared._context_streams.create_context_streams",
        "touches ._lowlevel_server",
        "touches ._tool_manager",
    ]


def test_the_adapter_names_the_sdk_version_pinned():
    """The adapter was read against one SDK release; pyproject allows only that minor version."""
    from venice_keys_mcp.sdk_adapter import SDK_CHECKED_VERSION

    major, minor, _ = SDK_CHECKED_VERSION.split(".")
    pyproject = (PACKAGE.parent / "pyproject.toml").read_text(encoding="utf-8")
    assert f'"mcp>={major}.{minor},<{major}.{int(minor) + 1}"' in pyproject
    assert importlib.metadata.version("mcp").startswith(f"{major}.{minor}.")
