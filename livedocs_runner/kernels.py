"""Where a run's kernel comes from, and how it is stopped for good.

Every run gets its own kernel process, used once and then killed with its whole process
tree, so nothing one run does can leak into the next and no kernel outlives its run. On
Linux the kernel is a *child subreaper*: a process a notebook double-forks (a daemon) is
re-parented to the kernel instead of init, so it is still in the tree when the run ends;
a process started in a session of its own is a descendant too, so it is killed with it. If the
runner dies without stopping it, the kernel's guardian (``_launcher.py``) kills that tree.
:class:`FreshKernels` starts one on demand; the warm pool (``pool.py``) hands out kernels
started ahead of time through the same two calls.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .errors import ConfigError

if TYPE_CHECKING:  # jupyter_client is imported when a kernel starts: a cache hit never pays for it
    from jupyter_client.manager import AsyncKernelManager

STARTUP_ATTEMPTS = 3
# run by the runner's own interpreter in front of a kernel's command: see _launcher.py
LAUNCHER_FILE = Path(__file__).with_name("_launcher.py")
# R notebooks `source()` it for record(): its path is given to every kernel as $LIVEDOCS_R_HELPER
R_HELPER_FILE = Path(__file__).with_name("r") / "livedocs.R"


class KernelStartError(RuntimeError):
    """The kernel could not be started (after retries)."""


@dataclass(frozen=True)
class KernelRequest:
    """What kind of kernel a run needs."""

    kernel_name: str
    cwd: Path
    warm_imports: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in self.warm_imports:
            check_module_name(name)


def check_module_name(name: object) -> str:
    """``name`` if it is a dotted module name (``pandas``, ``matplotlib.pyplot``), else a ConfigError.

    Warm imports become ``import NAME`` in the kernel: anything but a module name is refused here
    rather than executed, whatever validated the config before.
    """
    from .notebook import check_module_name as check

    try:
        return check(name)
    except ValueError as exc:
        raise ConfigError(f"warm_imports: {exc}; it was not imported.",
                          hint="List dotted module names only, e.g. `warm_imports: [pandas, matplotlib.pyplot]`.") from None


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


def import_client_modules() -> None:
    """Import jupyter_client's and nbclient's modules in this thread, before starting threads that run kernels:
    two threads importing them for the first time at once can see a partially initialised module
    (``ImportError: cannot import name 'AsyncKernelManager' ... (most likely due to a circular import)``)."""
    import jupyter_client.manager  # noqa: F401
    import nbclient  # noqa: F401

    from . import _manager, _nbclient  # noqa: F401 - the run's manager and client, which import both


def start_kernel(request: KernelRequest, startup_timeout: float = 60.0, attempts: int = STARTUP_ATTEMPTS, *,
                 new_manager: Callable[[], AsyncKernelManager] | None = None) -> AsyncKernelManager:
    """Start a kernel and wait until it answers; port collisions and silent kernels are retried.

    ``new_manager`` makes the unstarted manager for each attempt (the fork server installs its
    provisioner there); by default a plain one for ``request.kernel_name``.
    """
    from jupyter_core.utils import run_sync

    last: BaseException | None = None
    began = time.perf_counter()
    for attempt in range(attempts):
        km = new_manager() if new_manager else reaper_manager(request.kernel_name)
        try:
            run_sync(_start_and_handshake)(km, request, startup_timeout)
            km.livedocs_start_s = time.perf_counter() - began  # for `livedocs run --profile`
            return km
        except Exception as exc:  # zmq port races, "Kernel didn't respond", a kernel that exits at once
            last = exc
            stop_kernel(km)
            time.sleep(0.2 * (attempt + 1))
    raise KernelStartError(f"could not start kernel {request.kernel_name!r} after {attempts} attempts: {last}") from last


async def _start_and_handshake(km: AsyncKernelManager, request: KernelRequest, timeout: float) -> None:
    # the kernel's own stderr only carries jupyter's start-up chatter; cell output comes over zmq
    await km.start_kernel(cwd=str(request.cwd), env=kernel_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if getattr(km.provisioner, "forked", False):
        # its template says when it has bound its sockets (and it has the warm imports): no client round
        # trip; the run's own client (nbclient) still asks kernel_info before the first cell
        km.provisioner.process.wait_bound(timeout)
        return
    kc = km.client()
    kc.start_channels()
    try:
        await kc.wait_for_ready(timeout=timeout)
        if request.warm_imports:
            # imported, but no name bound: the notebook starts with an empty namespace (`%who`), as in Jupyter
            code = "\n".join(f"__import__({check_module_name(name)!r})" for name in request.warm_imports)
            # an import that fails here fails again, visibly, in the notebook itself
            await kc.execute_interactive(code, silent=True, store_history=False, timeout=timeout)
    finally:
        kc.stop_channels()


HIDDEN_FROM_KERNELS = ("LIVEDOCS_DB",)  # the store's URL, password included: notebook code could rewrite records


def kernel_env() -> dict[str, str]:
    """This process's environment for a kernel, minus the store's URL and a non-interactive matplotlib backend.

    Streamlit (and many cron or CI setups) set ``MPLBACKEND=Agg``; a kernel that inherits it
    draws no inline figures, so the notebook's charts would silently vanish from the run.
    """
    env = {key: value for key, value in os.environ.items() if key not in HIDDEN_FROM_KERNELS}
    env["LIVEDOCS_R_HELPER"] = str(R_HELPER_FILE)
    if env.get("MPLBACKEND", "").lower() == "agg":
        del env["MPLBACKEND"]
    return env


def leave_kernel_at_exit(client: Any) -> None:
    """Drop the hook nbclient registers with ``atexit`` for ``client`` to shut its kernel down at interpreter
    exit (call it from the client's ``on_notebook_start``). A run's kernel is its kernel source's to end: a
    stopping app first cancels its running runs (``JobQueue.shutdown``) and a kernel ends with its runner.
    Registered later, nbclient's hook ran first and killed a running run's kernel, which then ended
    ``failed`` (DeadKernelError) instead of ``cancelled``."""
    atexit.unregister(client._cleanup_kernel)


def subreaper_supported() -> bool:
    return sys.platform.startswith("linux")


def reaper_manager(kernel_name: str) -> AsyncKernelManager:
    """An unstarted kernel manager whose kernel is launched as a child subreaper with a guardian (on Linux)."""
    from ._manager import run_manager

    km = run_manager(kernel_name)
    if subreaper_supported():
        import uuid

        km.kernel_id = str(uuid.uuid4())
        km.provisioner = reaper_provisioner_class()(kernel_id=km.kernel_id, kernel_spec=km.kernel_spec, parent=km)
    return km


_REAPER_PROVISIONER: type | None = None


def reaper_provisioner_class() -> type:
    """jupyter_client's LocalProvisioner, launching the kernel through ``_launcher.py``
    (defined lazily: a cache hit never imports jupyter_client)."""
    global _REAPER_PROVISIONER
    if _REAPER_PROVISIONER is None:
        from jupyter_client.provisioning import LocalProvisioner

        class ReaperProvisioner(LocalProvisioner):  # type: ignore[misc]
            async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> Any:
                if subreaper_supported() and cmd:
                    cmd = [sys.executable, "-S", str(LAUNCHER_FILE), str(os.getpid()), *cmd]
                return await super().launch_kernel(cmd, **kwargs)

        _REAPER_PROVISIONER = ReaperProvisioner
    return _REAPER_PROVISIONER


def kernel_pgid(km: AsyncKernelManager) -> int | None:
    provisioner = getattr(km, "provisioner", None)
    return getattr(provisioner, "pgid", None) or getattr(provisioner, "pid", None)


def kernel_pid(km: AsyncKernelManager) -> int | None:
    provisioner = getattr(km, "provisioner", None)
    return getattr(provisioner, "pid", None) or getattr(provisioner, "pgid", None)


def kernel_process(km: Any) -> Any:
    """The Popen-like handle of ``km``'s kernel process (a ``ForkedProcess`` for a forked kernel); None before
    it started or for a manager without a provisioner."""
    return getattr(getattr(km, "provisioner", None), "process", None)


def chains_requests(km: AsyncKernelManager) -> bool:
    """Whether ``km``'s kernel runs an execute request sent ahead only after the one it names succeeded (a forked
    kernel, ``_forkchain.py``): then a run may send the next cells' requests before the current one ends."""
    return getattr(kernel_process(km), "chains", False) is True


