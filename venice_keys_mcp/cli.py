"""Command line: `serve` (the default), `sandbox`, `doctor` and `audit verify`.

Imports are deferred to the command that needs them: an MCP host starts this server at
every session, so start-up pays only for what serving needs.

Exit codes: 0 success; 1 a check failed (doctor, audit verify); 2 bad usage or
configuration; 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from venice_keys_mcp import __version__

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def _serve_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sandbox", action="store_true", help="run against the embedded, seeded Venice sandbox")
    p.add_argument("--sandbox-keys", type=int, metavar="N", help="pad the sandbox account to N keys (<= 500)")
    p.add_argument("--transport", choices=["stdio", "http"], help="stdio (default) or Streamable HTTP at /mcp")
    p.add_argument("--host", help="HTTP bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="HTTP port (default 8765)")
    p.add_argument("--confirm", choices=["auto", "elicit", "off"], help="confirmation mode (default auto)")
    p.add_argument("--read-only", action="store_true", default=None, help="list only the read-only tools")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="venice-keys-mcp",
        description="MCP server for administering Venice.ai API keys, safely.",
        epilog="Try it without an account: venice-keys-mcp --sandbox",
    )
    parser.add_argument("--version", action="version", version=f"venice-keys-mcp {__version__}")
    parser.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"], type=str.upper)
    _serve_flags(parser)
    sub = parser.add_subparsers(dest="command")
    _serve_flags(sub.add_parser("serve", help="serve MCP (the default command)"))
    sb = sub.add_parser("sandbox", help="serve the Venice sandbox on loopback for curl and other clients")
    sb.add_argument("--host", default="127.0.0.1")
    sb.add_argument("--port", type=int, default=8787)
    sb.add_argument("--state", metavar="FILE", help="keep the sandbox's state in FILE across restarts")
    sb.add_argument("--keys", type=int, metavar="N", help="pad the demo account to N keys (<= 500)")
    doc = sub.add_parser("doctor", help="check configuration, reachability and the key's type")
    doc.add_argument("--sandbox", action="store_true", help="check against the embedded sandbox")
    audit = sub.add_parser("audit", help="work with the audit log")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_sub.add_parser("verify", help="check the audit log's hash chain")
    verify.add_argument("--file", help="audit log path (default: VENICE_KEYS_AUDIT_LOG or the state dir)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "sandbox":
            from venice_keys_mcp.sandbox.serve import run

            return run(host=args.host, port=args.port, state_file=args.state, key_count=args.keys)
        if args.command == "audit":
            from pathlib import Path

            from venice_keys_mcp.safety.audit import main_verify

            return main_verify(Path(args.file) if args.file else None)
        if args.command == "doctor":
            from venice_keys_mcp.doctor import run_doctor

            return run_doctor(_settings(args))
        return _serve(args)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def _settings(args: argparse.Namespace):  # -> Settings, imported lazily
    from venice_keys_mcp.settings import Settings, SettingsError

    try:
        return Settings.load(
            sandbox=getattr(args, "sandbox", None) or None,
            sandbox_keys=getattr(args, "sandbox_keys", None),
            transport=getattr(args, "transport", None),
            host=getattr(args, "host", None),
            port=getattr(args, "port", None),
            confirm=getattr(args, "confirm", None),
            read_only=getattr(args, "read_only", None),
            log_level=getattr(args, "log_level", None),
        )
    except SettingsError as exc:
        print(f"venice-keys-mcp: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None


def _serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    logging.basicConfig(
        level=settings.log_level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from venice_keys_mcp.serve import run_server

    return run_server(settings)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
