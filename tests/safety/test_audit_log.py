"""AuditLog: append-only, keyed hash chain, private, continuing across restarts, secret-free."""

from __future__ import annotations

import json
import os
import stat

import platformdirs
import pytest

from venice_keys_mcp.safety import audit as audit_mod
from venice_keys_mcp.safety._canonical import canonical_json, sha256_hex
from venice_keys_mcp.safety.audit import (
    GENESIS,
    AuditError,
    AuditLog,
    default_audit_key_path,
    default_audit_path,
    derive_audit_key,
    head_path,
    key_id,
    load_audit_key,
    verify,
)
from venice_keys_mcp.safety.secrets import REDACTED, Scrubber


def append(log: AuditLog, i: int = 0, **overrides: object):
    fields: dict = {
        "tool": "patch_key",
        "key_id": f"key-{i}",
        "args": {"id": f"key-{i}", "usd": i},
        "confirmation": "elicitation",
        "outcome": "updated",
    }
    fields.update(overrides)
    return log.append(**fields)


def file_key() -> bytes:
    """The audit key the log made on first use (in this test's own config folder)."""
    key = load_audit_key(default_audit_key_path(), create=False)
    assert key is not None
    return key


def test_first_entry_starts_the_chain_with_zeros(tmp_path):
    entry = append(AuditLog(tmp_path / "audit.jsonl"))
    assert entry.seq == 1 and entry.prev == GENESIS
    assert entry.kid == key_id(file_key()) and entry.mac == entry.computed_mac(file_key())
    assert entry.time.endswith("Z")


def test_each_line_is_the_entry_and_prev_is_the_hash_of_the_previous_line(tmp_path):
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    entries = [append(log, i) for i in range(3)]
    raw = path.read_bytes().split(b"\n")
    assert raw[-1] == b"" and len(raw) == 4
    assert [json.loads(line)["seq"] for line in raw[:3]] == [1, 2, 3]
    assert list(json.loads(raw[0])) == [
        "seq", "time", "tool", "key_id", "args_digest", "confirmation", "outcome", "detail", "prev", "kid",
        "mac",
    ]  # fmt: skip
    assert entries[1].prev == sha256_hex(raw[0]) and entries[2].prev == sha256_hex(raw[1])


def test_mac_is_an_hmac_of_the_canonical_json_without_the_mac_field(tmp_path):
    import hashlib
    import hmac

    entry = append(AuditLog(tmp_path / "audit.jsonl"))
    body = canonical_json(entry.model_dump(exclude={"mac"})).encode()
    assert entry.mac == hmac.new(file_key(), body, hashlib.sha256).hexdigest()
    assert entry.mac != sha256_hex(body)  # not a plain hash anyone could recompute


def test_audit_key_file_is_made_once_0600_in_a_0700_folder_outside_the_log_folder(tmp_path):
    path = tmp_path / "state" / "audit.jsonl"
    append(AuditLog(path))
    key_file = default_audit_key_path()
    assert key_file.parent != path.parent and not (path.parent / "audit.key").exists()
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(key_file.parent).st_mode) == 0o700
    first = key_file.read_bytes()
    append(AuditLog(path), 2)  # a restart reads the same key
    assert key_file.read_bytes() == first and len(bytes.fromhex(first.decode().strip())) == 32
    assert verify(path).ok


def test_a_configured_signing_key_gives_instances_one_audit_key_and_no_key_file(tmp_path):
    signing = os.urandom(32)
    path = tmp_path / "audit.jsonl"
    append(AuditLog(path, key=derive_audit_key(signing)), 1)
    append(AuditLog(path, key=derive_audit_key(signing)), 2)
    assert not default_audit_key_path().exists()
    key = derive_audit_key(signing)
    assert key != signing and verify(path, {key_id(key): key}).ok
    other = derive_audit_key(os.urandom(32))
    report = verify(path, {key_id(other): other})
    assert not report.ok and report.first_broken_line == 1 and "does not have" in report.reason


def test_audit_file_is_0600_and_a_new_directory_0700(tmp_path):
    path = tmp_path / "state" / "nested" / "audit.jsonl"
    append(AuditLog(path))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(tmp_path / "state").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(head_path(path)).st_mode) == 0o600