def kill_kernel_now(km: AsyncKernelManager) -> None:
    """SIGKILL the kernel, its process group and every descendant; safe from any thread, any number of times."""
    process = kernel_process(km)
    alive = True
    with contextlib.suppress(Exception):
        alive = process is None or process.poll() is None  # an exited kernel's pid may be reused: leave it
    kill_process_tree(kernel_pid(km) if alive else None, kernel_pgid(km))


def kill_process_tree(pid: int | None, pgid: int | None = None) -> None:
    """SIGKILL ``pid``, its process group ``pgid`` and all its descendants, wherever their session.

    The descendants are listed *before* anything is killed (a killed parent's children are
    re-parented away), with the tree stopped (SIGSTOP) so nothing forks between listing and
    killing. A double-forked daemon is found because the kernel is a child subreaper.
    """
    import psutil

    doomed: list[psutil.Process] = []
    if pid:
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(pid)
            doomed.append(root)
            with contextlib.suppress(psutil.Error):
                root.suspend()
            for _ in range(5):  # re-list until no new process appears (each round stops the new ones)
                known = {p.pid for p in doomed}
                new = [p for p in _descendants(root) if p.pid not in known]
                if not new:
                    break
                for process in new:
                    with contextlib.suppress(psutil.Error):
                        process.suspend()
                doomed.extend(new)
    if pgid and hasattr(os, "killpg"):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
    for process in doomed:
        with contextlib.suppress(psutil.Error):
            process.kill()  # psutil checks the pid was not reused since it was listed


