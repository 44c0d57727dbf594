"""verify and main_verify: every kind of tampering is found and explained on the right line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from venice_keys_mcp.safety._canonical import canonical_json, sha256_hex
from venice_keys_mcp.safety.audit import AuditLog, head_path, main_verify, verify


@pytest.fixture
def log_path(tmp_path) -> Path:
    """A log of five intact entries."""
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    for i in range(5):
        log.append(
            tool="revoke_key", key_id=f"k{i}", args={"id": f"k{i}"}, confirmation="token", outcome="revoked"
        )
    return path


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def write_lines(path: Path, content: list[bytes]) -> None:
    path.write_bytes(b"".join(content))


def rehash(line: bytes, **changes: object) -> bytes:
    """Edit an entry and recompute its own hash, as a careful forger would."""
    data = json.loads(line)
    data.update(changes)
    data.pop("hash")
    data["hash"] = sha256_hex(canonical_json(data))
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def test_audit_verify_accepts_an_intact_log(log_path):
    report = verify(log_path)
    assert report.ok and report.entries == 5 and report.first_broken_line is None
    assert "chain intact" in report.reason and "head file matches" in report.reason


def test_audit_verify_accepts_an_empty_log(tmp_path):
    (tmp_path / "a.jsonl").write_bytes(b"")
    report = verify(tmp_path / "a.jsonl")
    assert report.ok and report.entries == 0


def test_audit_verify_detects_an_edited_entry(log_path):
    content = lines(log_path)
    content[2] = content[2].replace(b'"outcome":"revoked"', b'"outcome":"kept"')
    write_lines(log_path, content)
    report = verify(log_path)
    assert not report.ok and report.first_broken_line == 3 and report.entries == 2
    assert report.reason == "line 3: hash mismatch — the entry was edited after it was written"


def test_audit_verify_detects_an_edit_whose_hash_was_recomputed(log_path):
    content = lines(log_path)
    content[1] = rehash(content[1], outcome="kept")
    write_lines(log_path, content)
    report = verify(log_path)
    assert not report.ok and report.first_broken_line == 3
    assert "prev hash does not match line 2" in report.reason


def test_audit_verify_detects_a_rewritten_last_entry_via_the_head_file(log_path):
    content = lines(log_path)
    content[4] = rehash(content[4], outcome="kept")
    write_lines(log_path, content)
    report = verify(log_path)
    assert not report.ok and report.first_broken_line == 5
    assert "head file" in report.reason


def test_audit_verify_detects_a_deleted_middle_entry(log_path):
    content = lines(log_path)
    del content[2]
    write_lines(log_path, content)
    report = verify(log_path)
    assert not report.ok and report.first_broken_line == 3
    assert "entry #4 follows #2" in report.reason and "deleted" in report.reason


def test_audit_verify_detects_a_deleted_first_entry(log_path):
    write_lines(log_path, lines(log_path)[1:])
    report = verify(log_path)
    assert not report.ok and report.first_broken_line == 1
    assert "starts at entry #2" in report.reason


def test_audit_verify_detects_a_deleted_last_entry_via_the_head_file(log_path):
    write_lines(log_path, lines(log_path)[:-1])
    report = verify(log_path)
    assert not report.ok and report.first_broken_line == 5 and report.entries == 4
    assert "records entry #5 but the log ends at #4" in report.reason


def test_audit_verify_detects_an_emptied_log_via_the_head_file(log_path):
    log_path.write_bytes(b"")
    report = verify(log_path)
    assert not report.ok and report.first_broken_line == 1 and "log is empty" in report.reason


def test_audit_verify_without_head_file_says_what_it_cannot_rule_out(log_path):
    head_path(log_path).unlink()
    write_lines(log_path, lines(log_path)[:-1])
    report = verify(log_path)
    assert report.ok and report.entries == 4
    assert "cannot be ruled out" in report.reason


def test_audit_verify_accepts_a_head_that_lags_by_a_crash(log_path):
    head = json.loads(head_path(log_path).read_text())
    content = lines(log_path)
    head_path(log_path).write_text(json.dumps({"seq": 4, "hash": sha256_hex(content[3][:-1])}))
    assert verify(log_path).ok
    head_path(log_path).write_text(json.dumps({"seq": 4, "hash": head["hash"]}))
    assert not verify(log_path).ok


def test_audit_verify_detects_reordered_entry(log_path):
    content = lines(log_path)
    content[1], content[2] = content[2], content[1]
    write_lines(log_path, content)
    report = verify(log_path)
    assert not report.ok and report.first_broken_line == 2
    assert "moved" in report.reason


def test_audit_verify_detects_an_inserted_entry(log_path):
    content = lines(log_path)
    forged = rehash(content[2], seq=3, key_id="forged")
    content.insert(3, forged)
    write_lines(log_path, content)
    report = verify(log_path)
    assert not report.ok and report.first_broken_line == 4
    assert "inserted" in report.reason


def test_audit_verify_detects_a_duplicated_entry(log_path):
    content = lines(log_path)
    content.insert(2, content[1])
    write_lines(log_path, content)
    report = verify(log_path)
    assert not report.ok and report.first_broken_line == 3
    assert "duplicated" in report.reason


def test_audit_verify_detects_a_torn_last_line(log_path):
    with log_path.open("ab") as f:
        f.write(b'{"seq":6,"ti')
    report = verify(log_path)
    assert not report.ok and report.first_broken_line == 6 and report.entries == 5
    assert "incomplete" in report.reason and "interrupted" in report.reason


def test_audit_verify_detects_a_garbage_line(log_path):
    content = lines(log_path)
    content[1] = b"not json at all\n"
    write_lines(log_path, content)
    report = verify(log_path)
    assert not report.ok and report.first_broken_line == 2 and "not valid JSON" in report.reason


def test_audit_verify_detects_missing_fields(log_path):
    content = lines(log_path)
    data = json.loads(content[0])
    del data["detail"]
    content[0] = json.dumps(data).encode() + b"\n"
    write_lines(log_path, content)
    report = verify(log_path)
    assert not report.ok and report.first_broken_line == 1 and "malformed" in report.reason


def test_audit_verify_detects_a_retyped_field(log_path):
    content = lines(log_path)
    content[0] = content[0].replace(b'"seq":1', b'"seq":"1"')
    write_lines(log_path, content)
    report = verify(log_path)
    assert not report.ok and report.first_broken_line == 1


def test_audit_verify_raises_for_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        verify(tmp_path / "missing.jsonl")


def test_main_verify_exit_codes_and_report(log_path, tmp_path, capsys):
    assert main_verify(log_path) == 0
    out = capsys.readouterr().out
    assert "OK" in out and str(log_path) in out and "5 entries" in out

    content = lines(log_path)
    content[2] = content[2].replace(b"revoked", b"kept!!!")
    write_lines(log_path, content)
    assert main_verify(log_path) == 1
    out = capsys.readouterr().out
    assert "BROKEN" in out and "line 3: hash mismatch" in out

    assert main_verify(tmp_path / "missing.jsonl") == 2
    assert "not found" in capsys.readouterr().out
    assert main_verify(tmp_path) == 2  # a directory: unreadable
    assert "cannot be read" in capsys.readouterr().out


def test_main_verify_uses_the_default_path(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VENICE_KEYS_AUDIT_LOG", str(tmp_path / "nope.jsonl"))
    assert main_verify(None) == 2
    assert "nope.jsonl" in capsys.readouterr().out
