"""One `Settings` object, built from the environment and then from command-line flags.

Every knob an operator has is here, with the environment variable that sets it, so the
README's settings table, `doctor` and the error messages can all name the same thing.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from venice_keys_mcp.safety.tokens import load_signing_key

DEFAULT_BASE_URL = "https://api.venice.ai/api/v1"
WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})
#: A bearer token shorter than this is guessable by anything that can reach the port.
MIN_HTTP_TOKEN_CHARS = 16
TOKEN_HINT = 'generate one with: python -c "import secrets; print(secrets.token_urlsafe(32))"'

ConfirmMode = Literal["auto", "elicit", "off"]
Transport = Literal["stdio", "http"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]

#: field name -> environment variable(s), first match wins. The README table mirrors this.
ENV_VARS: dict[str, tuple[str, ...]] = {
    "base_url": ("VENICE_BASE_URL",),
    "admin_key": ("VENICE_ADMIN_KEY", "VENICE_API_KEY"),
    "sandbox": ("VENICE_KEYS_SANDBOX",),
    "confirm": ("VENICE_KEYS_CONFIRM",),
    "read_only": ("VENICE_KEYS_READ_ONLY",),
    "allow_admin_keys": ("VENICE_KEYS_ALLOW_ADMIN_KEYS",),
    "max_usd": ("VENICE_KEYS_MAX_USD",),
    "max_diem": ("VENICE_KEYS_MAX_DIEM",),
    "max_expiry_days": ("VENICE_KEYS_MAX_EXPIRY_DAYS",),
    "secrets_dir": ("VENICE_KEYS_SECRETS_DIR",),
    "audit_log": ("VENICE_KEYS_AUDIT_LOG",),
    "signing_key": ("VENICE_KEYS_SIGNING_KEY",),
    "http_token": ("VENICE_KEYS_HTTP_TOKEN",),
    "allowed_hosts": ("VENICE_KEYS_ALLOWED_HOSTS",),
    "allowed_origins": ("VENICE_KEYS_ALLOWED_ORIGINS",),
    "timeout": ("VENICE_KEYS_TIMEOUT",),
    "log_level": ("VENICE_KEYS_LOG_LEVEL",),
}

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
    allowed_hosts: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    confirm: ConfirmMode = "auto"
    read_only: bool = False
    allow_admin_keys: bool = False
    max_usd: float | None = Field(default=None, ge=0)
    max_diem: float | None = Field(default=None, ge=0)
    max_expiry_days: int | None = Field(default=None, ge=1)
    secrets_dir: Path | None = None
    audit_log: Path | None = None
    signing_key: SecretStr | None = None
    token_ttl: int = Field(default=300, ge=30, le=3600)
    timeout: float = Field(default=15.0, gt=0, le=300)
    log_level: LogLevel = "INFO"

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
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for field, names in ENV_VARS.items():
            for name in names:
                raw = env.get(name)
                if raw is not None and _unfilled(raw):
                    continue
                if raw is not None and (raw.strip() or field in _SWITCHES):
                    values[field] = _parse(field, name, raw.strip())
                    break
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
        if self.admin_key is not None and not _header_safe(self.admin_key.get_secret_value()):
            raise SettingsError(
                "Invalid VENICE_ADMIN_KEY: it contains spaces or control characters; check how it was pasted."
            )
        if self.signing_key is not None:
            try:
                load_signing_key(self.signing_key.get_secret_value())
            except ValueError as exc:  # its message names the variable and never repeats the value
                raise SettingsError(str(exc)) from None
        if self.http_token is not None:
            token = self.http_token.get_secret_value()
            if not _header_safe(token):
                raise SettingsError(
                    "Invalid VENICE_KEYS_HTTP_TOKEN: it contains spaces or control characters."
                )
            if len(token) < MIN_HTTP_TOKEN_CHARS:
                raise SettingsError(
                    f"Invalid VENICE_KEYS_HTTP_TOKEN: it has {len(token)} characters; use at least "
                    f"{MIN_HTTP_TOKEN_CHARS}. {TOKEN_HINT}"
                )
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


def _header_safe(value: str) -> bool:
    """Whether `value` can travel in an HTTP header as is (no spaces, control or non-ASCII characters)."""
    return value.isascii() and value.isprintable() and " " not in value


#: On/off settings: an empty value means off (a host fills an unset option in as "").
_SWITCHES = {"read_only", "allow_admin_keys", "sandbox"}


def _unfilled(raw: str) -> bool:
    """A bundle option the host left as its template (`${user_config.admin_key}`): not set."""
    value = raw.strip()
    return value.startswith("${user_config.") and value.endswith("}")


def _parse(field: str, name: str, raw: str) -> Any:
    if field in _SWITCHES:
        low = raw.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise SettingsError(f"Invalid {name}={raw!r}: use 1 or 0.")
    if field in {"allowed_hosts", "allowed_origins"}:
        entries = tuple(p.strip() for p in raw.split(",") if p.strip())
        for entry in entries:
            if field == "allowed_hosts" and ("/" in entry or " " in entry):
                raise SettingsError(f"Invalid {name}: {entry!r} is not a Host header; use name or name:port.")
            if field == "allowed_origins" and not entry.startswith(("http://", "https://")):
                raise SettingsError(f"Invalid {name}: {entry!r} is not an origin; use e.g. https://{entry}.")
        return entries
    if field == "confirm" and raw.lower() not in {"auto", "elicit", "off"}:
        raise SettingsError(f"Invalid {name}={raw!r}: use auto, elicit or off.")
    if field in {"confirm", "log_level"}:
        return raw.lower() if field == "confirm" else raw.upper()
    if field in {"secrets_dir", "audit_log"}:
        return Path(raw).expanduser()
    return raw
