"""Killing a process tree with the standard library only (private).

Loaded by path by the fork template (``_forktemplate.py``: its kernels' runner watchers, and the template
when the runner is gone) and imported by ``_launcher.py``'s guardian: neither may import this package.
"""

from __future__ import annotations

import contextlib
import os
import signal


def kill_tree(root: int | None = None) -> None:
    """SIGKILL every descendant of ``root`` (default: this process) wherever its session, except this
    process: stopped first, listed from /proc."""
    me = os.getpid()
    seen: set[int] = {me}
    for _ in range(5):
        parents: dict[int, int] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat", "rb") as handle:
                        stat = handle.read()
                    parents[int(entry)] = int(stat[stat.rindex(b")") + 2:].split()[1])
                except (OSError, ValueError, IndexError):
                    continue
        tree, frontier = set(), {root or me}
        while frontier:
            frontier = {pid for pid, ppid in parents.items() if ppid in frontier and pid not in tree}
            tree |= frontier
        new = tree - seen
        if not new:
            break
        for pid in new:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGSTOP)
        seen |= new
    for pid in seen - {me}:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
