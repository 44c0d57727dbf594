"""The command line as a person and an MCP host meet it: flags, exit codes, one-line errors, clean stdout.

Exit codes (cli.py's docstring): 0 ok or stdin closed, 1 a check failed (see test_doctor),
2 usage or configuration, 130 interrupted. Configuration errors are checked in process
(fast, and an uncaught exception fails the test just as a traceback would); a few are
also run as real processes to see exactly what a person sees.
"""

from __future__ import annotations

import contextlib
import json
import os
import pty
import queue
import select
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from support.server_process import (
    REPO_ROOT,
    STOP_TIMEOUT,
    run_cli,
    run_cli_on_terminal,
    server_command,
    server_env,
    stop,
)

from venice_keys_mcp import __version__, cli
from venice_keys_mcp.server import tool_names

READ_TOOLS, WRITE_TOOLS = tool_names()

# --- version and help ----------------------------------------------------------------------------


def test_version_prints_the_package_version(tmp_path):
    done = run_cli("--version", env=server_env(tmp_path))
    assert done.returncode == 0 and done.stdout.strip() == f"venice-keys-mcp {__version__}"


def test_python_m_help_lists_commands_flags_and_exit_codes(tmp_path):
    done = run_cli("--help", env=server_env(tmp_path))
    assert done.returncode == 0 and done.stdout.startswith("usage: venice-keys-mcp")
    for word in ("--sandbox", "--transport", "--read-only", "--log-level", "doctor", "sandbox", "audit"):
        assert word in done.stdout
    assert "130 interrupted" in " ".join(done.stdout.split())
    assert "VENICE_ADMIN_KEY (required unless --sandbox" in " ".join(done.stdout.split())


def test_exit_codes_are_documented_in_the_cli_docstring():
    doc = cli.__doc__ or ""
    for code, meaning in ((0, "success"), (1, "check failed"), (2, "configuration"), (130, "interrupted")):
        line = next((line for line in doc.splitlines() if line.strip().startswith(f"{code} ")), "")
        assert meaning in line, f"exit code {code} is not documented"
    assert (cli.EXIT_OK, cli.EXIT_FAILED, cli.EXIT_USAGE, cli.EXIT_INTERRUPTED) == (0, 1, 2, 130)


def test_unknown_flag_is_a_usage_error(tmp_path):
    done = run_cli("--sandbx", env=server_env(tmp_path))
    assert done.returncode == 2 and "unrecognized arguments: --sandbx" in done.stderr and not done.stdout


# --- configuration errors: exit 2 and one line --------------------------------------------------------


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{stderr}"
    return lines[0]


def test_no_key_and_no_sandbox_is_one_line_and_exit_2(tmp_path):
    done = run_cli(env=server_env(tmp_path))
    line = one_line(done.stderr)
    assert done.returncode == 2 and done.stdout == ""
    assert "VENICE_ADMIN_KEY" in line and "--sandbox" in line


def bad_hex_key() -> str:
    return os.urandom(8).hex()  # hex, but 8 bytes where 32 are needed


