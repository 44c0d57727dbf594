"""venice-keys-mcp: administer Venice.ai API keys from an MCP host, safely."""

__version__ = "0.1.0"
