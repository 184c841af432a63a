"""How a fresh kernel is started on Linux (private; see ``kernels.py``).

Run by the runner's own interpreter in front of the kernel's command, as
``python -S _launcher.py RUNNER_PID CMD...``, it

1. makes this process a child subreaper (the flag survives ``execve``): a process the notebook
   double-forks is re-parented to the kernel, not to init, so it is still in the kernel's tree
   when the run ends and the runner kills that tree;
2. forks a guardian that kills the kernel's whole tree if the runner process dies without
   stopping it (``kill -9``, a crash) and exits quietly when the kernel ends first;
3. becomes the kernel (``execvp``: same pid, so jupyter_client tracks it as usual).

Nothing here may fail the kernel: without pidfds there is no guardian, without prctl no subreaper.
"""

import ctypes
import os
import select
import signal
import sys

PR_SET_CHILD_SUBREAPER = 36


def main(argv: list) -> None:
    runner, cmd = int(argv[1]), argv[2:]
    try:
        ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    try:
        runner_fd = os.pidfd_open(runner)
    except (OSError, AttributeError):
        runner_fd = None
    if runner_fd is not None:
        kernel = os.getpid()
        if os.fork() == 0:
            _guard(runner_fd, kernel)
        os.close(runner_fd)
    os.execvp(cmd[0], cmd)


def _guard(runner_fd: int, kernel: int) -> None:
    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # an interrupt sent to the kernel's group is not for us
        kernel_fd = os.pidfd_open(kernel)
        low, high = sorted((runner_fd, kernel_fd))
        os.closerange(3, low)  # nothing the kernel will own stays open here
        os.closerange(low + 1, high)
        os.closerange(high + 1, 4096)
        ready, _, _ = select.select([runner_fd, kernel_fd], [], [])
        if runner_fd in ready and kernel_fd not in ready:
            sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
            from _prockill import kill_tree  # stdlib only, as this file

            kill_tree(kernel)
            os.kill(kernel, signal.SIGKILL)
    except BaseException:  # noqa: BLE001 - the guardian must never run the kernel's command itself
        code = 1
    finally:
        os._exit(code)


if __name__ == "__main__":
    main(sys.argv)
