"""verify and main_verify: every kind of tampering is found and explained on the right line.

The forger here never has the audit key unless a test says so (`rehash(..., key=KEY)`):
that is the attacker `verify` is built to catch. With the key, the chain still catches
careless edits, and `CANNOT_PROVE` says what it cannot.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from pathlib import Path

import pytest

from venice_keys_mcp.safety._canonical import canonical_json, sha256_hex
from venice_keys_mcp.safety.audit import (
    CANNOT_PROVE,
    GENESIS,
    PROVES,
    AuditLog,
    default_audit_key_path,
    head_path,
    key_id,
    load_audit_key,
    main_verify,
    verify,
)


@pytest.fixture
def log_path(tmp_path) -> Path:
    """A log of five intact entries, keyed with the audit key file."""
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    for i in range(5):
        log.append(
            tool="revoke_key", key_id=f"k{i}", args={"id": f"k{i}"}, confirmation="token", outcome="revoked"
        )
    return path


def the_key() -> bytes:
    key = load_audit_key(default_audit_key_path(), create=False)
    assert key is not None
    return key


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def write_lines(path: Path, content: list[bytes]) -> None:
    path.write_bytes(b"".join(content))


def rehash(line: bytes, *, key: bytes | None = None, **changes: object) -> bytes:
    """Edit an entry and recompute its MAC, as a careful forger would: without the key, with their own."""
    data = json.loads(line)
    data.update(changes)
    data.pop("mac")
    forger_key = key if key is not None else os.urandom(32)
    data["mac"] = hmac.new(forger_key, canonical_json(data).encode(), hashlib.sha256).hexdigest()
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def unkeyed(line: bytes, **changes: object) -> bytes:
    """The entry rewritten in the older, unkeyed format (a plain hash anyone can compute)."""
    data = json.loads(line)
    data.update(changes)
    for name in ("mac", "kid", "hash"):
        data.pop(name, None)
    data["hash"] = sha256_hex(canonical_json(data))
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def rechain(content: list[bytes], convert) -> list[bytes]:
    """Renumber and re-link every line after a deletion, recomputing each one with `convert`."""
    out: list[bytes] = []
    prev = GENESIS
    for seq, line in enumerate(content, start=1):
        fixed = convert(line, seq=seq, prev=prev)
        out.append(fixed)
        prev = sha256_hex(fixed[:-1])
    return out


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
    assert report.reason == (
        "line 3: MAC mismatch — the entry was edited after it was written, or written without the audit key"
    )


def test_audit_verify_detects_an_edit_whose_mac_was_recomputed_without_the_key(log_path):
    content = lines(log_path)
    content[1] = rehash(content[1], outcome="kept")
    write_lines(log_path, content)
    report = verify(log_path)
    assert not report.ok and report.first_broken_line == 2 and "MAC mismatch" in report.reason


def test_with_the_key_an_edit_still_breaks_the_next_entrys_prev(log_path):
    content = lines(log_path)
    content[1] = rehash(content[1], key=the_key(), outcome="kept")
    write_lines(log_path, content)
    report = verify(log_path)
    assert not report.ok and report.first_broken_line == 3
    assert "prev hash does not match line 2" in report.reason


def test_with_the_key_a_rewritten_last_entry_shows_in_the_head_file(log_path):
    content = lines(log_path)
    content[4] = rehash(content[4], key=the_key(), outcome="kept")
    write_lines(log_path, content)
    report = verify(log_path)
    assert not report.ok and report.first_broken_line == 5
    assert "head file" in report.reason


@pytest.mark.parametrize("convert", [rehash, unkeyed], ids=["forger's own key", "older unkeyed format"])
def test_entries_dropped_and_the_chain_recomputed_without_the_key_fail(log_path, convert):
    content = lines(log_path)
    del content[2]  # the entry someone wants gone
    write_lines(log_path, rechain(content, convert))
    head_path(log_path).unlink()  # and the head, which would show the shorter log
    assert main_verify(log_path) == 1
    report = verify(log_path)
    assert not report.ok
    if convert is rehash:
        assert report.first_broken_line == 1 and "MAC mismatch" in report.reason
    else:
        assert "unkeyed (older format)" in report.reason  # consistent, but proves nothing


def test_deleting_the_tail_together_with_the_head_fails(log_path):
    write_lines(log_path, lines(log_path)[:-2])
    head_path(log_path).unlink()
    report = verify(log_path)
    assert not report.ok and report.first_broken_line == 4 and report.entries == 3
    assert "head file audit.jsonl.head is missing" in report.reason


def test_deleting_the_tail_and_forging_a_head_without_the_key_fails(log_path):
    content = lines(log_path)[:-2]
    write_lines(log_path, content)
    head = json.loads(head_path(log_path).read_text())
    forged = {"seq": 3, "hash": sha256_hex(content[-1][:-1]), "kid": head["kid"]}
    forged["mac"] = hmac.new(os.urandom(32), json.dumps(forged).encode(), hashlib.sha256).hexdigest()
    head_path(log_path).write_text(json.dumps(forged))
    report = verify(log_path)
    assert not report.ok and report.first_broken_line == 4 and "wrong MAC" in report.reason
    head_path(log_path).write_text(json.dumps({"seq": 3, "hash": forged["hash"]}))  # an old-style head
    report = verify(log_path)
    assert not report.ok and "carries no MAC" in report.reason


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


def test_a_missing_head_on_a_non_empty_log_fails(log_path):
    head_path(log_path).unlink()
    report = verify(log_path)
    assert not report.ok and report.entries == 5 and report.first_broken_line == 6
    assert "missing" in report.reason


def signed_head(seq: int, line_hash: str, key: bytes) -> str:
    kid = key_id(key)
    message = b"head\x00" + canonical_json({"seq": seq, "hash": line_hash, "kid": kid}).encode()
    mac = hmac.new(key, message, "sha256").hexdigest()
    return json.dumps({"seq": seq, "hash": line_hash, "kid": kid, "mac": mac})


def test_audit_verify_accepts_a_head_that_lags_by_a_crash(log_path):
    head = json.loads(head_path(log_path).read_text())
    content = lines(log_path)
    head_path(log_path).write_text(signed_head(4, sha256_hex(content[3][:-1]), the_key()))
    assert verify(log_path).ok
    head_path(log_path).write_text(signed_head(4, head["hash"], the_key()))
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
    forged = rehash(content[2], key=the_key(), seq=3, key_id="forged")  # even with the key
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
    assert PROVES in out and CANNOT_PROVE in out and f"audit key {key_id(the_key())}" in out

    content = lines(log_path)
    content[2] = content[2].replace(b"revoked", b"kept!!!")
    write_lines(log_path, content)
    assert main_verify(log_path) == 1
    out = capsys.readouterr().out
    assert "BROKEN" in out and "line 3: MAC mismatch" in out and CANNOT_PROVE in out

    assert main_verify(tmp_path / "missing.jsonl") == 2
    assert "not found" in capsys.readouterr().out
    assert main_verify(tmp_path) == 2  # a directory: unreadable
    assert "cannot be read" in capsys.readouterr().out


def test_audit_verify_uses_the_configured_path(tmp_path, monkeypatch, capsys):
    from venice_keys_mcp.cli import main

    monkeypatch.setenv("VENICE_KEYS_AUDIT_LOG", str(tmp_path / "nope.jsonl"))
    assert main(["audit", "verify"]) == 2
    assert "nope.jsonl" in capsys.readouterr().out


# -- older, unkeyed logs -----------------------------------------------------------------------------


@pytest.fixture
def legacy_log(log_path) -> Path:
    """The five entries as a version before the keyed chain wrote them (with its plain head)."""
    content = rechain(lines(log_path), unkeyed)
    write_lines(log_path, content)
    head_path(log_path).write_text(json.dumps({"seq": 5, "hash": sha256_hex(content[-1][:-1])}))
    return log_path


def test_an_unkeyed_log_is_reported_as_such_not_as_intact(legacy_log, capsys):
    report = verify(legacy_log)
    assert not report.ok and report.first_broken_line is None and report.unkeyed == 5
    assert "unkeyed (older format)" in report.reason
    assert main_verify(legacy_log) == 1
    assert "UNKEYED" in capsys.readouterr().out
    assert len(AuditLog(legacy_log).recent(10)) == 5  # still readable


def test_the_first_keyed_entry_seals_an_unkeyed_log_and_continues_its_chain(legacy_log):
    log = AuditLog(legacy_log)
    new = log.append(tool="patch_key", key_id="k", args={}, confirmation="token", outcome="ok")
    assert new.seq == 6 and new.prev == sha256_hex(lines(legacy_log)[4][:-1])
    report = verify(legacy_log)
    assert report.ok and report.entries == 6 and report.unkeyed == 5
    assert "older, unkeyed format, sealed by entry #6" in report.reason
    content = lines(legacy_log)
    content[1] = unkeyed(content[1], outcome="kept")
    write_lines(legacy_log, rechain(content[:5], unkeyed) + content[5:])
    report = verify(legacy_log)  # the old entries rewritten consistently: the seal breaks
    assert not report.ok and report.first_broken_line == 6 and "prev hash" in report.reason


def test_an_unkeyed_entry_after_keyed_ones_fails(log_path):
    content = lines(log_path)
    content.append(unkeyed(content[-1], seq=6, prev=sha256_hex(content[-1][:-1])))
    write_lines(log_path, content)
    report = verify(log_path)
    assert not report.ok and report.first_broken_line == 6 and "unkeyed format after keyed" in report.reason


# -- the key: from the key file or VENICE_KEYS_SIGNING_KEY ----------------------------------------------


def test_main_verify_uses_the_key_derived_from_the_signing_key(tmp_path, monkeypatch, capsys):
    from venice_keys_mcp.safety.audit import derive_audit_key

    signing = os.urandom(32)
    path = tmp_path / "audit.jsonl"
    AuditLog(path, key=derive_audit_key(signing)).append(
        tool="revoke_key", key_id="k", args={}, confirmation="token", outcome="revoked"
    )
    assert main_verify(path) == 1  # no signing key here: the entry's key is unknown
    assert "which this check does not have" in capsys.readouterr().out
    from venice_keys_mcp.cli import main

    monkeypatch.setenv("VENICE_KEYS_SIGNING_KEY", signing.hex())
    assert main(["audit", "verify", "--file", str(path)]) == 0
    assert "derived from VENICE_KEYS_SIGNING_KEY" in capsys.readouterr().out
    monkeypatch.setenv("VENICE_KEYS_SIGNING_KEY", "zz")
    assert main(["audit", "verify", "--file", str(path)]) == 2
    assert "VENICE_KEYS_SIGNING_KEY is only 1 bytes long" in capsys.readouterr().out


def test_verify_never_creates_a_key(tmp_path):
    (tmp_path / "a.jsonl").write_bytes(b"")
    assert verify(tmp_path / "a.jsonl").ok
    assert not default_audit_key_path().exists()


def test_the_readme_states_what_verify_proves_and_cannot_in_the_same_words():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## The audit log", 1)[1].split("\n## ", 1)[0]
    assert PROVES in section and CANNOT_PROVE in section
