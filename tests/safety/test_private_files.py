"""Finding 5: no file the server writes is opened through a symlink, or used if another user owns it.

For each file (the audit log, its head file, the audit key, the used-tokens file) a
symlink is planted where the file belongs, pointing at a victim file: the write is
refused with a sentence that names the link, and the victim keeps its mode and content.
`open_private` is the one helper every module uses for this.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from venice_keys_mcp.safety._fs import UnsafeFileError, open_private
from venice_keys_mcp.safety.audit import AuditError, AuditLog, default_audit_key_path, head_path, verify
from venice_keys_mcp.safety.spent_tokens import SpentTokens
from venice_keys_mcp.safety.tokens import ConfirmationTokens

VICTIM_TEXT = b"the victim's own content\n"


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A file someone else cares about, readable by all (0644) so a chmod would show."""
    path = tmp_path / "victim" / "bashrc"
    path.parent.mkdir()
    path.write_bytes(VICTIM_TEXT)
    os.chmod(path, 0o644)
    return path


def assert_untouched(victim: Path) -> None:
    assert victim.read_bytes() == VICTIM_TEXT
    assert stat.S_IMODE(os.stat(victim).st_mode) == 0o644


def append(log: AuditLog) -> None:
    log.append(tool="revoke_key", key_id="k", args={"id": "k"}, confirmation="token", outcome="revoked")


def test_a_symlink_at_the_audit_log_is_refused_and_its_target_untouched(tmp_path, victim):
    path = tmp_path / "audit.jsonl"
    path.symlink_to(victim)
    log = AuditLog(path)
    for attempt in (log.ensure_writable, lambda: append(log)):
        with pytest.raises(AuditError) as info:
            attempt()
        assert f"{path} is a symlink; refusing to follow it" in str(info.value)
    with pytest.raises(UnsafeFileError):
        log.recent()
    with pytest.raises(UnsafeFileError):
        verify(path)
    assert_untouched(victim)


def test_a_symlink_at_the_head_file_is_refused_before_anything_is_written(tmp_path, victim):
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    append(log)
    head_path(path).unlink()
    head_path(path).symlink_to(victim)
    with pytest.raises(AuditError) as info:
        log.ensure_writable()  # the guard refuses the change before it is made
    assert "audit.jsonl.head is a symlink" in str(info.value)
    with pytest.raises(AuditError):
        append(log)
    assert len(path.read_bytes().splitlines()) == 1  # nothing appended
    assert_untouched(victim)
    assert head_path(path).is_symlink()


def test_a_symlink_at_the_audit_key_is_refused(tmp_path, victim):
    key_file = default_audit_key_path()
    key_file.parent.mkdir(parents=True)
    victim.write_bytes(os.urandom(32).hex().encode())  # even a well-formed key is not used
    os.chmod(victim, 0o644)
    content = victim.read_bytes()
    key_file.symlink_to(victim)
    log = AuditLog(tmp_path / "audit.jsonl")
    with pytest.raises(AuditError) as info:
        log.ensure_writable()
    assert "audit.key is a symlink; refusing to follow it" in str(info.value)
    assert victim.read_bytes() == content and stat.S_IMODE(os.stat(victim).st_mode) == 0o644
    assert not (tmp_path / "audit.jsonl").exists()


def test_a_symlink_at_the_used_tokens_file_is_refused_and_the_token_not_accepted(tmp_path, victim):
    spent = tmp_path / "audit.jsonl.tokens"
    spent.symlink_to(victim)
    with pytest.raises(UnsafeFileError) as info:
        SpentTokens(spent).spend("nonce", 2**40, 0)
    assert "is a symlink" in str(info.value)
    tokens = ConfirmationTokens(os.urandom(32), configured=True, spent_file=spent)
    verdict = tokens.check(tokens.issue("revoke_key", {"key_id": "k"}), "revoke_key", {"key_id": "k"})
    assert not verdict.ok and verdict.code == "unrecordable" and "is a symlink" in verdict.reason
    assert_untouched(victim)


def test_the_used_tokens_file_is_made_0600(tmp_path):
    spent = tmp_path / "t" / "audit.jsonl.tokens"
    assert SpentTokens(spent).spend("nonce", 2**40, 0)
    assert stat.S_IMODE(os.stat(spent).st_mode) == 0o600


def test_a_hard_link_to_another_file_is_not_written(tmp_path, victim):
    path = tmp_path / "audit.jsonl"
    os.link(victim, path)
    with pytest.raises(AuditError) as info:
        append(AuditLog(path))
    assert "hard links" in str(info.value)
    assert_untouched(victim)


def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "audit.jsonl"
    os.mkfifo(fifo)
    with pytest.raises(UnsafeFileError) as info:
        open_private(fifo, os.O_RDONLY)
    assert "not a regular file" in str(info.value)


def test_open_private_tightens_a_loose_mode_and_creates_0600(tmp_path):
    loose = tmp_path / "loose"
    loose.write_bytes(b"x")
    os.chmod(loose, 0o666)
    os.close(open_private(loose, os.O_RDWR))
    assert stat.S_IMODE(os.stat(loose).st_mode) == 0o600
    os.close(open_private(tmp_path / "new", os.O_RDWR | os.O_CREAT))
    assert stat.S_IMODE(os.stat(tmp_path / "new").st_mode) == 0o600


def test_open_private_says_a_missing_file_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError):
        open_private(tmp_path / "absent", os.O_RDONLY)


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_a_file_another_user_owns_is_refused(tmp_path, victim):
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b"")
    os.chown(path, 12345, 12345)
    with pytest.raises(AuditError) as info:
        append(AuditLog(path))
    assert "belongs to uid 12345, not to this user" in str(info.value)
    spent = tmp_path / "spent"
    spent.write_bytes(b"")
    os.chown(spent, 12345, 12345)
    with pytest.raises(UnsafeFileError) as exc:
        SpentTokens(spent).seen("n", 0)
    assert exc.value.errno == errno.EPERM
