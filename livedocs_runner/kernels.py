"""Where a run's kernel comes from, and how it is stopped for good.

Every run gets its own kernel process, used once and then killed with its whole process
group, so nothing one run does can leak into the next and no kernel outlives its run.
:class:`FreshKernels` starts one on demand; the warm pool (``pool.py``) hands out kernels
started ahead of time through the same two calls.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # jupyter_client is imported when a kernel starts: a cache hit never pays for it
    from jupyter_client.manager import AsyncKernelManager

STARTUP_ATTEMPTS = 3


class KernelStartError(RuntimeError):
    """The kernel could not be started (after retries)."""


@dataclass(frozen=True)
class KernelRequest:
    """What kind of kernel a run needs."""

    kernel_name: str
    cwd: Path
    warm_imports: tuple[str, ...] = ()


class KernelSource(Protocol):
    def acquire(self, request: KernelRequest) -> AsyncKernelManager: ...

    def release(self, km: AsyncKernelManager) -> None: ...


class FreshKernels:
    """Start a new kernel for every run (what papermill does), retrying start-up races."""

    def __init__(self, startup_timeout: float = 60.0) -> None:
        self.startup_timeout = startup_timeout

    def acquire(self, request: KernelRequest) -> AsyncKernelManager:
        return start_kernel(request, self.startup_timeout)

    def release(self, km: AsyncKernelManager) -> None:
        stop_kernel(km)


def start_kernel(request: KernelRequest, startup_timeout: float = 60.0, attempts: int = STARTUP_ATTEMPTS, *,
                 new_manager: Callable[[], AsyncKernelManager] | None = None) -> AsyncKernelManager:
    """Start a kernel and wait until it answers; port collisions and silent kernels are retried.

    ``new_manager`` makes the unstarted manager for each attempt (the fork server installs its
    provisioner there); by default a plain one for ``request.kernel_name``.
    """
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.utils import run_sync

    last: BaseException | None = None
    for attempt in range(attempts):
        km = new_manager() if new_manager else AsyncKernelManager(
            kernel_name=request.kernel_name, client_class="livedocs_runner._client.ReadyClient")
        try:
            run_sync(_start_and_handshake)(km, request, startup_timeout)
            return km
        except Exception as exc:  # zmq port races, "Kernel didn't respond", a kernel that exits at once
            last = exc
            stop_kernel(km)
            time.sleep(0.2 * (attempt + 1))
    raise KernelStartError(f"could not start kernel {request.kernel_name!r} after {attempts} attempts: {last}") from last


async def _start_and_handshake(km: AsyncKernelManager, request: KernelRequest, timeout: float) -> None:
    # the kernel's own stderr only carries jupyter's start-up chatter; cell output comes over zmq
    await km.start_kernel(cwd=str(request.cwd), env=kernel_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kc = km.client()
    kc.start_channels()
    try:
        await kc.wait_for_ready(timeout=timeout)
        if request.warm_imports:
            code = "\n".join(f"import {name}" for name in request.warm_imports)
            # an import that fails here fails again, visibly, in the notebook itself
            await kc.execute_interactive(code, silent=True, store_history=False, timeout=timeout)
    finally:
        kc.stop_channels()


def kernel_env() -> dict[str, str]:
    """This process's environment for a kernel, minus a non-interactive matplotlib backend.

    Streamlit (and many cron or CI setups) set ``MPLBACKEND=Agg``; a kernel that inherits it
    draws no inline figures, so the notebook's charts would silently vanish from the run.
    """
    env = dict(os.environ)
    if env.get("MPLBACKEND", "").lower() == "agg":
        del env["MPLBACKEND"]
    return env


def kernel_pgid(km: AsyncKernelManager) -> int | None:
    provisioner = getattr(km, "provisioner", None)
    return getattr(provisioner, "pgid", None) or getattr(provisioner, "pid", None)


def kill_kernel_now(km: AsyncKernelManager) -> None:
    """SIGKILL the kernel's process group; safe to call from any thread, any number of times."""
    pgid = kernel_pgid(km)
    if pgid and hasattr(os, "killpg"):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)


def stop_kernel(km: AsyncKernelManager) -> None:
    """Kill the kernel (a used kernel is never reused) and clean up its connection file."""
    from jupyter_core.utils import run_sync

    kill_kernel_now(km)
    with contextlib.suppress(Exception):
        if km.has_kernel:
            run_sync(km.shutdown_kernel)(now=True)  # reaps the process, removes the connection file