BAD_VALUES: list[tuple[str, Any]] = [
    ("VENICE_KEYS_CONFIRM", "maybe"),
    ("VENICE_KEYS_MAX_USD", "abc"),
    ("VENICE_KEYS_MAX_DIEM", "-1"),
    ("VENICE_KEYS_MAX_EXPIRY_DAYS", "0"),
    ("VENICE_KEYS_READ_ONLY", "perhaps"),
    ("VENICE_KEYS_TIMEOUT", "0"),
    ("VENICE_KEYS_LOG_LEVEL", "LOUD"),
    ("VENICE_KEYS_SIGNING_KEY", bad_hex_key),
    ("VENICE_KEYS_SIGNING_KEY", lambda: "not base64 or hex!" + os.urandom(4).hex()),
    ("VENICE_KEYS_HTTP_TOKEN", lambda: os.urandom(4).hex()),
    ("VENICE_KEYS_HTTP_TOKEN", lambda: "has a space " + os.urandom(8).hex()),
    ("VENICE_ADMIN_KEY", lambda: "pasted with a space " + os.urandom(8).hex()),
    ("VENICE_BASE_URL", "ftp://api.venice.ai/api/v1"),
    ("VENICE_KEYS_ALLOWED_ORIGINS", "example.com"),
    ("VENICE_KEYS_ALLOWED_HOSTS", "http://example.com/"),
]
SECRET_VARS = {"VENICE_KEYS_SIGNING_KEY", "VENICE_KEYS_HTTP_TOKEN", "VENICE_ADMIN_KEY"}


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in [k for k in os.environ if k.startswith("VENICE")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("VENICE_KEYS_SECRETS_DIR", str(tmp_path / "secrets"))
    monkeypatch.setenv("VENICE_KEYS_AUDIT_LOG", str(tmp_path / "audit.jsonl"))

    def must_not_serve(settings: Any) -> int:
        raise AssertionError(f"the server started despite bad configuration: {settings!r}")

    monkeypatch.setattr(cli, "_serve", must_not_serve)
    return monkeypatch


@pytest.mark.parametrize(
    ("name", "value"), BAD_VALUES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(BAD_VALUES)]
)
def test_invalid_environment_value_is_one_line_naming_the_variable(clean_env, capsys, name, value):
    raw = value() if callable(value) else value
    clean_env.setenv(name, raw)
    code = cli.main(["--sandbox", "--transport", "http"])
    out, err = capsys.readouterr()
    line = one_line(err)
    assert code == 2 and out == ""
    assert line.startswith("venice-keys-mcp: ") and name in line
    if name in SECRET_VARS:
        assert raw not in line and raw.split()[-1] not in line  # a secret is never echoed


@pytest.mark.parametrize(
    "argv",
    [["--sandbox-keys", "501", "--sandbox"], ["--port", "70000"], ["serve", "--port", "-1", "--sandbox"]],
)
def test_invalid_flag_value_is_one_line_naming_the_flag(clean_env, capsys, argv):
    assert cli.main(argv) == 2
    flag = next(a for a in argv if a.startswith("--") and a != "--sandbox")
    assert flag in one_line(capsys.readouterr().err)


def test_bad_signing_key_in_a_real_process_is_one_line_without_traceback(tmp_path):
    done = run_cli("--sandbox", env=server_env(tmp_path, VENICE_KEYS_SIGNING_KEY=bad_hex_key()))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "VENICE_KEYS_SIGNING_KEY" in one_line(done.stderr) and done.stdout == ""


def test_flags_before_and_after_serve_mean_the_same(clean_env):
    parse = cli.build_parser().parse_args
    for argv in (["--sandbox", "--read-only", "serve"], ["serve", "--sandbox", "--read-only"]):
        settings = cli._settings(parse(argv))
        assert settings is not None and settings.sandbox and settings.read_only, argv


def test_read_only_comes_from_the_flag_or_the_environment(clean_env):
    parse = cli.build_parser().parse_args
    assert cli._settings(parse(["--sandbox"])).read_only is False  # type: ignore[union-attr]
    assert cli._settings(parse(["--sandbox", "--read-only"])).read_only is True  # type: ignore[union-attr]
    clean_env.setenv("VENICE_KEYS_READ_ONLY", "1")
    assert cli._settings(parse(["--sandbox"])).read_only is True  # type: ignore[union-attr]


# --- stdio: a raw session, by hand ------------------------------------------------------------------


@dataclass
class Transcript:
    stdout_lines: list[str]
    responses: dict[int, dict[str, Any]]
    stderr: str
    returncode: int


def request(id_: int, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id_, "method": method, "params": params or {}}


INITIALIZE = request(
    1,
    "initialize",
    {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw-test", "version": "0"}},
)
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}
AFTER_INIT = [
    request(2, "tools/list"),
    request(3, "tools/call", {"name": "create_key", "arguments": {"description": "should not exist"}}),
    request(4, "tools/call", {"name": "list_keys", "arguments": {}}),
]


