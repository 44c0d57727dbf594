"""deliver_secret: a new key's secret lands in a new private file, durably, or not at all."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import platformdirs
import pytest

from venice_keys_mcp.safety import _fs
from venice_keys_mcp.safety.secrets import SecretDeliveryError, default_secrets_dir, deliver_secret


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_delivery_writes_secret_first_then_comments(tmp_path, canary):
    path = deliver_secret(tmp_path / "secrets", "key-123", canary, meta={"description": "ci bot"})
    assert path == tmp_path / "secrets" / "key-123.key"
    lines = path.read_text().splitlines()
    assert lines[0] == canary
    assert lines[1] == "# key_id: key-123"
    assert lines[2].startswith("# created: ") and lines[2].endswith("Z")
    assert lines[3] == "# description: ci bot"
    assert len(lines) == 4


def test_delivery_file_is_0600_and_directories_0700(tmp_path, canary):
    target = tmp_path / "a" / "b" / "secrets"
    path = deliver_secret(target, "k1", canary)
    assert mode(path) == 0o600
    assert mode(target) == 0o700
    assert mode(tmp_path / "a") == 0o700 and mode(tmp_path / "a" / "b") == 0o700


def test_delivery_modes_hold_under_a_loose_or_odd_umask(tmp_path, canary):
    old = os.umask(0o277)  # would strip the owner's write bit
    try:
        path = deliver_secret(tmp_path / "s", "k1", canary)
    finally:
        os.umask(old)
    assert mode(path) == 0o600 and mode(tmp_path / "s") == 0o700


def test_delivery_tightens_an_existing_loose_directory(tmp_path, canary):
    target = tmp_path / "shared"
    target.mkdir(mode=0o755)
    os.chmod(target, 0o755)
    deliver_secret(target, "k1", canary)
    assert mode(target) == 0o700


def test_delivery_refuses_to_overwrite_an_existing_file(tmp_path, canary, new_canary):
    first = deliver_secret(tmp_path, "k1", canary)
    second = new_canary()
    with pytest.raises(SecretDeliveryError) as info:
        deliver_secret(tmp_path, "k1", second)
    assert "already exists" in str(info.value) and str(first) in str(info.value)
    assert second not in str(info.value)
    assert first.read_text().splitlines()[0] == canary


def test_delivery_refuses_a_planted_symlink_in_place_of_the_file(tmp_path, canary):
    victim = tmp_path / "victim"
    victim.write_text("untouched")
    (tmp_path / "s").mkdir(mode=0o700)
    (tmp_path / "s" / "k1.key").symlink_to(victim)
    with pytest.raises(SecretDeliveryError):
        deliver_secret(tmp_path / "s", "k1", canary)
    assert victim.read_text() == "untouched"


def test_delivery_refuses_a_symlinked_directory(tmp_path, canary):
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    with pytest.raises(SecretDeliveryError) as info:
        deliver_secret(link, "k1", canary)
    assert "symlink" in str(info.value) and str(link) in str(info.value)
    assert list(real.iterdir()) == []


def test_delivery_refuses_a_path_that_is_a_file(tmp_path, canary):
    (tmp_path / "f").write_text("x")
    with pytest.raises(SecretDeliveryError, match="not a directory"):
        deliver_secret(tmp_path / "f", "k1", canary)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to hand a directory to another user")
def test_delivery_refuses_a_directory_owned_by_another_user(tmp_path, canary):
    target = tmp_path / "theirs"
    target.mkdir(mode=0o700)
    os.chown(target, 65534, 65534)
    with pytest.raises(SecretDeliveryError) as info:
        deliver_secret(target, "k1", canary)
    assert "uid 65534" in str(info.value) and "VENICE_KEYS_SECRETS_DIR" in str(info.value)
    assert list(target.iterdir()) == []


def test_delivery_fsyncs_the_file_and_the_directory(tmp_path, canary, monkeypatch):
    synced: list[str] = []
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        synced.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counting_fsync)
    deliver_secret(tmp_path, "k1", canary)
    assert synced == ["file", "dir"]


def test_delivery_failure_names_path_and_cause_removes_the_file_and_hides_the_secret(
    tmp_path, canary, monkeypatch
):
    def failing_fsync(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(SecretDeliveryError) as info:
        deliver_secret(tmp_path, "k1", canary)
    message = str(info.value)
    assert str(tmp_path / "k1.key") in message and "Input/output error" in message
    assert canary not in message and canary not in repr(info.value.__cause__)
    assert info.value.path == tmp_path / "k1.key"
    assert not (tmp_path / "k1.key").exists()


def test_delivery_errors_never_contain_the_secret(tmp_path, canary, monkeypatch):
    def failing_write(fd: int, data: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_fs, "write_all", failing_write)  # where the new file is written
    with pytest.raises(SecretDeliveryError) as info:
        deliver_secret(tmp_path, "k1", canary)
    assert "No space left" in str(info.value) and canary not in str(info.value)
    assert not (tmp_path / "k1.key").exists()


@pytest.mark.parametrize(
    ("key_id", "name"),
    [
        ("3f2a-uuid_like.v1", "3f2a-uuid_like.v1.key"),
        ("../../etc/passwd", ".._.._etc_passwd.key"),
        ("a/b\\c d", "a_b_c_d.key"),
    ],
)
def test_delivery_sanitises_the_key_id_into_a_file_name_inside_the_directory(tmp_path, canary, key_id, name):
    path = deliver_secret(tmp_path / "s", key_id, canary)
    assert path.name == name and path.parent == tmp_path / "s"


@pytest.mark.parametrize("key_id", ["", ".", "..", "..."])
def test_delivery_refuses_key_ids_that_make_no_file_name(tmp_path, canary, key_id):
    with pytest.raises(SecretDeliveryError):
        deliver_secret(tmp_path, key_id, canary)


@pytest.mark.parametrize("bad", ["", "two\nlines", "carriage\rreturn"])
def test_delivery_refuses_an_empty_or_multiline_secret(tmp_path, bad):
    with pytest.raises(SecretDeliveryError) as info:
        deliver_secret(tmp_path, "k1", bad)
    if bad:
        assert bad not in str(info.value)
    assert not (tmp_path / "k1.key").exists()


def test_delivery_meta_cannot_add_lines_or_other_secrets(tmp_path, canary, new_canary):
    other = new_canary()
    path = deliver_secret(
        tmp_path, "k1\nforged", canary, meta={"note": f"line1\nline2 {other}", "echo": f"again {canary}"}
    )
    text = path.read_text()
    assert other not in text
    assert text.count(canary) == 1
    lines = text.splitlines()
    assert lines[1] == "# key_id: k1 forged"
    assert "# note: line1 line2 [REDACTED]" in lines
    assert "# echo: again [REDACTED]" in lines


def test_the_secrets_dir_comes_from_the_settings_else_the_data_directory(tmp_path):
    from venice_keys_mcp.runtime import build_runtime
    from venice_keys_mcp.settings import Settings

    env = {"VENICE_ADMIN_KEY": "k" * 20, "VENICE_KEYS_SECRETS_DIR": str(tmp_path / "mine")}
    env["VENICE_KEYS_AUDIT_LOG"] = str(tmp_path / "audit.jsonl")
    env["VENICE_KEYS_STATE_DIR"] = str(tmp_path / "state")
    assert build_runtime(Settings.load(env)).secrets_dir == tmp_path / "mine"
    assert default_secrets_dir() == platformdirs.user_data_path("venice-keys-mcp") / "secrets"
