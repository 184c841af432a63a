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
import logging
import os
import sys
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._forkprocess import ForkedProcess, _Key, _Template
from .kernels import KernelRequest, kernel_process, start_kernel
from .pool import PoolOptions, WarmPool

if TYPE_CHECKING:
    from jupyter_client.manager import AsyncKernelManager

log = logging.getLogger(__name__)

INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
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
    ``copy_pages``: each kernel copies the template's pages its template's first kernel wrote, as it starts
    rather than page by page during its run (Linux >= 5.14; see ``_forkhot.py``).
    """

    max_templates: int = 4
    template_timeout: float = 60.0
    copy_pages: bool = True


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
        km.file_deferred = True  # a forked kernel gets its connection in its fork request (see _manager.py)
        km.provisioner = _provisioner_class()(kernel_id=km.kernel_id, kernel_spec=km.kernel_spec, parent=km)
        km.provisioner.fork_server = self
        km.provisioner.warm_imports = request.warm_imports
        return km

    def fork(self, cmd: list[str], env: dict[str, str], cwd: str, warm_imports: tuple[str, ...],
             connection: dict[str, Any] | None = None) -> ForkedProcess | None:
        """Fork a kernel for launch command ``cmd``; None when it must be started normally instead. With
        ``connection`` (ports, key: a kernel manager's connection info), the kernel uses that, not its
        connection file, which need not exist."""
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
                pid = template.fork(connection_file, key[1], env, connection)
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
                    template = self._templates[key] = _Template(key, env, self.options.template_timeout, warm=warm,
                                                                populate=self.options.copy_pages)
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
                                                    self.warm_imports, self.connection_info)
                if process is None:
                    write = getattr(self.parent, "write_deferred_connection_file", None)
                    if write is not None:  # a kernel started normally reads its connection file
                        write()
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
        process = kernel_process(km)
        template = getattr(process, "template", None)
        if template is not None and process.poll() is None:  # once per template: what its kernels write
            template.teach_pages(process.pid)
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
