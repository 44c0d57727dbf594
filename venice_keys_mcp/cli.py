"""Command line: `serve` (the default), `sandbox`, `doctor`, `approve` and `audit verify`.

Imports are deferred to the command that needs them: an MCP host starts this server at
every session, so start-up pays only for what serving needs.

Exit codes (tested in tests/server/test_cli.py):

    0    success; for the stdio server, the host closed stdin
    1    a check failed (doctor, audit verify)
    2    bad usage or configuration: one line on stderr says what to change
    130  interrupted (Ctrl-C)

Output: in stdio mode stdout carries only MCP messages; the banner, logs and errors
go to stderr. `doctor` writes its report to stdout. Every line printed, on either
stream, passes the secret scrubber first (`safety.console`).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from venice_keys_mcp import __version__

if TYPE_CHECKING:
    from venice_keys_mcp.settings import Settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
LOG_LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR"]


def _serve_flags(p: argparse.ArgumentParser, default: Any) -> None:
    """The serve flags; `default` is None on the top level and SUPPRESS on `serve`.

    With SUPPRESS a sub-command's flag that was not given leaves the top-level value
    alone, so `venice-keys-mcp --sandbox serve` still means the sandbox.
    """
    add = p.add_argument
    add(
        "--sandbox",
        action="store_true",
        default=default,
        help="run against the embedded, seeded Venice sandbox",
    )
    add(
        "--sandbox-keys",
        type=int,
        metavar="N",
        default=default,
        help="pad the sandbox account to N keys (<= 500)",
    )
    add(
        "--transport",
        choices=["stdio", "http"],
        default=default,
        help="stdio (default) or Streamable HTTP at /mcp",
    )
    add(
        "--host",
        default=default,
        help="HTTP bind address (default 127.0.0.1; others need VENICE_KEYS_HTTP_TOKEN)",
    )
    add("--port", type=int, default=default, help="HTTP port (default 8765; 0 picks a free one)")
    add(
        "--no-auth",
        action="store_true",
        default=default,
        help="HTTP without the bearer token (loopback only; anyone on this machine may then call every tool)",
    )
    add(
        "--confirm",
        choices=["auto", "elicit", "agent", "off"],
        default=default,
        help="who approves risky actions: auto (a form, the approval card or the terminal; default), "
        "elicit (forms only), agent (the agent relays a token: weaker), off",
    )
    add("--read-only", action="store_true", default=default, help="list only the read-only tools")
    add(
        "--toolsets",
        metavar="LIST",
        default=default,
        help="tool groups: all, or some of keys,workflows,spend,limits,web3 (default: all but web3)",
    )
    add(
        "--log-level",
        choices=LOG_LEVELS,
        type=str.upper,
        default=default,
        help="log level (logs go to stderr)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="venice-keys-mcp",
        description="MCP server for administering Venice.ai API keys, safely.",
        epilog="The Venice ADMIN API key comes from the environment, never a flag: "
        "VENICE_ADMIN_KEY (required unless --sandbox; VENICE_API_KEY is read if it is unset). "
        "Other settings are VENICE_KEYS_* variables (see the README). "
        "Try it without an account: venice-keys-mcp --sandbox. "
        "Exit codes: 0 ok, 1 a check failed, 2 usage or configuration, 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"venice-keys-mcp {__version__}")
    _serve_flags(parser, None)
    sub = parser.add_subparsers(dest="command")
    _serve_flags(sub.add_parser("serve", help="serve MCP (the default command)"), argparse.SUPPRESS)
    sb = sub.add_parser("sandbox", help="serve the Venice sandbox on loopback for curl and other clients")
    sb.add_argument("--host", default="127.0.0.1")
    sb.add_argument("--port", type=int, default=8787)
    sb.add_argument("--state", metavar="FILE", help="keep the sandbox's state in FILE across restarts")
    sb.add_argument("--keys", type=int, metavar="N", help="pad the demo account to N keys (<= 500)")
    doc = sub.add_parser("doctor", help="check configuration, reachability and the key's type")
    doc.add_argument(
        "--sandbox", action="store_true", default=argparse.SUPPRESS, help="check the embedded sandbox"
    )
    approve = sub.add_parser(
        "approve", help="approve or decline what the agent asked for (pending approvals), on a terminal"
    )
    approve.add_argument(
        "--sandbox", action="store_true", default=argparse.SUPPRESS, help="the sandbox's pending approvals"
    )
    audit = sub.add_parser("audit", help="work with the audit log")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_sub.add_parser("verify", help="check the audit log's keyed hash chain")
    which = verify.add_mutually_exclusive_group()
    which.add_argument("--file", help="audit log path (default: VENICE_KEYS_AUDIT_LOG or the state dir)")
    which.add_argument("--sandbox", action="store_true", help="the newest --sandbox run's own log")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command with every line it prints (stdout and stderr, logs included) scrubbed.

    The scrubber starts with the secrets the environment holds (see `console.env_secrets`);
    the server hands it on to its runtime's, which also learns each new key's secret.
    """
    from venice_keys_mcp.safety.console import env_secrets, scrubbed_output
    from venice_keys_mcp.safety.secrets import Scrubber

    with scrubbed_output(Scrubber(env_secrets())):
        try:
            return _main(argv)
        except Exception:
            # Printed here, not by Python after the streams are put back: a traceback
            # quotes values, and must pass the scrubber like every other line.
            import traceback

            traceback.print_exc()
            return EXIT_FAILED


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "sandbox":
            from venice_keys_mcp.sandbox.serve import run

            return run(host=args.host, port=args.port, state_file=args.state, key_count=args.keys)
        if args.command == "audit":
            from pathlib import Path

            from venice_keys_mcp.safety.audit import main_verify
            from venice_keys_mcp.settings import env_value

            return main_verify(
                Path(args.file) if args.file else None,
                sandbox=args.sandbox,
                configured_path=env_value("audit_log"),
                signing_key=env_value("signing_key"),
            )
        settings = _settings(args)
        if settings is None:
            return EXIT_USAGE
        if args.command == "approve":
            return _approve(settings)
        if args.command == "doctor":
            from venice_keys_mcp.doctor import run_doctor

            return run_doctor(settings)
        return _serve(settings)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def _settings(args: argparse.Namespace) -> Settings | None:
    """Settings from the environment and flags, or None after printing the one line that says why not."""
    from venice_keys_mcp.settings import Settings, SettingsError

    flags = (
        "sandbox",
        "sandbox_keys",
        "transport",
        "host",
        "port",
        "no_auth",
        "confirm",
        "read_only",
        "log_level",
    )
    values = {name: getattr(args, name, None) for name in flags}
    try:
        if getattr(args, "toolsets", None) is not None:
            from venice_keys_mcp.settings import parse_toolsets

            values["toolsets"] = parse_toolsets(args.toolsets, "--toolsets")
        return Settings.load(**values)
    except SettingsError as exc:
        print(f"venice-keys-mcp: {exc}", file=sys.stderr, flush=True)
        return None


