"""Tests of what users meet first: README, its commands, the MCP Bundle manifest."""
