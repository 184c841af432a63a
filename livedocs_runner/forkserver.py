"""Kernels forked from a pre-imported template: a fresh kernel process per run for a fraction of the CPU.

Starting a kernel costs about a CPU-second (python, ipykernel and the notebook's imports such as
pandas and matplotlib), which caps a batch on a small machine. A *template* process per kind of
kernel (interpreter, working folder, warm imports, environment) pays that once: it imports
ipykernel and the warm imports, runs no user code, and ``os.fork()``s a child for every kernel.
Each child gets its own session (process group), folder, environment and sockets, and serves
exactly one run like any other kernel: isolation is unchanged, only the imports are inherited.

    kernels = ForkKernels(PoolOptions(size=2))   # a KernelSource: WarmPool over forked kernels
    record = execute_run(plan, store, kernels=kernels)
    kernels.close()                              # kills templates and kernels; also at exit

Only for the native ipykernel kernelspec (``python -m ipykernel_launcher -f {connection_file}``)
on Linux; any other kernel, a template that cannot start or dies, or a failed fork falls back to
a normal start, so the fork server can make a run faster but never make it fail.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import OrderedDict, deque
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .kernels import KernelRequest, start_kernel
from .pool import PoolOptions, WarmPool

if TYPE_CHECKING:
    from jupyter_client.manager import AsyncKernelManager

log = logging.getLogger(__name__)

INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
TEMPLATE_FILE = Path(__file__).with_name("_forktemplate.py")
# runs the template by path: the kernel's interpreter need not have this package installed
BOOTSTRAP = "import runpy, sys; p = sys.argv.pop(1); sys.argv[0] = p; runpy.run_path(p, run_name='__main__')"
FAILED_RETRY_S = 300.0  # a kind of kernel whose template failed starts normally for this long
# a template warms its libraries' first-use caches (~70-160 ms once, ~4-8 ms less per kernel: _forkwarm.py)
# unless the pool said fewer kernels of its kind will come (a small batch); unknown (the app): it warms
WARM_MIN_KERNELS = 16


def fork_supported() -> bool:
    """Linux with fork and pidfds (kernel >= 5.3): what the fork server needs."""
    return sys.platform.startswith("linux") and hasattr(os, "fork") and hasattr(os, "pidfd_open")


def template_env(env: dict[str, str]) -> dict[str, str]:
    """The environment a template and its kernels get: ``env`` with the inline matplotlib backend.

    ipykernel sets that backend at start-up, but a template imports matplotlib before any kernel
    exists, so it is set here; an inherited ``MPLBACKEND=Agg`` (streamlit, cron) would stop
    notebooks drawing inline figures (as ``kernels.kernel_env`` ensures for fresh kernels).
    """
    env = {k: v for k, v in env.items() if k != "JPY_PARENT_PID"}
    if env.get("MPLBACKEND", "").lower() in ("", "agg"):
        env["MPLBACKEND"] = INLINE_BACKEND
    return env


@dataclass(frozen=True, kw_only=True)
class ForkOptions:
    """Fork-server limits. Usage: ``ForkOptions(max_templates=2)``.

    ``max_templates``: templates kept at once (least recently used one exits first; its running
    kernels keep running). ``template_timeout``: seconds a template may take to import.
    """

    max_templates: int = 4
    template_timeout: float = 60.0


_Key = tuple[str, str, tuple[str, ...], frozenset[tuple[str, str]]]


class ForkServer:
    """Template processes, one per kind of kernel, and the kernels forked from them; thread-safe."""

    def __init__(self, options: ForkOptions = ForkOptions()) -> None:
        self.options = options
        self._lock = threading.Lock()
        self._templates: OrderedDict[_Key, _Template] = OrderedDict()
        self._failed: dict[_Key, float] = {}
        self._children: dict[int, ForkedProcess] = {}
        self._expected: dict[tuple[str, tuple[str, ...]], int] = {}  # (folder, warm imports) -> kernels to come
        self._closed = False
        atexit.register(self.close)

    def start(self, request: KernelRequest, startup_timeout: float = 60.0) -> AsyncKernelManager:
        """A started, handshaken kernel for ``request``: forked when possible, else started normally.

        Same contract as :func:`~livedocs_runner.kernels.start_kernel` (a ``WarmPool`` start function).
        """
        return start_kernel(request, startup_timeout, new_manager=lambda: self.new_manager(request))

    def new_manager(self, request: KernelRequest) -> AsyncKernelManager:
        """An unstarted kernel manager whose ``start_kernel`` forks the kernel from a template."""
        from ._manager import run_manager

        km = run_manager(request.kernel_name)
        km.kernel_id = str(uuid.uuid4())
        km.provisioner = _provisioner_class()(kernel_id=km.kernel_id, kernel_spec=km.kernel_spec, parent=km)
        km.provisioner.fork_server = self
        km.provisioner.warm_imports = request.warm_imports
        return km

    def fork(self, cmd: list[str], env: dict[str, str], cwd: str, warm_imports: tuple[str, ...]) -> ForkedProcess | None:
        """Fork a kernel for launch command ``cmd``; None when it must be started normally instead."""
        connection_file = _native_connection_file(cmd)
        if connection_file is None or self._closed:
            return None
        env = template_env(env)
        key: _Key = (cmd[0], str(Path(cwd).resolve()), warm_imports, frozenset(env.items()))
        for _ in range(2):  # a template that died since its last fork is replaced once
            template = self._template(key, env)
            if template is None:
                return None
            try:
                pid = template.fork(connection_file, key[1], env)
            except (OSError, RuntimeError, ValueError) as exc:
                log.warning("kernel template %s failed (%s); restarting it", template.pid, exc)
                self._drop(key, template, kill=True)
                continue
            try:
                process = ForkedProcess(pid, os.pidfd_open(pid))
            except OSError:  # died at once: let the caller's handshake fail and retry
                process = ForkedProcess(pid, None)
            process.template = template
            with self._lock:
                self._children = {p: c for p, c in self._children.items() if c.poll() is None}
                self._children[pid] = process
            return process
        return None

    def expect(self, cwd: str, warm_imports: tuple[str, ...], kernels: int) -> None:
        """``kernels`` more kernels for this folder and warm imports will be asked for, then none (a batch):
        a template started for fewer than ``WARM_MIN_KERNELS`` does not warm first-use caches."""
        with self._lock:
            self._expected[(str(Path(cwd).resolve()), tuple(warm_imports))] = kernels

    def stats(self) -> dict[str, int]:
        """Running templates and live forked kernels (for tests and logs)."""
        with self._lock:
            return {"templates": len(self._templates),
                    "kernels": sum(1 for c in self._children.values() if c.poll() is None)}

    def template_pids(self) -> list[int]:
        with self._lock:
            return [t.pid for t in self._templates.values()]

    def template_info(self) -> list[dict[str, Any]]:
        """What each ready template reported: its pid, the warm imports it skipped, what it prebuilt
        for its kernels (``["app", "shell"]``) or why not (``prebuild_error``)."""
        with self._lock:
            return [dict(t.info) for t in self._templates.values() if t.info]

    def close(self) -> None:
        """Kill every template and every kernel forked from them; idempotent."""
        with self._lock:
            self._closed = True
            templates, self._templates = list(self._templates.values()), OrderedDict()
            children, self._children = list(self._children.values()), {}
        atexit.unregister(self.close)
        for child in children:
            child.kill_group()
        for template in templates:
            template.close(kill=True)

    # --- internals ------------------------------------------------------------------------

    def _template(self, key: _Key, env: dict[str, str]) -> _Template | None:
        evicted: list[_Template] = []
        template: _Template | None = None
        try:
            with self._lock:
                if self._closed or time.monotonic() - self._failed.get(key, -FAILED_RETRY_S) < FAILED_RETRY_S:
                    return None
                template = self._templates.get(key)
                if template is None:
                    expected = self._expected.get((key[1], key[2]))
                    warm = expected is None or expected >= WARM_MIN_KERNELS
                    template = self._templates[key] = _Template(key, env, self.options.template_timeout, warm=warm)
                    while len(self._templates) > self.options.max_templates:
                        evicted.append(self._templates.popitem(last=False)[1])
                self._templates.move_to_end(key)
            for old in evicted:
                old.close(kill=False)  # its running kernels carry on
            template.wait_ready()
            return template
        except (OSError, RuntimeError, ValueError) as exc:
            log.warning("no kernel template for %s: %s; kernels start normally", key[0], exc)
            if template is not None:
                self._drop(key, template, kill=True)
            with self._lock:
                self._failed[key] = time.monotonic()
            return None

    def _drop(self, key: _Key, template: _Template, *, kill: bool) -> None:
        with self._lock:
            if self._templates.get(key) is template:
                del self._templates[key]
        template.close(kill=kill)


class _Template:
    """One template process and its pipes: requests are serialised by a lock; a reader thread sorts
    what the template says into replies (in order) and "bound" notices (by kernel pid)."""

    def __init__(self, key: _Key, env: dict[str, str], timeout: float, *, warm: bool = True) -> None:
        python, cwd, warm_imports, _ = key
        config = json.dumps({"cwd": cwd, "warm_imports": list(warm_imports), "warm": warm})
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
        self._reader = threading.Thread(target=self._read, name=f"livedocs-template-{self.pid}", daemon=True)
        self._reader.start()

    def wait_ready(self) -> None:
        with self._lock:
            if self.info is None:
                self.info = self._next_reply(self.timeout)
                if not self.info.get("ready"):
                    raise RuntimeError(f"unexpected first message {self.info!r}")

    def fork(self, connection_file: str, cwd: str, env: dict[str, str]) -> int:
        message = {"op": "fork", "connection_file": connection_file, "cwd": cwd, "env": env, "runner_pid": os.getpid()}
        with self._lock:
            self._write(message)
            reply = self._next_reply(10.0)
        if "pid" not in reply:
            raise RuntimeError(reply.get("error", f"unexpected reply {reply!r}"))
        return int(reply["pid"])

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


def _native_connection_file(cmd: list[str]) -> str | None:
    """The connection file of a native ipykernel launch command, or None for any other kernel."""
    if len(cmd) == 5 and cmd[1:3] == ["-m", "ipykernel_launcher"] and cmd[3] == "-f" and os.path.isabs(cmd[0]):
        return cmd[4]
    return None


_PROVISIONER: type | None = None


def _provisioner_class() -> type:
    """jupyter_client's LocalProvisioner, launching through the fork server (defined lazily: a cache
    hit never imports jupyter_client); a kernel it cannot fork starts as a subreaper, as a fresh one."""
    global _PROVISIONER
    if _PROVISIONER is None:
        from .kernels import reaper_provisioner_class

        class ForkProvisioner(reaper_provisioner_class()):  # type: ignore[misc]
            fork_server: ForkServer | None = None
            warm_imports: tuple[str, ...] = ()
            forked = False

            async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> Any:
                process = None
                if self.fork_server is not None:
                    cwd = str(kwargs.get("cwd") or os.getcwd())
                    process = self.fork_server.fork(cmd, dict(kwargs.get("env") or os.environ), cwd,
                                                    self.warm_imports)
                if process is None:
                    return await super().launch_kernel(cmd, **kwargs)
                self.process = process
                self.forked = True  # its template imported the warm imports (see kernels._start_and_handshake)
                self.pid = self.pgid = process.pid  # the child called setsid(): its pid is its group
                self.cwd = kwargs.get("cwd", os.getcwd())
                return self.connection_info

        _PROVISIONER = ForkProvisioner
    return _PROVISIONER


class ForkKernels:
    """A :class:`~livedocs_runner.kernels.KernelSource`: a warm pool whose kernels are forked from templates.

    Same guarantees as :class:`~livedocs_runner.pool.WarmPool` (started ahead, one run each,
    replacement warms in the background, bounded); ``close()`` also ends the templates.
    """

    def __init__(self, options: PoolOptions = PoolOptions(), fork_options: ForkOptions = ForkOptions()) -> None:
        self.server = ForkServer(fork_options)
        self.pool = WarmPool(options, start=self.server.start)

    def acquire(self, request: KernelRequest) -> AsyncKernelManager:
        return self.pool.acquire(request)

    def release(self, km: AsyncKernelManager) -> None:
        self.pool.release(km)

    def prewarm(self, request: KernelRequest, count: int | None = None) -> None:
        self.pool.prewarm(request, count)

    def expect(self, request: KernelRequest, runs: int) -> None:
        self.pool.expect(request, runs)
        self.server.expect(request.cwd, request.warm_imports, runs)

    def depth(self, request: KernelRequest) -> int:
        return self.pool.depth(request)

    def waits(self) -> int:
        return self.pool.waits()

    def stats(self) -> dict[str, int]:
        return {**self.pool.stats(), **self.server.stats()}

    def close(self) -> None:
        self.pool.close()
        self.server.close()

    def __enter__(self) -> ForkKernels:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def warm_kernels(options: PoolOptions = PoolOptions()) -> ForkKernels | WarmPool:
    """The fastest warm kernel source this platform supports: forked kernels on Linux, else a WarmPool."""
    return ForkKernels(options) if fork_supported() else WarmPool(options)


__all__ = ["ForkKernels", "ForkOptions", "ForkServer", "ForkedProcess", "fork_supported", "template_env",
           "warm_kernels"]
