"""The server fixtures of tests/server, for the pages that drive the real server."""

from tests.server.conftest import make_server, server  # noqa: F401  (fixtures, used by name)
