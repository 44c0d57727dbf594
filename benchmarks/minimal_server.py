"""The baseline: the smallest useful `MCPServer`, one tool, over stdio.

Run as a script (`python path/to/minimal_server.py`), not as a module of this package,
so its start-up pays for the MCP SDK and nothing of ours. Every ratio in the benchmark
divides our server's cost by this one's, measured side by side in the same run.
"""

from mcp.server.mcpserver import MCPServer

server = MCPServer("minimal")


@server.tool()
def echo(text: str) -> str:
    """Return the text unchanged."""
    return text


if __name__ == "__main__":
    server.run()
