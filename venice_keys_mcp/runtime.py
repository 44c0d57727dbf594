"""Everything a tool call needs, built once from `Settings`.

The tools receive one `Runtime` and never read the environment or build HTTP clients
themselves, so tests can hand them a runtime wired to an in-process sandbox.

The Venice client is built on first use, not at start-up: an MCP host starts this server
at every session (often to list tools and nothing more), and building an HTTPS client
loads the CA bundle, which costs more than the rest of our start-up together.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import platformdirs

from venice_keys_mcp.safety.approvals import FileApprovalStore
from venice_keys_mcp.safety.audit import (
    AuditLog,
    default_audit_path,
    derive_audit_key,
    new_sandbox_audit_path,
    newest_sandbox_audit_log,
)
from venice_keys_mcp.safety.console import url_secrets
from venice_keys_mcp.safety.policy import PolicySettings
from venice_keys_mcp.safety.secrets import Scrubber, default_secrets_dir
from venice_keys_mcp.safety.tokens import ConfirmationTokens, load_signing_key
from venice_keys_mcp.settings import Settings, env_name

if TYPE_CHECKING:
    import httpx2

    from venice_keys_mcp.sandbox import SandboxState
    from venice_keys_mcp.venice import VeniceClient

APP_NAME = "venice-keys-mcp"


@dataclass
class Runtime:
    settings: Settings
    connect: Callable[[], VeniceClient] = field(repr=False)
    scrubber: Scrubber
    audit: AuditLog
    tokens: ConfirmationTokens
    policy: PolicySettings
    secrets_dir: Path
    signing_key: bytes
    approvals: FileApprovalStore
    sandbox: SandboxState | None = None
    notes: list[str] = field(default_factory=list)
    _client: VeniceClient | None = field(default=None, init=False, repr=False)

    @property
    def client(self) -> VeniceClient:
        """The Venice client, built by `connect` on first use (see the module docstring)."""
        if self._client is None:
            self._client = self.connect()
        return self._client

    @property
    def own_key_last6(self) -> str | None:
        key = self.settings.admin_key
        return key.get_secret_value()[-6:] if key else None

    def request_state_key(self) -> bytes:
        """A key for the SDK's sealed request state, derived so it differs from the token key."""
        return hashlib.sha256(b"venice-keys-mcp/request-state\x00" + self.signing_key).digest()

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()


def build_runtime(settings: Settings, *, transport: httpx2.AsyncBaseTransport | None = None) -> Runtime:
    """Wire the client (real API, loopback sandbox, or in-process sandbox) and the safety layer."""
    sandbox_state = None
    notes: list[str] = []
    state_dir = state_folder(settings)
    if settings.sandbox:
        from venice_keys_mcp.sandbox import seeded_state

        sandbox_state = seeded_state(key_count=settings.sandbox_keys)
        settings = settings.model_copy(
            update={"admin_key": _secret(sandbox_state.demo.admin_key), "base_url": "http://sandbox/api/v1"}
        )
        data_root = platformdirs.user_data_path(APP_NAME) / "sandbox"
        secrets_dir = settings.secrets_dir or data_root / "secrets"
        # Each run its own log: the sandbox forgets everything, its trail included.
        audit_path = settings.audit_log or new_sandbox_audit_path()
    else:
        secrets_dir = settings.secrets_dir or default_secrets_dir()
        audit_path = audit_path_for(settings)

    signing_key, configured = load_signing_key(
        settings.signing_key.get_secret_value() if settings.signing_key else None
    )
    if not configured:
        notes.append(
            f"confirmation tokens are valid only in this process (set {env_name('signing_key')} to share)"
        )

    admin = settings.admin_key.get_secret_value() if settings.admin_key else None
    # Every secret this process holds, in any form it could be echoed; created keys join later.
    held = [
        s.get_secret_value() for s in (settings.admin_key, settings.http_token, settings.signing_key) if s
    ]
    scrubber = Scrubber([*held, *url_secrets(settings.base_url)])
    base_url, timeout = settings.base_url, settings.timeout

    def connect() -> VeniceClient:
        from venice_keys_mcp.venice import VeniceClient

        wire = transport
        if sandbox_state is not None:  # the sandbox's app, like the client, waits for the first call
            from venice_keys_mcp.sandbox import asgi_transport, create_app

            wire = asgi_transport(create_app(sandbox_state))
        return VeniceClient(admin, base_url, transport=wire, timeout=timeout)

    policy = PolicySettings(
        read_only=settings.read_only,
        allow_admin_keys=settings.allow_admin_keys,
        max_usd=settings.max_usd,
        max_diem=settings.max_diem,
        max_expiry_days=settings.max_expiry_days,
        own_key_last6=admin[-6:] if admin else None,
        own_key_id=sandbox_state.demo.admin_key_id if sandbox_state else None,
    )
    syslog = None
    if settings.audit_syslog is not None:
        from venice_keys_mcp.safety.syslog_sink import SyslogSink, parse_syslog_address

        syslog = SyslogSink(parse_syslog_address(settings.audit_syslog))
    # A configured signing key gives every instance sharing it the same audit key;
    # otherwise the audit key file in the user's config folder is used (made on first use).
    audit_key = derive_audit_key(signing_key) if configured else None
    audit = AuditLog(audit_path, key=audit_key, scrubber=scrubber, syslog=syslog)
    return Runtime(
        settings=settings,
        connect=connect,
        scrubber=scrubber,
        audit=audit,
        tokens=ConfirmationTokens(
            signing_key,
            ttl_seconds=settings.token_ttl,
            configured=configured,
            # With a shared key, "used" must be shared too: in the state folder, beside the approvals.
            spent_file=state_dir / "used-tokens" if configured else None,
        ),
        policy=policy,
        secrets_dir=secrets_dir,
        signing_key=signing_key,
        approvals=approval_store(settings),
        sandbox=sandbox_state,
        notes=notes,
    )


def audit_path_for(settings: Settings) -> Path:
    """The audit log this configuration writes to; for the sandbox, the newest run's (`approve` joins it)."""
    if settings.sandbox:
        return settings.audit_log or newest_sandbox_audit_log() or new_sandbox_audit_path()
    return settings.audit_log or default_audit_path()


def approval_store(settings: Settings) -> FileApprovalStore:
    """The pending approvals, in the one file the server and `venice-keys-mcp approve` share."""
    return FileApprovalStore(state_folder(settings) / "approvals.json")


def state_folder(settings: Settings) -> Path:
    """Where pending approvals live: the server and `venice-keys-mcp approve` must agree on it.

    The sandbox keeps its own, so approving a demo action never touches the real account's.
    """
    root = settings.state_dir or platformdirs.user_state_path(APP_NAME)
    return root / "sandbox" if settings.sandbox else root


def _secret(value: str):  # -> SecretStr
    from pydantic import SecretStr

    return SecretStr(value)
