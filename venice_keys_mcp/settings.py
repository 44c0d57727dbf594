"""One `Settings` object, built from the environment and then from command-line flags.

Every knob an operator has is here, with the environment variable that sets it, so the
README's settings table, `doctor` and the error messages can all name the same thing.

This is the only module that names a `VENICE_*` variable or reads `os.environ`: other
modules take their values from `Settings` (or are handed them) and name a variable in a
message through `env_name` (`tests/test_layout.py` scans the package for strays). It
imports nothing from the package, so every layer may import it.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

DEFAULT_BASE_URL = "https://api.venice.ai/api/v1"
WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})
#: A bearer token shorter than this is guessable by anything that can reach the port.
MIN_HTTP_TOKEN_CHARS = 16
TOKEN_HINT = 'generate one with: python -c "import secrets; print(secrets.token_urlsafe(32))"'

#: Venice's largest cap; an operator maximum above it would bound nothing.
MAX_CAP = 9_999_999_999

ConfirmMode = Literal["auto", "elicit", "agent", "off"]
Toolset = Literal["keys", "workflows", "spend", "limits", "web3"]
#: Groups of tools, as github-mcp-server has: `VENICE_KEYS_TOOLSETS` picks them ("all": every one).
TOOLSETS: tuple[Toolset, ...] = ("keys", "workflows", "spend", "limits", "web3")
#: What a key admin uses daily; minting with a wallet is the exception, asked for by name.
DEFAULT_TOOLSETS: tuple[Toolset, ...] = ("keys", "workflows", "spend", "limits")
Transport = Literal["stdio", "http"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]

#: field name -> environment variable(s), first match wins. The README table mirrors this.
ENV_VARS: dict[str, tuple[str, ...]] = {
    "base_url": ("VENICE_BASE_URL",),
    "admin_key": ("VENICE_ADMIN_KEY", "VENICE_API_KEY"),
    "sandbox": ("VENICE_KEYS_SANDBOX",),
    "confirm": ("VENICE_KEYS_CONFIRM",),
    "read_only": ("VENICE_KEYS_READ_ONLY",),
    "toolsets": ("VENICE_KEYS_TOOLSETS",),
    "allow_admin_keys": ("VENICE_KEYS_ALLOW_ADMIN_KEYS",),
    "max_usd": ("VENICE_KEYS_MAX_USD",),
    "max_diem": ("VENICE_KEYS_MAX_DIEM",),
    "max_expiry_days": ("VENICE_KEYS_MAX_EXPIRY_DAYS",),
    "secrets_dir": ("VENICE_KEYS_SECRETS_DIR",),
    "audit_log": ("VENICE_KEYS_AUDIT_LOG",),
    "state_dir": ("VENICE_KEYS_STATE_DIR",),
    "audit_syslog": ("VENICE_KEYS_AUDIT_SYSLOG",),
    "signing_key": ("VENICE_KEYS_SIGNING_KEY",),
    "http_token": ("VENICE_KEYS_HTTP_TOKEN",),
    "http_max_sessions": ("VENICE_KEYS_HTTP_MAX_SESSIONS",),
    "http_session_idle": ("VENICE_KEYS_HTTP_SESSION_IDLE",),
    "allowed_hosts": ("VENICE_KEYS_ALLOWED_HOSTS",),
    "allowed_origins": ("VENICE_KEYS_ALLOWED_ORIGINS",),
    "timeout": ("VENICE_KEYS_TIMEOUT",),
    "log_level": ("VENICE_KEYS_LOG_LEVEL",),
}

#: Variables read only by the test suite's hooks, never set by an operator (not in the README table).
TEST_HOOK_ENV: dict[str, str] = {
    # `sandbox.persist`: stop the N-th save of the sandbox's state mid-write (see `_crash_point` there).
    "sandbox_crash_point": "VENICE_KEYS_SANDBOX_TEST_CRASH_POINT",
}

#: The settings whose values are secrets: their variables are scrubbed from everything printed.
SECRET_FIELDS = ("admin_key", "http_token", "signing_key")

#: A token signing key shorter than this (in bytes) is refused.
MIN_SIGNING_KEY_BYTES = 32
_HEX = re.compile(r"[0-9a-fA-F]+")


def env_name(field: str) -> str:
    """The variable that sets `field` (its first name), for messages telling a person what to set."""
    return ENV_VARS[field][0]


def env_value(field: str, env: Mapping[str, str] | None = None) -> str | None:
    """The raw value of `field`'s variable (first name set, stripped; a bundle's unfilled
    template counts as unset), for commands that must not fail on an unrelated setting."""
    env = os.environ if env is None else env
    for name in ENV_VARS[field]:
        raw = env.get(name)
        if raw is not None and raw.strip() and not _unfilled(raw):
            return raw.strip()
    return None


def hook_value(name: str) -> str | None:
    """The value of a test-suite hook variable (`TEST_HOOK_ENV`); None outside tests."""
    return os.environ.get(TEST_HOOK_ENV[name])


def secret_env_values(env: Mapping[str, str] | None = None) -> tuple[list[str], str]:
    """The values of the secret settings' variables that are set, and the raw base URL (its
    userinfo and query may hold credentials; `safety.console.url_secrets` takes them out)."""
    env = os.environ if env is None else env
    names = [name for field in SECRET_FIELDS for name in ENV_VARS[field]]
    found = [env[name].strip() for name in names if env.get(name, "").strip()]
    return found, env.get(env_name("base_url"), "")


def parse_signing_key(value: str) -> bytes:
    """The token signing key's bytes: hex, or base64 (standard or url-safe), of at least
    `MIN_SIGNING_KEY_BYTES`. Raises ValueError naming the variable, never repeating the value."""
    text = value.strip()
    key: bytes | None = None
    if len(text) % 2 == 0 and _HEX.fullmatch(text):
        key = bytes.fromhex(text)
    else:
        try:
            key = base64.b64decode(
                text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4), validate=True
            )
        except (binascii.Error, ValueError):
            key = None
    name = env_name("signing_key")
    hint = 'generate one with: python -c "import secrets; print(secrets.token_hex(32))"'
    if key is None:
        raise ValueError(f"{name} is neither hex nor base64; {hint}")
    if len(key) < MIN_SIGNING_KEY_BYTES:
        raise ValueError(
            f"{name} is only {len(key)} bytes long; it needs at least {MIN_SIGNING_KEY_BYTES}. {hint}"
        )
    return key


SyslogTarget = str | tuple[str, int] | None


def parse_syslog_target(value: str) -> SyslogTarget:
    """The audit syslog copy's address: None for the local syslog (``1``), a path for a unix
    socket, (host, port) for UDP. `safety.syslog_sink` resolves None to the local socket.

    Raises ValueError with a sentence naming the rule (never the value).
    """
    text = value.strip()
    if text.lower() in _TRUE:
        return None
    if text.startswith("/"):
        return text
    host, sep, port = text.rpartition(":")
    if sep and host and port.isdigit() and 0 < int(port) < 65536:
        return host.strip("[]"), int(port)
    raise ValueError("use 1 (the local syslog), a unix socket path such as /dev/log, or host:port for UDP")


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class SettingsError(ValueError):
    """Configuration that cannot work; the message is one line a person can act on."""


class Settings(BaseModel):
    """The server's whole configuration. Secrets are `SecretStr` so they never print."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str = DEFAULT_BASE_URL
    admin_key: SecretStr | None = None
    sandbox: bool = False
    sandbox_keys: int | None = Field(default=None, ge=1, le=500)
    transport: Transport = "stdio"
    host: str = "127.0.0.1"
    port: int = Field(default=8765, ge=0, le=65535)
    http_token: SecretStr | None = None
    #: `--no-auth`: serve loopback HTTP without the bearer token (refused on any other address).
    no_auth: bool = False
    #: Open HTTP sessions at most; one more gets 503 until one ends or idles out (see http_auth).
    http_max_sessions: int = Field(default=64, ge=1, le=10_000)
    #: Seconds an HTTP session may sit with no request in flight before the server ends it.
    http_session_idle: float = Field(default=600.0, gt=0, le=86_400, allow_inf_nan=False)
    allowed_hosts: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    confirm: ConfirmMode = "auto"
    read_only: bool = False
    toolsets: tuple[Toolset, ...] = DEFAULT_TOOLSETS
    allow_admin_keys: bool = False
    max_usd: float | None = Field(default=None, ge=0, le=MAX_CAP, allow_inf_nan=False)
    max_diem: float | None = Field(default=None, ge=0, le=MAX_CAP, allow_inf_nan=False)
    max_expiry_days: int | None = Field(default=None, ge=1)
    secrets_dir: Path | None = None
    audit_log: Path | None = None
    state_dir: Path | None = None
    #: None: off; "1" (the local syslog), a unix socket path, or host:port (see `syslog_sink`).
    audit_syslog: str | None = None
    signing_key: SecretStr | None = None
    token_ttl: int = Field(default=300, ge=30, le=3600)
    #: How long a person has to answer a pending approval (card or terminal).
    approval_ttl: int = Field(default=600, ge=60, le=3600)
    timeout: float = Field(default=15.0, gt=0, le=300)
    log_level: LogLevel = "INFO"

    @field_validator("audit_syslog")
    @classmethod
    def _syslog_address(cls, value: str | None) -> str | None:
        if value is not None:
            parse_syslog_target(value)  # its ValueError names the rule
        return value

    @property
    def is_loopback(self) -> bool:
        """True when the HTTP bind address only accepts connections from this machine."""
        host = self.host.strip("[]")
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False  # a host name could resolve anywhere

    @property
    def is_wildcard(self) -> bool:
        """True when the HTTP bind address is every interface (0.0.0.0 or ::)."""
        return self.host.strip("[]") in WILDCARD_HOSTS

    @property
    def connect_host(self) -> str:
        """The host, as written in a URL, that a client on this machine uses to reach the HTTP server."""
        host = self.host.strip("[]")
        if host in {"", "0.0.0.0"}:
            return "127.0.0.1"
        if host == "::":
            return "[::1]"
        return f"[{host}]" if ":" in host else host

    @property
    def http_url(self) -> str:
        return f"http://{self.connect_host}:{self.port}/mcp"

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build from `env` (default `os.environ`), then apply non-None `overrides` (flags)."""
        values: dict[str, Any] = {}
        for field in ENV_VARS:
            raw = env_value(field, env)
            if raw is not None:  # errors name the first variable: only admin_key has two, taken as is
                values[field] = _parse(field, env_name(field), raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            settings = cls(**values)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = str(err["loc"][0]) if err["loc"] else "?"
            name = ENV_VARS.get(field, (f"--{field.replace('_', '-')}",))[0]
            raise SettingsError(f"Invalid {name}: {err['msg']}.") from None
        settings._check_consistency()
        return settings

    def _check_consistency(self) -> None:
        """Refuse, in one line each, what pydantic cannot see and what would otherwise fail as a traceback."""
        _check_base_url(self.base_url)
        if self.admin_key is not None and not header_safe(self.admin_key.get_secret_value()):
            raise SettingsError(
                f"Invalid {env_name('admin_key')}: it contains spaces or control characters; "
                "check how it was pasted."
            )
        if self.signing_key is not None:
            try:
                if self.signing_key.get_secret_value().strip():
                    parse_signing_key(self.signing_key.get_secret_value())
            except ValueError as exc:  # its message names the variable and never repeats the value
                raise SettingsError(str(exc)) from None
        if self.http_token is not None:
            token = self.http_token.get_secret_value()
            if not header_safe(token):
                raise SettingsError(
                    "Invalid VENICE_KEYS_HTTP_TOKEN: it contains spaces or control characters."
                )
            if len(token) < MIN_HTTP_TOKEN_CHARS:
                raise SettingsError(
                    f"Invalid VENICE_KEYS_HTTP_TOKEN: it has {len(token)} characters; use at least "
                    f"{MIN_HTTP_TOKEN_CHARS}. {TOKEN_HINT}"
                )
        if self.no_auth:
            if self.transport != "http":
                raise SettingsError("--no-auth applies only to --transport http.")
            if not self.is_loopback:
                raise SettingsError(
                    f"Refusing --no-auth on {self.host}: it is allowed on loopback (127.0.0.1) only; "
                    "drop --no-auth or bind to 127.0.0.1."
                )
            if self.http_token is not None:
                raise SettingsError("--no-auth contradicts VENICE_KEYS_HTTP_TOKEN; unset one of them.")
        if self.transport == "http" and not self.is_loopback and self.http_token is None:
            raise SettingsError(
                f"Refusing to serve HTTP on {self.host} without a bearer token: set VENICE_KEYS_HTTP_TOKEN "
                f"({TOKEN_HINT}) or bind to 127.0.0.1."
            )


def _check_base_url(url: str) -> None:
    """An http(s) URL with a host and, if it names a port, a usable one.

    `urlsplit` reads the port lazily: `http://host:abc` splits fine and would fail (a
    `ValueError`, as a traceback) at the first request. Reading `.port` here fails at load.
    """
    use = "use an http(s) URL such as https://api.venice.ai/api/v1."
    bad_port = f"Invalid VENICE_BASE_URL: its port is not a number from 1 to 65535; {use}"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise SettingsError(
            bad_port if "port" in str(exc).lower() else f"Invalid VENICE_BASE_URL: it is not a URL; {use}"
        ) from None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise SettingsError(f"Invalid VENICE_BASE_URL: {use}")
    if port == 0:
        raise SettingsError(bad_port)


def header_safe(value: str) -> bool:
    """Whether `value` can travel in an HTTP header as is (no spaces, control or non-ASCII characters)."""
    return value.isascii() and value.isprintable() and " " not in value


#: An invalid value is repeated in its error only up to this length: "yes" or "ask" helps the
#: reader, while a long value may be a secret pasted into the wrong variable.
MAX_SHOWN_VALUE = 8


def shown_value(raw: str) -> str:
    """`=<value>` for an error line, or " (value not shown)" when the value could be a secret.

    A value is repeated only when it is short and printable ASCII; the message names the
    variable and the rule either way. No secret shape the scrubber knows fits in
    `MAX_SHOWN_VALUE` characters (the shortest, ``Bearer`` and eight token characters, has
    fifteen), so the length rule alone keeps secrets out (`tests/server/test_settings.py` checks).
    """
    if len(raw) > MAX_SHOWN_VALUE or not (raw.isascii() and raw.isprintable()):
        return " (value not shown)"
    return f"={raw!r}"


def shown_entry(entry: str, number: int) -> str:
    """An invalid list entry, quoted, or "entry <number>" when it could be a secret (see `shown_value`)."""
    return repr(entry) if shown_value(entry).startswith("=") else f"entry {number}"


#: On/off settings. An empty value is unset (`env_value`), hence off: a host fills an unset option in as "".
_SWITCHES = {"read_only", "allow_admin_keys", "sandbox"}


def _unfilled(raw: str) -> bool:
    """A bundle option the host left as its template (`${user_config.admin_key}`): not set."""
    value = raw.strip()
    return value.startswith("${user_config.") and value.endswith("}")


def parse_toolsets(raw: str, name: str = "VENICE_KEYS_TOOLSETS") -> tuple[str, ...]:
    """A comma-separated list of toolsets, or "all"; each name checked, the order kept, repeats dropped."""
    names = [p.strip().lower() for p in raw.split(",") if p.strip()]
    if names == ["all"]:
        return TOOLSETS
    unknown = [n for n in names if n not in TOOLSETS]
    if unknown or not names:
        what = f"{shown_entry(unknown[0], 1)} is not a toolset" if unknown else "no toolset named"
        raise SettingsError(f"Invalid {name}: {what}; use all, or some of {', '.join(TOOLSETS)}.")
    return tuple(dict.fromkeys(names))


def _parse(field: str, name: str, raw: str) -> Any:
    if field in _SWITCHES:
        low = raw.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise SettingsError(f"Invalid {name}{shown_value(raw)}: use 1 or 0.")
    if field in {"allowed_hosts", "allowed_origins"}:
        entries = tuple(p.strip() for p in raw.split(",") if p.strip())
        for number, entry in enumerate(entries, 1):
            if field == "allowed_hosts" and ("/" in entry or " " in entry):
                raise SettingsError(
                    f"Invalid {name}: {shown_entry(entry, number)} is not a Host header; "
                    "use name or name:port."
                )
            if field == "allowed_origins" and not entry.startswith(("http://", "https://")):
                raise SettingsError(
                    f"Invalid {name}: {shown_entry(entry, number)} is not an origin; use e.g. https://example.org."
                )
        return entries
    if field == "toolsets":
        return parse_toolsets(raw, name)
    if field == "confirm" and raw.lower() not in {"auto", "elicit", "agent", "off"}:
        raise SettingsError(f"Invalid {name}{shown_value(raw)}: use auto, elicit, agent or off.")
    if field in {"confirm", "log_level"}:
        return raw.lower() if field == "confirm" else raw.upper()
    if field == "audit_syslog":
        if raw.lower() in _FALSE:
            return None
        try:
            parse_syslog_target(raw)
        except ValueError as exc:
            raise SettingsError(f"Invalid {name}: {exc}.") from None
        return raw
    if field in {"secrets_dir", "audit_log", "state_dir"}:
        return Path(raw).expanduser()
    if field in {"max_usd", "max_diem"}:
        return _cap(name, raw)
    return raw


def _cap(name: str, raw: str) -> float:
    """An operator cap: a finite number from 0 to Venice's largest cap. `inf`, `nan` and `1e999`
    parse as floats but bound nothing (a NaN compares false with every cap), so they are refused.
    The value is not repeated: a secret pasted into the wrong variable must not be echoed."""
    unit = "US dollars" if name == env_name("max_usd") else "DIEM"
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 <= value <= MAX_CAP):
        raise SettingsError(
            f"Invalid {name}: use a finite number of {unit} from 0 to {MAX_CAP} (such as 25), the "
            "highest cap per limit period the agent may give a key; leave it unset for no maximum."
        )
    return value
