"""``kill_process_tree`` finds a kernel's descendants in its own tree in /proc (each thread's ``children``
file) instead of scanning every process on the machine, and still kills all of them: children started by
another thread, grandchildren in a session of their own, and double-forked daemons re-parented to the
kernel (a child subreaper). Where Linux has no ``children`` files it falls back to psutil's scan."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from livedocs_runner import kernels
from livedocs_runner.kernels import kill_process_tree

from .conftest import until

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and child subreapers are Linux's")

# a stand-in for a kernel: a subreaper with a child started by a second thread, a grandchild in a session of its
# own, and a double-forked daemon (its parent exits, so it is re-parented to this process); it writes every pid
TREE = """\
import ctypes, os, subprocess, sys, threading, time
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)
sleeper = [sys.executable, "-c", "import time; time.sleep(120)"]
pids = []
thread = threading.Thread(target=lambda: pids.append(subprocess.Popen(sleeper).pid))
thread.start(); thread.join()
nested = subprocess.Popen([sys.executable, "-c",
    "import subprocess, sys, time; subprocess.Popen(sys.argv[1:], start_new_session=True); time.sleep(120)", *sleeper])
pids.append(nested.pid)
middle = os.fork()
if middle == 0:
    if os.fork() == 0:
        os.setsid()
        time.sleep(120)
    os._exit(0)
os.waitpid(middle, 0)
with open(sys.argv[1], "w") as out:
    out.write(" ".join(map(str, pids)))
time.sleep(120)
"""


def descendants(pid: int) -> set[int]:
    return {p.pid for p in psutil.Process(pid).children(recursive=True)}


@pytest.fixture
def tree(tmp_path: Path):
    ready = tmp_path / "pids.txt"
    root = subprocess.Popen([sys.executable, "-c", TREE, str(ready)])
    try:
        until(lambda: ready.exists() and ready.read_text(), "the tree to start", timeout=60)
        until(lambda: len(descendants(root.pid)) == 4, "all four descendants", timeout=60)  # 2, nested's child, daemon
        yield root
    finally:
        for pid in [*descendants(root.pid), root.pid] if root.poll() is None else []:
            with contextlib.suppress(psutil.Error):
                psutil.Process(pid).kill()
        root.wait()


def test_the_tree_in_proc_is_what_a_scan_of_every_process_finds(tree: subprocess.Popen) -> None:
    found = kernels._tree_pids(tree.pid)
    assert found is not None, "this Linux has /proc/PID/task/TID/children"
    assert len(found) == len(set(found)) == 4
    assert set(found) == descendants(tree.pid)
    assert kernels._tree_pids(os.getpid()) is not None and tree.pid in kernels._tree_pids(os.getpid())


@pytest.mark.parametrize("proc_children", [True, False], ids=["proc-tree", "scan-fallback"])
def test_kill_process_tree_kills_every_descendant(tree: subprocess.Popen, proc_children: bool,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kernels, "_PROC_CHILDREN", proc_children)
    doomed = descendants(tree.pid)
    assert len(doomed) == 4
    kill_process_tree(tree.pid, None)
    tree.wait(timeout=30)
    assert tree.returncode == -9

    def gone(pid: int) -> bool:
        try:
            return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    until(lambda: all(gone(pid) for pid in doomed), "every descendant to be killed", timeout=30)
