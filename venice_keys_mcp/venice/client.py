"""`VeniceClient`: one typed async method per Venice endpoint, each group beside its models.

The keys themselves (`/api_keys`, and minting one with a wallet) are here, with their
models in `models.py`, the vocabulary every layer shares; the rate limits
(`limits.py`) and billing (`billing.py`) are endpoint groups, each holding its methods
and the models of their answers. How one exchange goes (retries, what a write raises)
is `transport.py`'s.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from venice_keys_mcp.venice import _wire
from venice_keys_mcp.venice._redact import redact
from venice_keys_mcp.venice.billing import BillingEndpoints
from venice_keys_mcp.venice.errors import MalformedResponse
from venice_keys_mcp.venice.limits import LimitEndpoints
from venice_keys_mcp.venice.models import (
    ApiKey,
    CreatedKey,
    CreateKeyRequest,
    UpdateKeyRequest,
    Web3MintRequest,
)
from venice_keys_mcp.venice.transport import Answer, Auth, Write

log = logging.getLogger("venice_keys_mcp.venice")

#: What a mint's request carries that is a proof, not a choice: never repeated in an error.
_MINT_SECRETS = ("token", "signature")


class VeniceClient(LimitEndpoints, BillingEndpoints):
    """Typed async client of Venice's `/api_keys` and `/billing` endpoints. Knows nothing of MCP.

    Its constructor is `Transport`'s (`transport`, `timeout`, `retry`: see there).
    """

    async def list_keys(self) -> list[ApiKey]:
        """Active keys, newest first, masked (`GET /api_keys`)."""
        answer = await self._read("/api_keys", Auth.ADMIN)
        return self._decode(answer, lambda p: _wire.parse_model_list(p, ApiKey))

    async def get_key(self, key_id: str) -> ApiKey:
        """One key by id (`GET /api_keys/{id}`)."""
        self._check_key_id(key_id)
        answer = await self._read(f"/api_keys/{quote(key_id, safe='')}", Auth.ADMIN, key_id=key_id)
        return self._decode(answer, lambda p: _wire.parse_model(p, ApiKey))

    async def get_web3_token(self) -> str:
        """A 15-minute token for a wallet to sign; needs no API key."""
        answer = await self._read("/api_keys/generate_web3_key", Auth.NONE, web3=True)
        return self._decode(answer, _wire.parse_web3_token)

    async def create_key(self, request: CreateKeyRequest) -> CreatedKey:
        """Create a key; the answer carries its secret, which Venice never shows again."""
        body = request.to_body()
        write = Write("create", None, body)
        answer = await self._write("POST", "/api_keys", Auth.ADMIN, write, json=body)
        return self._created(answer, write)

    async def update_key(self, request: UpdateKeyRequest) -> ApiKey:
        """Change the fields set on `request` (a field set to None removes that cap or expiry)."""
        self._check_key_id(request.id)
        body = request.to_body()
        write = Write("update", request.id, body)
        answer = await self._write("PATCH", "/api_keys", Auth.ADMIN, write, json=body, key_id=request.id)
        try:
            return _wire.parse_model(self._json(answer), ApiKey)
        except _wire.WireError as exc:
            raise MalformedResponse(
                f"Venice accepted the update of key {request.id} (HTTP {answer.status}) but its answer "
                f"{exc.reason}; the change was most likely applied.",
                hint="Check the key with get_key before changing it again.",
                operation="update",
                key_id=request.id,
            ) from None

    async def delete_key(self, key_id: str) -> None:
        """Revoke a key at once (`DELETE /api_keys?id=...`)."""
        self._check_key_id(key_id)
        write = Write("delete", key_id, {"id": key_id})
        answer = await self._write(
            "DELETE", "/api_keys", Auth.ADMIN, write, params={"id": key_id}, key_id=key_id
        )
        if answer.status == 204:  # "done, nothing to say" is as clear as {"success": true}
            return
        try:
            payload = self._json(answer)
            if not (isinstance(payload, dict) and payload.get("success") is True):
                raise _wire.WireError('is not {"success": true}')
        except _wire.WireError as exc:
            raise MalformedResponse(
                f"Venice answered the revoke of key {key_id} with HTTP {answer.status} but its answer "
                f"{exc.reason}.",
                hint="Check list_keys to see whether the key is gone before trying again.",
                operation="delete",
                key_id=key_id,
            ) from None

    async def mint_web3_key(self, request: Web3MintRequest) -> CreatedKey:
        """Mint a key with a wallet's signature of a token from `get_web3_token`; needs no API key."""
        body = request.to_body()
        shown = {k: v for k, v in body.items() if k not in _MINT_SECRETS}
        write = Write("mint", None, shown)
        answer = await self._write(
            "POST", "/api_keys/generate_web3_key", Auth.NONE, write, json=body, web3=True
        )
        return self._created(answer, write)

    def _created(self, answer: Answer, write: Write) -> CreatedKey:
        """Parse a create or mint answer; never let a readable secret be lost."""
        payload: Any = None
        try:
            payload = self._json(answer, require_json_type=False)
            return _wire.parse_model(payload, CreatedKey)
        except _wire.WireError as exc:
            reason = exc.reason
        salvaged = _wire.salvage_created(payload, write.request)
        if salvaged is not None:
            log.warning(
                "%s: Venice's answer %s; kept new key %s, unreadable fields filled from the request.",
                answer.route, redact(reason, *self._secrets()), salvaged.id,
            )  # fmt: skip
            return salvaged
        raise self._unknown(
            write,
            answer.sent_at,
            f"Venice answered {answer.route} with HTTP {answer.status} but its answer {reason}",
            key_id=_wire.created_id(payload),
            hint=(
                "The key was probably created but its secret is lost: find it in list_keys "
                "(by description and creation time), revoke it, and create a new one."
            ),
        )