def test_audit_tightens_a_loose_existing_file(tmp_path):
    path = tmp_path / "audit.jsonl"
    path.touch(mode=0o644)
    os.chmod(path, 0o644)
    append(AuditLog(path))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_chain_continues_across_audit_log_instances(tmp_path):
    path = tmp_path / "audit.jsonl"
    append(AuditLog(path), 1)
    append(AuditLog(path), 2)
    restarted = AuditLog(path)
    third = append(restarted, 3)
    assert third.seq == 3
    assert verify(path).ok and verify(path).entries == 3


def test_args_digest_ignores_key_order_and_differs_for_different_args(tmp_path):
    log = AuditLog(tmp_path / "audit.jsonl")
    a = append(log, args={"id": "k", "usd": 5, "diem": None})
    b = append(log, args={"diem": None, "usd": 5, "id": "k"})
    c = append(log, args={"id": "k", "usd": 6, "diem": None})
    assert a.args_digest == b.args_digest != c.args_digest
    assert a.args_digest.startswith("sha256:") and len(a.args_digest) == 7 + 64


def test_args_digest_is_computed_after_secrets_are_redacted(tmp_path, canary, new_canary):
    log = AuditLog(tmp_path / "audit.jsonl")
    first = append(log, args={"token": canary})
    second = append(log, args={"token": new_canary()})
    assert first.args_digest == second.args_digest
    assert first.args_digest == "sha256:" + sha256_hex(canonical_json({"token": REDACTED}))


def test_no_secret_reaches_the_audit_file(tmp_path, canary):
    literal = "configured-admin-secret-value"
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, scrubber=Scrubber([literal]))
    entry = append(
        log,
        key_id=f"id {canary}",
        args={"secret": canary, "nested": [literal]},
        outcome=f"failed {literal}",
        detail=f"Venice echoed {canary} and Bearer abcdefghijkl12345",
    )
    text = path.read_text()
    assert canary not in text and literal not in text and "abcdefghijkl12345" not in text
    assert entry.detail == f"Venice echoed {REDACTED} and Bearer {REDACTED}"
    assert verify(path).ok


def test_args_with_dates_and_decimals_are_digestible(tmp_path):
    from datetime import UTC, datetime
    from decimal import Decimal

    entry = append(
        AuditLog(tmp_path / "audit.jsonl"),
        args={"expires_at": datetime(2030, 1, 1, tzinfo=UTC), "usd": Decimal("1.50")},
    )
    assert entry.args_digest.startswith("sha256:")


def test_recent_returns_newest_last(tmp_path):
    log = AuditLog(tmp_path / "audit.jsonl")
    for i in range(30):
        append(log, i)
    assert [e.seq for e in log.recent(5)] == [26, 27, 28, 29, 30]
    assert [e.seq for e in log.recent()] == list(range(11, 31))
    assert len(log.recent(100)) == 30
    assert log.recent(0) == []


def test_recent_on_a_missing_log_is_empty(tmp_path):
    assert AuditLog(tmp_path / "none.jsonl").recent() == []


def test_recent_reads_only_the_tail_of_a_large_log(tmp_path, monkeypatch):
    path = tmp_path / "audit.jsonl"
    filler = (b'{"filler": "' + b"x" * 1000 + b'"}\n') * 7000  # ~7 MB of old lines
    path.write_bytes(filler)
    log = AuditLog(path)
    for i in range(3):
        append(log, i)
    read = 0
    real_pread = os.pread

    def counting_pread(fd: int, n: int, offset: int) -> bytes:
        nonlocal read
        read += n
        return real_pread(fd, n, offset)

    monkeypatch.setattr(os, "pread", counting_pread)
    assert [e.outcome for e in log.recent(3)] == ["updated"] * 3
    assert read < 1024 * 1024
    read = 0
    assert len(log.recent(50)) == 3  # looks further back, but not past the cap
    assert read <= audit_mod.MAX_TAIL_BYTES + 64 * 1024


