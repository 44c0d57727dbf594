"""Who may talk to the HTTP transport: a static bearer token, and Host/Origin checks against DNS rebinding.

Allowed Host headers are always the loopback names with the port (`127.0.0.1:P`,
`localhost:P`, `[::1]:P`): a rebinding page cannot make a browser send those, so they are
safe on any bind address, and they are what a client on this machine sends even when the
server listens on 0.0.0.0. A specific non-loopback bind address is added too.
`VENICE_KEYS_ALLOWED_HOSTS` extends that list (it never replaces it); an entry without a
port also allows `entry:P`. Allowed origins are `http://` plus each allowed host, extended
by `VENICE_KEYS_ALLOWED_ORIGINS`. A request without an Origin (any non-browser client)
passes the origin check.

The Host/Origin check runs before the token check, so a foreign page learns nothing about
the token and gets 421/403 whether or not it sent one.

Which token is in force (the configured one, or the one kept in a file) is
`http_token.resolve_token`'s business; this module only checks it.
"""

from __future__ import annotations

import hmac
from typing import Any

from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from venice_keys_mcp.settings import Settings

SCOPE = "keys:admin"


class StaticTokenVerifier:
    """Implements the SDK's `TokenVerifier` protocol for one configured token."""

    def __init__(self, token: str) -> None:
        self._expected = token.encode()

    async def verify_token(self, token: str) -> AccessToken | None:
        if hmac.compare_digest(token.encode(), self._expected):
            # The token itself is not kept: anything that logs the AccessToken shows a placeholder.
            return AccessToken(token="[operator]", client_id="operator", scopes=[SCOPE])
        return None


def auth_kwargs(settings: Settings) -> dict[str, Any]:
    """`MCPServer(...)` arguments that require the token on every HTTP request, when one is set."""
    if settings.http_token is None:
        return {}
    return {
        "token_verifier": StaticTokenVerifier(settings.http_token.get_secret_value()),
        "auth": AuthSettings(
            issuer_url=f"http://{settings.connect_host}:{settings.port}",
            resource_server_url=None,
            required_scopes=[SCOPE],
        ),
    }


def allowed_hosts(settings: Settings) -> list[str]:
    """Host header values the HTTP transport accepts (see the module docstring)."""
    port = settings.port
    hosts = [f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"]
    if not settings.is_wildcard:
        hosts.append(f"{settings.connect_host}:{port}")
    for entry in settings.allowed_hosts:
        hosts.append(entry)
        if not _has_port(entry):
            hosts.append(f"{entry}:{port}")
    return list(dict.fromkeys(hosts))


def allowed_origins(settings: Settings) -> list[str]:
    origins = [f"http://{h}" for h in allowed_hosts(settings)] + list(settings.allowed_origins)
    return list(dict.fromkeys(origins))


def transport_security(settings: Settings) -> TransportSecuritySettings:
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=allowed_hosts(settings),
        allowed_origins=allowed_origins(settings),
    )


class HostOriginGuard:
    """ASGI wrapper that refuses a foreign Host (421) or Origin (403) on every route, before auth.

    The SDK checks the same headers inside `/mcp`, but only after its bearer-auth
    middleware has run; this puts the check first and covers every other path too.
    """

    def __init__(self, app: ASGIApp, security: TransportSecuritySettings) -> None:
        self.app = app
        self._check = TransportSecurityMiddleware(security)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = await self._check.validate_request(Request(scope), is_post=False)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _has_port(host: str) -> bool:
    if host.startswith("["):  # [v6]:port
        return "]:" in host
    return host.count(":") == 1
