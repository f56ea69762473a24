"""The HDF5 reader child itself under attack (issue 21 item 1): it starts isolated
(``python -I``, its own sys.path, working in /), so nothing planted in the caller's
directory runs in it; it has a CPU-time limit besides the wall-clock timeout, a timeout
that grows with the file's size from a small base, and it dies with its parent."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from fixtures import make_hostile_files as mk
from refresnet.errors import LoadError
from refresnet.io import isolated
from refresnet.io.keras_file import read_keras_file

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_modules_planted_in_the_working_directory_are_not_imported_by_the_child(tmp_path, monkeypatch):
    plant = mk.build("child_cwd_plant", tmp_path / "work")
    monkeypatch.chdir(plant)
    script = tmp_path / "harmless.py"
    script.write_text("import json, tempfile\n")
    # A script the child runs imports json and tempfile by name: with the current
    # directory on sys.path (python -c, the old start), the planted ones would run.
    with pytest.raises(LoadError):
        isolated.run_child(str(script), "runpy", "run_path")  # no reply arrays: refused after running
    with pytest.raises(LoadError, match="h5_int_weights.h5"):
        read_keras_file(os.path.join(mk.HERE, "h5_int_weights.h5"))
    assert sorted(os.listdir(plant)) == sorted(mk.PLANTED), "a planted module ran in the reader child"


def test_the_child_sys_path_is_absolute_and_never_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    paths = isolated.child_sys_path()
    assert paths and all(os.path.isabs(p) for p in paths)
    assert str(tmp_path) not in paths


def test_the_timeout_grows_with_the_file_size_from_a_small_base():
    assert isolated.child_timeout(10_000) <= 12
    assert isolated.child_timeout(10**9) >= isolated.child_timeout(10**8) + 50


def test_a_hang_on_a_small_file_is_refused_within_15_seconds(tmp_path):
    script = tmp_path / "hang.py"
    script.write_text("import time\nwhile True:\n    time.sleep(0.01)\n")  # a hang that burns no CPU
    t = time.monotonic()
    with pytest.raises(LoadError, match=r"hang\.py: reading the file did not finish within"):
        isolated.run_child(str(script), "runpy", "run_path")
    assert time.monotonic() - t < 15


def test_a_spinning_child_is_stopped_by_its_cpu_time_limit(tmp_path):
    script = tmp_path / "spin.py"
    script.write_text("while True:\n    pass\n")
    t = time.monotonic()
    with pytest.raises(LoadError, match=r"spin\.py: reading the file used up its CPU-time limit of 1 s"):
        isolated.run_child(str(script), "runpy", "run_path", timeout=60, cpu_seconds=1)
    assert time.monotonic() - t < 30


def _children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split()]
    except OSError:
        return []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG and /proc are Linux's")
def test_the_child_dies_with_its_parent(tmp_path):
    script = tmp_path / "hang.py"
    script.write_text("while True:\n    pass\n")
    code = textwrap.dedent(f"""
        from refresnet.io import isolated
        isolated.run_child({str(script)!r}, "runpy", "run_path", timeout=120)
    """)
    env = dict(os.environ, PYTHONPATH=REPO)
    parent = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        kids = []
        while not kids and time.monotonic() < deadline:
            time.sleep(0.1)
            kids = _children(parent.pid)
        assert kids, "the parent never started a reader child"
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 10
        while os.path.exists(f"/proc/{kids[0]}") and time.monotonic() < deadline:
            time.sleep(0.1)
        alive = os.path.exists(f"/proc/{kids[0]}")
        if alive:
            os.kill(kids[0], signal.SIGKILL)
        assert not alive, "the reader child outlived its killed parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
