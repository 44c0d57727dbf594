"""The read guard `.ci/run` relies on fails a session that reads beside the clone.

Each test runs a real pytest session on a made-up clone in tmp_path, with a file beside it
(in a sibling folder, as a reference folder beside a checkout would be), and checks the
session's verdict and what it lists.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.support import read_guard

SUPPORT = Path(read_guard.__file__).resolve().parent


def run_session(tmp_path: Path, body: str) -> subprocess.CompletedProcess[str]:
    clone = tmp_path / "clone"
    clone.mkdir()
    (clone / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")
    (clone / "inside.txt").write_text("in")
    (tmp_path / "neighbour").mkdir()
    (tmp_path / "neighbour" / "beside.txt").write_text("out")
    (clone / "test_inner.py").write_text(textwrap.dedent(body))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLONE_READ_GUARD")}
    env.update(CLONE_READ_GUARD="1", CLONE_READ_GUARD_ROOT=str(clone), PYTHONPATH=str(SUPPORT))
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "read_guard", "test_inner.py"],
        cwd=clone, env=env, capture_output=True, text=True, timeout=120,
    )


def test_a_read_beside_the_clone_fails_the_session_and_is_named(tmp_path: Path) -> None:
    done = run_session(tmp_path, """
        from pathlib import Path
        def test_reads_beside():
            assert Path("../neighbour/beside.txt").read_text() == "out"
    """)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 passed" in done.stdout  # the test itself passed: the guard failed the session
    assert "read guard: FAILED" in done.stdout
    assert str((tmp_path / "neighbour" / "beside.txt").resolve()) in done.stdout


def test_a_listing_beside_the_clone_in_a_subprocess_is_caught(tmp_path: Path) -> None:
    done = run_session(tmp_path, """
        import subprocess, sys
        def test_child_lists_beside():
            subprocess.run([sys.executable, "-c", "import os; os.listdir('../neighbour')"], check=True)
    """)
    assert done.returncode == 1, done.stdout + done.stderr
    assert str((tmp_path / "neighbour").resolve()) in done.stdout


def test_reads_inside_the_clone_and_in_temp_files_pass(tmp_path: Path) -> None:
    done = run_session(tmp_path, """
        import json, subprocess, sys, tempfile
        from pathlib import Path
        def test_reads_inside(tmp_path):
            assert Path("inside.txt").read_text() == "in"
            assert json.loads(json.dumps({"a": 1}))  # stdlib imports from the Python install
            with tempfile.NamedTemporaryFile() as f:
                f.write(b"x")
            subprocess.run([sys.executable, "-c", "open('inside.txt').read()"], check=True)
    """)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "read guard: nothing read outside" in done.stdout