@pytest.fixture(scope="module")
def raw_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Transcript]:
    """`--sandbox --read-only --log-level DEBUG` over stdio, spoken to by hand, then stdin closed."""
    env = server_env(tmp_path_factory.mktemp("raw"))
    argv = server_command("--sandbox", "--read-only", "--log-level", "DEBUG")
    with tempfile.TemporaryFile() as err:
        process = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, env=env, cwd=REPO_ROOT
        )
        lines: queue.Queue[str | None] = queue.Queue()
        reader = threading.Thread(target=_read_lines, args=(process, lines), daemon=True)
        reader.start()
        seen: list[str] = []
        responses: dict[int, dict[str, Any]] = {}
        try:
            _send(process, INITIALIZE)
            _await_ids(lines, seen, responses, {1})
            for message in [INITIALIZED, *AFTER_INIT]:
                _send(process, message)
            _await_ids(lines, seen, responses, {2, 3, 4})
            assert process.stdin is not None
            process.stdin.close()  # the host going away
            returncode = process.wait(STOP_TIMEOUT * 2)
        finally:
            stop(process)
        reader.join(STOP_TIMEOUT)
        while not lines.empty():
            line = lines.get()
            if line is not None:
                seen.append(line)
        err.seek(0)
        yield Transcript(seen, responses, err.read().decode("utf-8", "replace"), returncode)


def _send(process: subprocess.Popen[bytes], message: dict[str, Any]) -> None:
    assert process.stdin is not None
    process.stdin.write((json.dumps(message) + "\n").encode())
    process.stdin.flush()


def _read_lines(process: subprocess.Popen[bytes], lines: queue.Queue[str | None]) -> None:
    assert process.stdout is not None
    for raw in process.stdout:
        lines.put(raw.decode("utf-8", "replace"))
    lines.put(None)


def _await_ids(
    lines: queue.Queue[str | None], seen: list[str], responses: dict[int, dict[str, Any]], ids: set[int]
) -> None:
    deadline = time.monotonic() + 20
    while not ids <= responses.keys():
        line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        if line is None:
            raise AssertionError(f"stdout closed before responses {ids - responses.keys()} arrived")
        seen.append(line)
        try:
            message = json.loads(line)
        except ValueError:
            continue  # recorded in `seen`; test_stdio_stdout_carries_only_json_rpc_messages reports it
        if isinstance(message, dict) and "id" in message and ("result" in message or "error" in message):
            responses[message["id"]] = message


def test_stdio_stdout_carries_only_json_rpc_messages(raw_session):
    assert raw_session.stdout_lines, "the server answered nothing"
    for line in raw_session.stdout_lines:
        message = json.loads(line)  # every line, not just the ones we waited for
        assert message.get("jsonrpc") == "2.0", line


def test_stdio_initialize_answers_with_the_server_name(raw_session):
    result = raw_session.responses[1]["result"]
    assert result["serverInfo"]["name"] == "venice-keys-mcp" and result["protocolVersion"] == "2025-11-25"


def test_read_only_flag_lists_only_the_read_tools(raw_session):
    tools = raw_session.responses[2]["result"]["tools"]
    assert {t["name"] for t in tools} == set(READ_TOOLS)
    assert all(t["annotations"]["readOnlyHint"] is True for t in tools)


def test_read_only_write_tool_call_is_refused_naming_the_setting(raw_session):
    result = raw_session.responses[3]["result"]
    assert result["isError"] is True and "VENICE_KEYS_READ_ONLY" in result["content"][0]["text"]
    listed = raw_session.responses[4]["result"]
    assert "should not exist" not in json.dumps(listed)  # nothing was created


def test_debug_logs_go_to_stderr_only(raw_session):
    assert " DEBUG " in raw_session.stderr
    assert not any("DEBUG" in line for line in raw_session.stdout_lines)


def test_closing_stdin_ends_the_stdio_server_with_exit_0(raw_session):
    assert raw_session.returncode == 0
    assert "Traceback" not in raw_session.stderr


# --- read-only, in memory, both eras -------------------------------------------------------------------


@pytest.mark.anyio
async def test_read_only_server_hides_and_refuses_write_tools(make_server, mode):
    server = make_server(read_only=True)
    async with Client(server, mode=mode) as c:
        assert {t.name for t in (await c.list_tools()).tools} == set(READ_TOOLS)
        for name in WRITE_TOOLS:
            r = await c.call_tool(name, {"key_id": "x", "description": "x"})
            assert r.is_error and "VENICE_KEYS_READ_ONLY" in r.content[0].text, name  # type: ignore[union-attr]


# --- the banner and Ctrl-C ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def closed_stdin_run(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """`--sandbox` over stdio, stderr on a terminal, stdin closed at once: the banner, then a clean exit."""
    return run_cli_on_terminal("--sandbox", env=server_env(tmp_path_factory.mktemp("banner")))


