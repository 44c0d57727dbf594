"""One `Settings` object, built from the environment and then from command-line flags.

Every knob an operator has is here, with the environment variable that sets it, so the
README's settings table, `doctor` and the error messages can all name the same thing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

DEFAULT_BASE_URL = "https://api.venice.ai/api/v1"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

ConfirmMode = Literal["auto", "elicit", "off"]
Transport = Literal["stdio", "http"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]

#: field name -> environment variable(s), first match wins. The README table mirrors this.
ENV_VARS: dict[str, tuple[str, ...]] = {
    "base_url": ("VENICE_BASE_URL",),
    "admin_key": ("VENICE_ADMIN_KEY", "VENICE_API_KEY"),
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
        return self.host in LOOPBACK_HOSTS or self.host.startswith("127.")

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build from `env` (default `os.environ`), then apply non-None `overrides` (flags)."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for field, names in ENV_VARS.items():
            for name in names:
                raw = env.get(name)
                if raw is not None and (raw.strip() or field in {"read_only", "allow_admin_keys"}):
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
        if self.transport == "http" and not self.is_loopback and self.http_token is None:
            raise SettingsError(
                f"Refusing to serve HTTP on {self.host} without a bearer token: set VENICE_KEYS_HTTP_TOKEN "
                "(or bind to 127.0.0.1)."
            )


def _parse(field: str, name: str, raw: str) -> Any:
    if field in {"read_only", "allow_admin_keys"}:
        low = raw.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise SettingsError(f"Invalid {name}={raw!r}: use 1 or 0.")
    if field in {"allowed_hosts", "allowed_origins"}:
        return tuple(p.strip() for p in raw.split(",") if p.strip())
    if field == "confirm" and raw.lower() not in {"auto", "elicit", "off"}:
        raise SettingsError(f"Invalid {name}={raw!r}: use auto, elicit or off.")
    if field in {"confirm", "log_level"}:
        return raw.lower() if field == "confirm" else raw.upper()
    if field in {"secrets_dir", "audit_log"}:
        return Path(raw).expanduser()
    return raw
