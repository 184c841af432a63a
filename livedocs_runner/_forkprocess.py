"""The fork server's processes (private; see ``forkserver.py``): a template process and its pipes
(:class:`_Template`), and the Popen-like handle of a kernel it forked (:class:`ForkedProcess`)."""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import threading
from collections import deque
from pathlib import Path
from typing import Any

from ._forkhot import written_pages

TEMPLATE_FILE = Path(__file__).with_name("_forktemplate.py")
# runs the template by path: the kernel's interpreter need not have this package installed
BOOTSTRAP = "import runpy, sys; p = sys.argv.pop(1); sys.argv[0] = p; runpy.run_path(p, run_name='__main__')"
LESSONS = 3  # kernels a template asks which pages they wrote before it gives up (see _Template.teach_pages)
# (interpreter, working folder, warm imports, environment): one template per kind of kernel
_Key = tuple[str, str, tuple[str, ...], frozenset[tuple[str, str]]]


class _Template:
    """One template process and its pipes: requests are serialised by a lock; a reader thread sorts
    what the template says into replies (in order) and "bound" notices (by kernel pid)."""

    def __init__(self, key: _Key, env: dict[str, str], timeout: float, *, warm: bool = True,
                 populate: bool = True) -> None:
        python, cwd, warm_imports, _ = key
        config = json.dumps({"cwd": cwd, "warm_imports": list(warm_imports), "warm": warm, "populate": populate})
        self.process = subprocess.Popen([python, "-c", BOOTSTRAP, str(TEMPLATE_FILE), config], cwd=cwd, env=env,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                        start_new_session=True)
        self.pid = self.process.pid
        self.timeout = timeout
        self.info: dict[str, Any] | None = None
        self._lock = threading.Lock()  # one request at a time
        self._cond = threading.Condition()  # guards what the reader sorted
        self._replies: deque[dict[str, Any]] = deque()
        self._bound: dict[int, dict] = {}  # kernel pid -> the template's "bound" notice
        self._ended: str | None = None
        self._taught = False  # whether a kernel's written pages were learned and sent (see teach_pages)
        self._lessons = 0  # kernels asked so far (at most LESSONS: /proc may not tell, and asking costs ~30 ms)
        self._reader = threading.Thread(target=self._read, name=f"livedocs-template-{self.pid}", daemon=True)
        self._reader.start()

    def wait_ready(self) -> None:
        with self._lock:
            if self.info is None:
                self.info = self._next_reply(self.timeout)
                if not self.info.get("ready"):
                    raise RuntimeError(f"unexpected first message {self.info!r}")

    def fork(self, connection_file: str, cwd: str, env: dict[str, str],
             connection: dict[str, Any] | None = None) -> int:
        message = {"op": "fork", "connection_file": connection_file, "cwd": cwd, "env": env, "runner_pid": os.getpid()}
        if connection is not None:  # the kernel's ports and key (the file is not written): bytes as text
            message["connection"] = {name: value.decode() if isinstance(value, bytes) else value
                                     for name, value in connection.items()}
        with self._lock:
            self._write(message)
            reply = self._next_reply(10.0)
        if "pid" not in reply:
            raise RuntimeError(reply.get("error", f"unexpected reply {reply!r}"))
        return int(reply["pid"])

    def teach_pages(self, kernel_pid: int) -> None:
        """Once per template: learn from ``kernel_pid`` (one of its kernels, after its run, still alive) the pages
        its kernels write, and send them, for each later kernel to copy as it starts (``_forkhot.py``). Only if the
        template can (its ready message); a kernel that ended meanwhile teaches nothing, and the next one is asked
        (up to ``LESSONS`` kernels in all)."""
        with self._cond:
            if self._taught or self._lessons >= LESSONS or not (self.info or {}).get("populates"):
                return
            self._taught = True  # a kernel released meanwhile does not learn too
            self._lessons += 1
        try:
            ranges = written_pages(kernel_pid, self.pid)
        except OSError:
            ranges = []
        if not ranges:
            with self._cond:
                self._taught = False
            return
        with self._lock, contextlib.suppress(OSError, ValueError):  # a template that is gone is replaced anyway
            self._write({"op": "hot", "ranges": ranges})

    def wait_bound(self, pid: int, timeout: float) -> bool:
        """Return once kernel ``pid`` has bound its sockets and built its kernel (whether it honours the request
        chain, ``_forkchain.py``); RuntimeError if it ended first."""
        with self._cond:
            if not self._cond.wait_for(lambda: pid in self._bound or self._ended is not None, timeout):
                raise RuntimeError(f"forked kernel {pid} did not bind its sockets in {timeout:g} s")
            if pid not in self._bound:
                raise RuntimeError(self._ended)
            notice = self._bound.pop(pid)
            if not notice.get("ok"):
                raise RuntimeError(f"forked kernel {pid} ended before binding its sockets")
            return bool(notice.get("chains"))

    def close(self, *, kill: bool) -> None:
        """End the template: ``kill`` also kills its kernels; otherwise running kernels carry on."""
        if not kill:
            with self._lock, contextlib.suppress(OSError, ValueError):
                self._write({"op": "exit"})
        else:
            with contextlib.suppress(OSError):
                os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            self.process.stdin.close()  # type: ignore[union-attr]
        try:
            self.process.wait(5.0)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._reader.join(5.0)  # the template's end closed its pipe: the reader has seen the end of it
        if not self._reader.is_alive():
            with contextlib.suppress(OSError):
                self.process.stdout.close()  # type: ignore[union-attr]

    def _write(self, message: dict[str, Any]) -> None:
        data = (json.dumps(message) + "\n").encode()
        fd = self.process.stdin.fileno()  # type: ignore[union-attr]
        while data:
            data = data[os.write(fd, data):]

    def _next_reply(self, timeout: float) -> dict[str, Any]:
        with self._cond:
            if not self._cond.wait_for(lambda: self._replies or self._ended is not None, timeout):
                raise RuntimeError(f"kernel template {self.pid} did not answer in {timeout:g} s")
            if not self._replies:
                raise RuntimeError(self._ended)
            return self._replies.popleft()

    def _read(self) -> None:
        fd = self.process.stdout.fileno()  # type: ignore[union-attr]
        buffer = b""
        while True:
            try:
                data = os.read(fd, 1 << 16)
            except OSError:
                data = b""
            if not data:
                break
            *lines, buffer = (buffer + data).split(b"\n")
            with self._cond:
                for line in lines:
                    message = json.loads(line)
                    if "bound" in message:
                        self._bound[int(message["bound"])] = message
                    else:
                        self._replies.append(message)
                self._cond.notify_all()
        with self._cond:
            self._ended = f"kernel template {self.pid} exited (code {self.process.poll()})"
            self._cond.notify_all()


