"""Strict request bodies, checked the way Venice's zod schemas check them.

An unknown field, a missing field or a wrong type is a 400 whose `details` has zod's
`format()` shape (`{"_errors": [], "field": {"_errors": [...]}}`) and whose `issues`
lists zod-like issues, so clients can be tested against the real error structure.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from venice_keys_mcp.sandbox.state import KEY_TYPES, LIMIT_PERIODS, MODEL_PRIVACY
from venice_keys_mcp.sandbox.wire import ApiError

LIMIT_MAX = 9_999_999_999
LIMIT_FIELDS = ("usd", "diem", "vcu")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$")
CLEAR = object()  # an expiresAt of "" or null: no expiry
Issues = list[dict[str, Any]]
Path = list[str]
Checker = Callable[[Any, Path, Issues], Any]


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def issue(path: Path, code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"code": code, **extra, "path": list(path), "message": message}


def format_details(issues: Issues) -> dict[str, Any]:
    """zod's `error.format()`: errors nested by path, each node with its own `_errors`."""
    root: dict[str, Any] = {"_errors": []}
    for found in issues:
        node = root
        for part in found["path"]:
            node = node.setdefault(str(part), {"_errors": []})
        node["_errors"].append(found["message"])
        for unknown in found.get("keys", []):  # also name each unknown field on its own
            node.setdefault(unknown, {"_errors": []})["_errors"].append("Unrecognized key")
    return root


def invalid(issues: Issues) -> ApiError:
    summary = "; ".join(f"{'.'.join(i['path']) or 'body'}: {i['message']}" for i in issues)
    return ApiError(400, f"Invalid request: {summary}", details=format_details(issues), issues=issues)


@dataclass(frozen=True)
class Field:
    check: Checker
    required: bool = False


def _wrong_type(path: Path, expected: str, value: Any) -> dict[str, Any]:
    received = type_name(value)
    return issue(
        path,
        "invalid_type",
        f"Expected {expected}, received {received}",
        expected=expected,
        received=received,
    )


def _unrecognized(path: Path, keys: list[str]) -> dict[str, Any]:
    names = ", ".join(f"'{k}'" for k in keys)
    return issue(path, "unrecognized_keys", f"Unrecognized key(s) in object: {names}", keys=keys)


def check_body(body: Any, spec: dict[str, Field]) -> dict[str, Any]:
    """The body's known fields, checked; every problem is reported at once."""
    if not isinstance(body, dict):
        raise invalid([_wrong_type([], "object", body)])
    issues: Issues = []
    unknown = [name for name in body if name not in spec]
    if unknown:
        issues.append(_unrecognized([], unknown))
    out: dict[str, Any] = {}
    for name, fld in spec.items():
        if name not in body:
            if fld.required:
                issues.append(
                    issue([name], "invalid_type", "Required", expected="string", received="undefined")
                )
            continue
        before = len(issues)
        value = fld.check(body[name], [name], issues)
        if len(issues) == before:
            out[name] = value
    if issues:
        raise invalid(issues)
    return out


def one_of(*choices: str) -> Checker:
    def check(value: Any, path: Path, issues: Issues) -> Any:
        if value not in choices or not isinstance(value, str):
            listed = " | ".join(f"'{c}'" for c in choices)
            issues.append(
                issue(
                    path, "invalid_enum_value", f"Invalid enum value. Expected {listed}, received '{value}'"
                )
            )
        return value

    return check


def text(min_len: int = 0, max_len: int | None = None) -> Checker:
    def check(value: Any, path: Path, issues: Issues) -> Any:
        if not isinstance(value, str):
            issues.append(_wrong_type(path, "string", value))
        elif len(value) < min_len:
            issues.append(issue(path, "too_small", f"String must contain at least {min_len} character(s)"))
        elif max_len is not None and len(value) > max_len:
            issues.append(issue(path, "too_big", f"String must contain at most {max_len} character(s)"))
        return value

    return check


def expires(*, nullable: bool) -> Checker:
    """`""` (or null where allowed) means no expiry; otherwise a real calendar date, in UTC."""

    def check(value: Any, path: Path, issues: Issues) -> Any:
        if value == "" or (value is None and nullable):
            return CLEAR
        if not isinstance(value, str):
            issues.append(_wrong_type(path, "string", value))
            return None
        try:
            if _DATE.match(value):
                return datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC)
            if _DATETIME.match(value):
                fmt = "%Y-%m-%dT%H:%M:%S.%fZ" if "." in value else "%Y-%m-%dT%H:%M:%SZ"
                return datetime.strptime(value, fmt).replace(tzinfo=UTC)
        except ValueError:
            issues.append(issue(path, "invalid_date", "Invalid date"))
            return None
        issues.append(
            issue(
                path,
                "invalid_string",
                "Invalid date format: use '', YYYY-MM-DD or YYYY-MM-DDTHH:mm:ss[.sss]Z",
            )
        )
        return None

    return check


def limits(value: Any, path: Path, issues: Issues) -> Any:
    """`{usd, diem, vcu}`: each a number in 0..9999999999 or null; only the fields sent."""
    if not isinstance(value, dict):
        issues.append(_wrong_type(path, "object", value))
        return None
    unknown = [name for name in value if name not in LIMIT_FIELDS]
    if unknown:
        issues.append(_unrecognized(path, unknown))
    out: dict[str, float | None] = {}
    for name in LIMIT_FIELDS:
        if name not in value:
            continue
        amount = value[name]
        where = [*path, name]
        if amount is None:
            out[name] = None
        elif type_name(amount) != "number":
            issues.append(_wrong_type(where, "number", amount))
        elif amount < 0:
            issues.append(issue(where, "too_small", "Number must be greater than or equal to 0"))
        elif amount > LIMIT_MAX:
            issues.append(issue(where, "too_big", f"Number must be less than or equal to {LIMIT_MAX}"))
        else:
            out[name] = amount
    return out


def expiry_in_past(field_name: str = "expiresAt") -> ApiError:
    return invalid([issue([field_name], "custom", "Expiration date must be in the future")])


_COMMON: dict[str, Field] = {
    "consumptionLimit": Field(limits),
    "limitPeriod": Field(one_of(*LIMIT_PERIODS)),
    "modelPrivacy": Field(one_of(*MODEL_PRIVACY)),
}

CREATE: dict[str, Field] = {
    "apiKeyType": Field(one_of(*KEY_TYPES), required=True),
    "description": Field(text(1, 64), required=True),
    "expiresAt": Field(expires(nullable=False)),
    **_COMMON,
}

UPDATE: dict[str, Field] = {
    "id": Field(text(1), required=True),
    "description": Field(text(1, 64)),
    "expiresAt": Field(expires(nullable=True)),
    **_COMMON,
}

WEB3_MINT: dict[str, Field] = {
    "address": Field(text(), required=True),
    "signature": Field(text(), required=True),
    "token": Field(text(), required=True),
    "apiKeyType": Field(one_of(*KEY_TYPES), required=True),
    "description": Field(text(1, 64)),
    "expiresAt": Field(expires(nullable=False)),
    **_COMMON,
}
