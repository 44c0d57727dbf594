"""A faithful emulator of Venice's `/api_keys` endpoints, for demos and tests.

It is the other side of the wire: it shares no code with `venice_keys_mcp.venice`, so
a mismatch between the client and Venice's documented behaviour shows up as a failing
test instead of being hidden by shared models.
"""

from venice_keys_mcp.sandbox.app import create_app
from venice_keys_mcp.sandbox.seed import seeded_state
from venice_keys_mcp.sandbox.state import DemoAccount, SandboxState
from venice_keys_mcp.sandbox.transport import asgi_transport

__all__ = ["DemoAccount", "SandboxState", "asgi_transport", "create_app", "seeded_state"]
