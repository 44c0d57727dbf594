"""The Venice side: a typed async client, its models and its errors. Knows nothing of MCP."""