def _descendants(root: Any) -> list[Any]:
    """``root``'s descendants, from its own tree in /proc (its threads' ``children`` files), or, where Linux has
    no such files, from psutil's scan of every process on the machine (~1-3 ms per kill on a busy machine)."""
    import psutil

    pids = _tree_pids(root.pid)
    if pids is None:
        try:
            return root.children(recursive=True)
        except psutil.Error:
            return []
    found = []
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            found.append(psutil.Process(pid))
    return found


_PROC_CHILDREN: bool | None = None  # whether /proc/PID/task/TID/children exists (CONFIG_PROC_CHILDREN)


def _tree_pids(root: int) -> list[int] | None:
    """The pids below ``root`` (children first), read from /proc/PID/task/TID/children of each process in the tree
    (a child started by any thread of its parent); None when this Linux does not have those files."""
    global _PROC_CHILDREN
    if _PROC_CHILDREN is None:
        _PROC_CHILDREN = os.path.exists(f"/proc/self/task/{os.getpid()}/children")
    if not _PROC_CHILDREN:
        return None
    found: list[int] = []
    seen, frontier = {root}, [root]
    while frontier:
        parents, frontier = frontier, []
        for parent in parents:
            try:
                tasks = os.listdir(f"/proc/{parent}/task")
            except OSError:  # it ended meanwhile: its children were re-parented to a subreaper in the tree, or away
                continue
            for task in tasks:
                try:
                    with open(f"/proc/{parent}/task/{task}/children", "rb") as handle:
                        children = handle.read().split()
                except OSError:  # that thread ended meanwhile
                    continue
                for child in map(int, children):
                    if child not in seen:
                        seen.add(child)
                        found.append(child)
                        frontier.append(child)
    return found


def stop_kernel(km: AsyncKernelManager) -> None:
    """Kill the kernel (a used kernel is never reused) and clean up its connection file."""
    from jupyter_core.utils import run_sync

    kill_kernel_now(km)
    with contextlib.suppress(Exception):
        close_client = getattr(km, "close_client", None)  # a client a pool opened for a run that never came
        if close_client is not None:
            close_client()
    with contextlib.suppress(Exception):
        if km.has_kernel:
            run_sync(km.shutdown_kernel)(now=True)  # reaps the process, removes the connection file
