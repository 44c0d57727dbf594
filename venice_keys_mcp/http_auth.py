"""Bearer-token auth for the HTTP transport: one static operator token, compared in constant time."""

from __future__ import annotations

import hmac
from typing import Any

from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings

from venice_keys_mcp.settings import Settings

SCOPE = "keys:admin"


class StaticTokenVerifier:
    """Implements the SDK's `TokenVerifier` protocol for one configured token."""

    def __init__(self, token: str) -> None:
        self._expected = token.encode()

    async def verify_token(self, token: str) -> AccessToken | None:
        if hmac.compare_digest(token.encode(), self._expected):
            return AccessToken(token="[operator]", client_id="operator", scopes=[SCOPE])
        return None


def auth_kwargs(settings: Settings) -> dict[str, Any]:
    """`MCPServer(...)` arguments that require the token on every HTTP request, when one is set."""
    if settings.http_token is None:
        return {}
    return {
        "token_verifier": StaticTokenVerifier(settings.http_token.get_secret_value()),
        "auth": AuthSettings(
            issuer_url=f"http://{settings.host}:{settings.port or 8765}",
            resource_server_url=None,
            required_scopes=[SCOPE],
        ),
    }