class ForkedProcess:
    """The Popen-like handle jupyter_client's provisioner needs, for a kernel the template forked.

    The kernel is the template's child, not ours: a pidfd tracks exactly that process (no pid-reuse
    races) and signals go through it. Its exit status is not ours to collect: ``returncode`` is
    ``-SIGKILL`` after we killed it and 0 otherwise.
    """

    stdin = stdout = stderr = None

    def __init__(self, pid: int, pidfd: int | None) -> None:
        self.pid = pid
        self._pidfd = pidfd
        self._pidfd_lock = threading.Lock()  # poll/wait from several threads: never select on a closed pidfd
        self._killed = False
        self.returncode: int | None = None if pidfd is not None else 1
        self.template: _Template | None = None
        self.chains = False  # the kernel runs requests sent ahead only after their predecessor (_forkchain.py)

    def wait_bound(self, timeout: float) -> None:
        """Return once the kernel has bound its sockets and built its kernel (its template says so, no
        kernel_info round trip); RuntimeError if it ended first or took longer than ``timeout``."""
        if self.template is None:
            raise RuntimeError(f"forked kernel {self.pid} has no template to report it bound")
        self.chains = self.template.wait_bound(self.pid, timeout)

    def poll(self) -> int | None:
        with self._pidfd_lock:
            if self.returncode is None and self._pidfd is not None:
                readable, _, _ = select.select([self._pidfd], [], [], 0)
                if readable:
                    self._exited()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        with self._pidfd_lock:
            if self.returncode is not None or self._pidfd is None:
                return self.returncode  # type: ignore[return-value]
            pidfd = os.dup(self._pidfd)  # waited on outside the lock; another thread may close ours meanwhile
        try:
            readable, _, _ = select.select([pidfd], [], [], timeout)
        finally:
            os.close(pidfd)
        if not readable:
            raise subprocess.TimeoutExpired(f"kernel {self.pid}", timeout or 0)
        with self._pidfd_lock:
            if self.returncode is None:
                self._exited()
        return self.returncode  # type: ignore[return-value]

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            with self._pidfd_lock, contextlib.suppress(ProcessLookupError):
                if self._pidfd is not None:
                    signal.pidfd_send_signal(self._pidfd, signum)
                    self._killed = self._killed or signum == signal.SIGKILL

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill_group(self) -> None:
        """SIGKILL the kernel's whole process group (its session, like a fresh kernel's)."""
        if self.poll() is None:
            with contextlib.suppress(OSError):
                os.killpg(self.pid, signal.SIGKILL)
            self._killed = True

    def _exited(self) -> None:
        self.returncode = -signal.SIGKILL if self._killed else 0
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None

    def __del__(self) -> None:
        if self._pidfd is not None:
            with contextlib.suppress(OSError):
                os.close(self._pidfd)
