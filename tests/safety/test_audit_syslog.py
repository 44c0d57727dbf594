"""The optional second sink: with VENICE_KEYS_AUDIT_SYSLOG every entry also reaches syslog.

A real unix datagram socket, bound by the test, stands in for /dev/log: what arrives is
what journald or rsyslog would get. A syslog that is not there never breaks a write.
"""

from __future__ import annotations

import json
import logging
import socket
from pathlib import Path

import pytest

from venice_keys_mcp.safety.audit import AuditLog, verify
from venice_keys_mcp.safety.syslog_sink import SyslogSink, default_syslog_address, parse_syslog_address
from venice_keys_mcp.settings import Settings, SettingsError

RECV_TIMEOUT = 10.0


@pytest.fixture
def syslog_socket(tmp_path: Path):
    """A bound AF_UNIX datagram socket, like /dev/log; yields (path, socket)."""
    path = tmp_path / "log.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(RECV_TIMEOUT)
    yield path, sock
    sock.close()


def append(log: AuditLog, i: int) -> object:
    return log.append(
        tool="revoke_key", key_id=f"k{i}", args={"i": i}, confirmation="token", outcome="revoked"
    )


def test_every_entry_arrives_at_syslog_as_written(tmp_path, syslog_socket):
    address, sock = syslog_socket
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, syslog=SyslogSink(str(address)))
    for i in range(3):
        append(log, i)
    received = [sock.recv(65536).decode() for _ in range(3)]
    written = path.read_text().splitlines()
    for datagram, line in zip(received, written, strict=True):
        # <priority>tag[pid]: audit <path>: <the exact line>; authpriv (10) * 8 + info (6) = 86
        assert datagram.startswith("<86>venice-keys-mcp[")
        assert datagram.endswith(f": audit {path}: {line}")
    assert [json.loads(d.split(f"audit {path}: ", 1)[1])["seq"] for d in received] == [1, 2, 3]


def test_an_unreachable_syslog_never_breaks_a_write_and_is_said_once(tmp_path, caplog):
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, syslog=SyslogSink(str(tmp_path / "nobody-listens.sock")))
    with caplog.at_level(logging.WARNING):
        for i in range(3):
            append(log, i)
    assert verify(path).ok and verify(path).entries == 3
    warnings = [r.getMessage() for r in caplog.records if "syslog" in r.getMessage()]
    assert len(warnings) == 1 and "the audit log file still has every entry" in warnings[0]


def test_a_syslog_that_comes_back_gets_the_next_entries(tmp_path):
    address = tmp_path / "late.sock"
    log = AuditLog(tmp_path / "audit.jsonl", syslog=SyslogSink(str(address)))
    append(log, 1)  # nobody listening yet
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(address))
    sock.settimeout(RECV_TIMEOUT)
    try:
        append(log, 2)
        assert '"seq":2' in sock.recv(65536).decode()
    finally:
        sock.close()


def test_udp_syslog_receives_entries(tmp_path):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(RECV_TIMEOUT)
    try:
        port = sock.getsockname()[1]
        log = AuditLog(tmp_path / "audit.jsonl", syslog=SyslogSink(parse_syslog_address(f"127.0.0.1:{port}")))
        append(log, 1)
        assert '"key_id":"k1"' in sock.recv(65536).decode()
    finally:
        sock.close()


def test_the_setting_reads_one_a_socket_path_or_host_port_and_refuses_the_rest(tmp_path):
    assert Settings.load({}).audit_syslog is None
    assert Settings.load({"VENICE_KEYS_AUDIT_SYSLOG": "0"}).audit_syslog is None
    assert Settings.load({"VENICE_KEYS_AUDIT_SYSLOG": "1"}).audit_syslog == "1"
    assert parse_syslog_address("1") == default_syslog_address()
    assert parse_syslog_address("/run/x.sock") == "/run/x.sock"
    assert parse_syslog_address("logs.example:514") == ("logs.example", 514)
    with pytest.raises(SettingsError) as info:
        Settings.load({"VENICE_KEYS_AUDIT_SYSLOG": "maybe"})
    assert str(info.value).startswith("Invalid VENICE_KEYS_AUDIT_SYSLOG: use 1")
    with pytest.raises(ValueError):
        Settings(audit_syslog="host:99999")


def test_the_runtime_wires_the_setting_to_the_audit_log(tmp_path, syslog_socket):
    from venice_keys_mcp.runtime import build_runtime

    address, sock = syslog_socket
    rt = build_runtime(
        Settings(
            sandbox=True,
            audit_log=tmp_path / "audit.jsonl",
            secrets_dir=tmp_path / "secrets",
            audit_syslog=str(address),
        )
    )
    append(rt.audit, 7)
    assert '"key_id":"k7"' in sock.recv(65536).decode()