def _approve(settings: Settings) -> int:
    """The terminal channel: pending approvals, each decision recorded in the server's audit log."""
    from venice_keys_mcp.approve import run_approve
    from venice_keys_mcp.runtime import audit_path_for
    from venice_keys_mcp.safety.audit import AuditError, AuditLog

    log = AuditLog(audit_path_for(settings))

    def record(approval: Any, outcome: str, user: str) -> None:
        key_id = approval.call.get("key_id")
        try:
            log.append(
                tool=approval.action,
                key_id=key_id if isinstance(key_id, str) else None,
                args=approval.call if approval.kind == "action" else {"key_id": key_id},
                confirmation="terminal",
                outcome=f"{outcome}_at_terminal" if outcome in {"approved", "declined"} else outcome,
                detail=f"approval {approval.id}, by {user} at the terminal",
            )
        except AuditError as exc:
            print(f"venice-keys-mcp approve: not recorded in the audit log: {exc}", file=sys.stderr)

    return run_approve(settings, record=record)


def _serve(settings: Settings) -> int:
    # Before anything else logs: stdout is the protocol's in stdio mode.
    logging.basicConfig(
        level=settings.log_level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if settings.log_level != "DEBUG":
        # httpx2 says "HTTP Request: GET …" at INFO for every request: the call's own line says
        # enough, and two scrubbed log lines a call cost about 0.5 ms. DEBUG shows both layers.
        for name in ("httpx2", "httpcore2"):
            logging.getLogger(name).setLevel(logging.WARNING)
    from venice_keys_mcp.serve import run_server

    return run_server(settings)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