def test_stdio_banner_says_what_is_served_and_stdout_stays_empty(closed_stdin_run):
    assert closed_stdin_run.returncode == 0 and closed_stdin_run.stdout == ""
    err = closed_stdin_run.stderr
    assert "serving MCP over stdio against the embedded sandbox" in err
    assert "new secrets go to:" in err and "audit log:" in err
    assert "Press Ctrl-C" in err


@pytest.mark.parametrize("level", ["INFO", "WARNING"])
def test_under_a_host_the_banner_is_one_info_line(tmp_path, level):
    """A host reads stderr as a log (Claude Code shows each line as an error): one INFO line, no hints."""
    done = run_cli("--sandbox", "--log-level", level, env=server_env(tmp_path))
    assert done.returncode == 0 and done.stdout == ""
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    if level == "WARNING":
        assert lines == []  # an INFO line, silenced like any other
        return
    assert len(lines) == 1, done.stderr
    assert " INFO venice_keys_mcp: venice-keys-mcp " in lines[0]
    assert "serving MCP over stdio against the embedded sandbox" in lines[0]
    assert f"audit log {tmp_path / 'audit.jsonl'}" in lines[0]


def test_under_a_host_confirmation_off_is_a_warning_line(tmp_path):
    done = run_cli("--sandbox", "--confirm", "off", "--log-level", "WARNING", env=server_env(tmp_path))
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and " WARNING venice_keys_mcp: " in lines[0], done.stderr
    assert "confirmation is OFF" in lines[0]


def test_stdio_banner_command_hint_is_a_command_that_works(closed_stdin_run, tmp_path):
    line = next(line for line in closed_stdin_run.stderr.splitlines() if "claude mcp add" in line)
    argv = shlex.split(line.split(" -- ", 1)[1])
    assert argv[-1] == "--sandbox" and os.path.isabs(argv[0])
    desktop = next(line for line in closed_stdin_run.stderr.splitlines() if "Claude Desktop" in line)
    config = json.loads(desktop.split('"venice-keys": ', 1)[1])
    assert [config["command"], *config["args"]] == argv
    version = subprocess.run(
        [*argv[:-1], "--version"], capture_output=True, text=True, timeout=30, env=server_env(tmp_path)
    )
    assert version.returncode == 0 and __version__ in version.stdout


def test_command_hint_falls_back_to_python_m_without_a_console_script(monkeypatch, tmp_path):
    from venice_keys_mcp import serve

    fake_python = tmp_path / "bin" / "python"
    fake_python.parent.mkdir()
    fake_python.touch()
    monkeypatch.setattr(sys, "executable", str(fake_python))
    monkeypatch.setattr(sys, "argv", [str(REPO_ROOT / "venice_keys_mcp" / "__main__.py")])
    assert serve.command_hint() == [str(fake_python), "-m", "venice_keys_mcp"]
    script = fake_python.parent / "venice-keys-mcp"
    script.touch(mode=0o755)
    assert serve.command_hint() == [str(script)]


def test_ctrl_c_stops_the_stdio_server_with_130_and_no_traceback(tmp_path):
    with tempfile.TemporaryFile() as err:
        process = subprocess.Popen(
            server_command("--sandbox"),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
            env=server_env(tmp_path),
            cwd=REPO_ROOT,
        )
        try:
            deadline = time.monotonic() + 20
            while b"serving MCP over stdio" not in os.pread(err.fileno(), 1 << 16, 0):
                assert process.poll() is None and time.monotonic() < deadline, "the server did not start"
                time.sleep(0.05)
            process.send_signal(signal.SIGINT)
            out, _ = process.communicate(timeout=STOP_TIMEOUT * 2)
        finally:
            stop(process)
        stderr = os.pread(err.fileno(), 1 << 20, 0).decode()
    # 130, or killed by SIGINT (the convention for a program stopped by Ctrl-C, which Python
    # follows for a KeyboardInterrupt it sees unhandled): a shell shows both as 130. A signal
    # sent the moment the banner is out ends the second way about one run in twenty here,
    # before the event loop takes over Ctrl-C, with no traceback and no line of ours.
    assert process.returncode in (130, -signal.SIGINT) and out == b""
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr


# A real terminal: Ctrl-C is the terminal's, not a signal the test sends. The line discipline
# turns the byte 0x03 into SIGINT for the foreground process group, and stdin is a terminal,
# which the SDK's stdio transport reads in a thread that a Ctrl-C could not stop. Ctrl-C is
# pressed only once the program is provably serving (it answered), not merely once its banner
# is out: a signal before the event loop takes over ends the process by another path.

CONSOLE_SCRIPT = Path(sys.executable).parent / "venice-keys-mcp"
TERMINAL_GUARD = 10.0  # a hang guard, never an assertion on time: a hung server fails the test here


class Terminal:
    """A program on a new pseudo-terminal, its output collected as the test reads it."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.pid, self.master = pty.fork()
        if self.pid == 0:  # the child: only exec, nothing that a fork from a threaded process could break
            try:
                os.execve(argv[0], argv, env)
            finally:
                os._exit(127)
        self.output = bytearray()
        self.status: int | None = None

    def text(self) -> str:
        return self.output.decode(errors="replace")

    def read_for(self, seconds: float) -> None:
        readable, _, _ = select.select([self.master], [], [], seconds)
        if readable:
            with contextlib.suppress(OSError):  # EIO: the child is gone and the terminal closed
                self.output.extend(os.read(self.master, 1 << 16))

    def wait_for(self, text: bytes, after: int = 0) -> None:
        deadline = time.monotonic() + 30
        while text not in self.output[after:]:
            assert time.monotonic() < deadline and os.waitpid(self.pid, os.WNOHANG)[0] == 0, self.text()
            self.read_for(0.1)

    def ctrl_c(self) -> int:
        """Press Ctrl-C; the exit code, once the program has ended (or the test fails on the guard)."""
        os.write(self.master, b"\x03")
        deadline = time.monotonic() + TERMINAL_GUARD
        while self.status is None and time.monotonic() < deadline:
            self.read_for(0.1)
            done, raw = os.waitpid(self.pid, os.WNOHANG)
            self.status = raw if done else None
        self.read_for(0.1)
        assert self.status is not None, f"still running after Ctrl-C on a terminal:\n{self.text()}"
        return os.waitstatus_to_exitcode(self.status)

    def close(self) -> None:
        if self.status is None:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        os.close(self.master)


def test_ctrl_c_on_a_terminal_stops_the_stdio_server_with_130_and_no_traceback(tmp_path):
    term = Terminal([str(CONSOLE_SCRIPT), "--sandbox"], server_env(tmp_path))
    try:
        term.wait_for(b"Press Ctrl-C")
        banner_end = len(term.output)
        hello = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"},
            },
        }
        os.write(term.master, json.dumps(hello).encode() + b"\n")  # typed on the terminal, as a person could
        term.wait_for(b'"serverInfo"', after=banner_end)  # it answered: it serves the terminal, reading on
        for fd in (0, 2):  # the terminal the shell shares stays blocking: only the server's own copy is not
            fdinfo = Path(f"/proc/{term.pid}/fdinfo/{fd}")
            if fdinfo.exists():
                line = next(x for x in fdinfo.read_text().splitlines() if x.startswith("flags:"))
                flags = int(line.split()[1], 8)
                assert not flags & os.O_NONBLOCK, f"fd {fd} of the server was made non-blocking"
        code = term.ctrl_c()
    finally:
        term.close()
    assert code == cli.EXIT_INTERRUPTED, term.text()
    assert "Traceback" not in term.text() and "KeyboardInterrupt" not in term.text()


def test_ctrl_c_on_a_terminal_stops_the_loopback_sandbox_with_130(tmp_path):
    term = Terminal([str(CONSOLE_SCRIPT), "sandbox", "--port", "0"], server_env(tmp_path))
    try:
        term.wait_for(b"Stop with Ctrl-C")
        base_url = json.loads(term.text().splitlines()[0])["base_url"]
        health = base_url.removesuffix("/api/v1") + "/_sandbox/health"
        deadline = time.monotonic() + 30
        while True:  # serving: uvicorn has taken over Ctrl-C
            try:
                if httpx2.get(health).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            assert time.monotonic() < deadline, term.text()
            term.read_for(0.1)
        code = term.ctrl_c()
    finally:
        term.close()
    assert code == cli.EXIT_INTERRUPTED, term.text()
    assert "Traceback" not in term.text() and "KeyboardInterrupt" not in term.text()