def test_append_after_a_torn_line_starts_a_new_line_and_continues_the_chain(tmp_path):
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    append(log, 1)
    second = append(log, 2)
    with path.open("ab") as f:
        f.write(b'{"seq":3,"time":"2026-')  # a crash mid-write
    report = verify(path)
    assert not report.ok and report.first_broken_line == 3
    assert "incomplete" in report.reason

    fourth = append(log, 3)
    lines = path.read_bytes().split(b"\n")
    assert lines[2] == b'{"seq":3,"time":"2026-'
    assert json.loads(lines[3])["seq"] == 3
    assert fourth.seq == 3 and fourth.prev == sha256_hex(path.read_bytes().split(b"\n")[1])
    assert [e.seq for e in log.recent(5)] == [1, 2, 3]
    assert second.seq == 2
    report = verify(path)
    assert not report.ok and report.first_broken_line == 3  # the torn line stays on record


def test_head_file_records_the_newest_entry(tmp_path):
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    append(log, 1)
    append(log, 2)
    head = json.loads(head_path(path).read_text())
    assert set(head) == {"seq", "hash", "kid", "mac"}
    assert (head["seq"], head["hash"]) == (2, sha256_hex(path.read_bytes().split(b"\n")[1]))
    assert head["kid"] == key_id(file_key()) and len(head["mac"]) == 64


def test_append_after_the_newest_entries_were_deleted_keeps_the_gap_visible(tmp_path):
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    for i in range(4):
        append(log, i)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:2]))  # someone removes entries 3 and 4
    fifth = append(AuditLog(path), 9)
    assert fifth.seq == 5
    report = verify(path)
    assert not report.ok and report.first_broken_line == 3
    assert "#5 follows #2" in report.reason


def test_the_audit_path_comes_from_the_settings_else_the_state_directory(tmp_path):
    from venice_keys_mcp.runtime import audit_path_for
    from venice_keys_mcp.settings import Settings

    configured = Settings.load({"VENICE_KEYS_AUDIT_LOG": str(tmp_path / "a.jsonl")})
    assert audit_path_for(configured) == tmp_path / "a.jsonl"
    assert audit_path_for(Settings.load({})) == default_audit_path()
    assert default_audit_path() == platformdirs.user_state_path("venice-keys-mcp") / "audit.jsonl"


def test_append_fsyncs_the_log(tmp_path, monkeypatch):
    synced: list[tuple[int, int]] = []
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        info = os.fstat(fd)
        synced.append((info.st_dev, info.st_ino))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counting_fsync)
    path = tmp_path / "audit.jsonl"
    append(AuditLog(path))
    info = os.stat(path)
    assert (info.st_dev, info.st_ino) in synced  # (the key file, made first, is fsynced too)


def test_threads_sharing_one_audit_log_keep_one_chain(tmp_path):
    import threading

    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    other = AuditLog(path)
    threads = [
        threading.Thread(target=lambda lg=lg: [append(lg, i) for i in range(50)])
        for lg in (log, other, log, other)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report = verify(path)
    assert report.ok and report.entries == 200


@pytest.mark.parametrize("outcome", ["refused", "declined", "revoked"])
def test_refusals_and_declines_are_recorded_like_changes(tmp_path, outcome):
    log = AuditLog(tmp_path / "audit.jsonl")
    entry = append(log, outcome=outcome, confirmation="declined", detail="policy said no")
    assert log.recent(1) == [entry]


def test_append_to_an_unwritable_location_raises_a_clear_audit_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(AuditError) as info:
        append(AuditLog(blocker / "audit.jsonl"))
    assert str(blocker / "audit.jsonl") in str(info.value) and "VENICE_KEYS_AUDIT_LOG" in str(info.value)


def test_a_head_file_that_cannot_be_written_does_not_lose_the_entry(tmp_path, monkeypatch, caplog):
    path = tmp_path / "audit.jsonl"

    def failing_head(*args: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(audit_mod, "_write_head", failing_head)
    entry = append(AuditLog(path))
    assert AuditLog(path).recent(1) == [entry]
    assert "could not update" in caplog.text


def test_a_log_verifies_itself_with_the_key_it_writes_with(tmp_path):
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, key=derive_audit_key(os.urandom(32)))
    append(log)
    assert log.verify().ok and not verify(path).ok  # the default keys are not this one
