"""`python -m venice_keys_mcp` is the `venice-keys-mcp` command."""

from venice_keys_mcp.cli import main

raise SystemExit(main())
