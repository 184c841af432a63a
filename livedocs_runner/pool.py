"""A warm kernel pool: kernels started ahead of demand, each used by exactly one run.

A fresh kernel costs a process start, a handshake and the notebook's heavy imports (about a
second for pandas + matplotlib); the run itself often needs a few tens of milliseconds. The pool
pays that cost *before* the run is asked for, in background threads, and still never reuses a
kernel: :meth:`WarmPool.acquire` hands out a kernel that has run nothing but the warm imports,
:meth:`WarmPool.release` kills it, and a replacement warms (when: see below).

    pool = WarmPool(PoolOptions(size=2))        # a KernelSource, like kernels.FreshKernels
    record = execute_run(plan, store, kernels=pool)
    pool.close()                                 # also done at interpreter exit

Bounds: idle + starting kernels never exceed ``max_size`` (default ``size``); in-use kernels are
bounded by the callers (one per running run). Depth is measured, not fixed: the pool keeps ``size``
kernels ready and goes one deeper (up to ``max_size``) each time a run had to wait for a kernel,
one shallower when kernels sit idle in surplus. :meth:`WarmPool.expect` tells it how many more runs
will come (a batch), so it never starts kernels nobody will use. In a batch, or while runs come less
than ``REFILL_AFTER_S`` apart (a queue being drained), a replacement starts as soon as a kernel is
handed out, while its run executes; a run asked for alone (a stakeholder's click in the app) gets its
replacement shortly after it releases its kernel (``AFTER_RELEASE_S``: the run records its outcome
meanwhile) or ``REFILL_AFTER_S`` into the run, whichever comes first, so on a small machine starting
it does not slow the run it replaces. Kernels are keyed by :class:`KernelRequest` (kernel name, working
folder, warm imports), so a run never gets a kernel warmed for another folder or other imports.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .eventloops import closing_loop
from .kernels import KernelRequest, KernelStartError, kernel_process, kill_kernel_now, start_kernel, stop_kernel

if TYPE_CHECKING:
    from jupyter_client.manager import AsyncKernelManager

log = logging.getLogger(__name__)

StartFn = Callable[[KernelRequest, float], "AsyncKernelManager"]
# a run asked for alone (none in the REFILL_AFTER_S before it) gets its replacement kernel when it releases its
# kernel, or this long after it took it.
# Measured on the 2-core VM: a replacement started alongside a ~50 ms run made it ~5 ms slower (the fork and the
# runner's share of the start compete with the run for the cores and the GIL)
REFILL_AFTER_S = 1.0
AFTER_RELEASE_S = 0.1  # ... and once the run has released it, after this long (its outputs and record are written)
# A released kernel is killed at once and reaped (its process waited for, its connection file removed) this long
# after: done at once, the reaping thread competed for the GIL with the run writing its outputs and record (that
# step 6.0 -> 4.7 ms in a timed trace of a warm run). A batch's reaping is not delayed more than this in all.
REAP_AFTER_S = 0.05


@dataclass(frozen=True, kw_only=True)
class PoolOptions:
    """How big the pool is and how long idle kernels live. Usage: ``PoolOptions(size=4, idle_timeout=600)``.

    ``size``: kernels kept ready (idle or starting). ``max_size``: how deep the pool may grow when
    runs wait for kernels (None: ``size``, a fixed depth). ``idle_timeout``: an idle kernel older
    than this is stopped; it is replaced only while its kind is still in demand (acquired within the
    last ``idle_timeout``), so an unused pool drains to nothing. ``None`` keeps idle kernels until
    :meth:`WarmPool.close`.
    """

    size: int = 2
    idle_timeout: float | None = 600.0
    startup_timeout: float = 60.0
    max_size: int | None = None

    @property
    def cap(self) -> int:
        """The most idle + starting kernels the pool holds: ``max_size``, never below ``size``."""
        return max(self.size, self.max_size or self.size)


@dataclass
class _Idle:
    km: AsyncKernelManager
    since: float


class WarmPool:
    """A thread-safe :class:`~livedocs_runner.kernels.KernelSource` of pre-started kernels."""

    def __init__(self, options: PoolOptions = PoolOptions(), *, start: StartFn = start_kernel) -> None:
        if options.size < 1:
            raise ValueError(f"pool size must be at least 1, got {options.size}")
        self.options = options
        self._start = start
        self._cond = threading.Condition()
        self._idle: dict[KernelRequest, deque[_Idle]] = {}
        self._starting: dict[KernelRequest, int] = {}
        self._waiting: dict[KernelRequest, int] = {}
        self._in_use: dict[int, AsyncKernelManager] = {}
        self._demand: OrderedDict[KernelRequest, float] = OrderedDict()  # least recently acquired first
        self._depth: dict[KernelRequest, int] = {}  # kernels to keep ready, measured: see acquire
        self._budget: dict[KernelRequest, int] = {}  # acquires still expected (see expect); absent: unknown
        self._later: dict[int, tuple[KernelRequest, float]] = {}  # id(km) in use -> its replacement's kind, due
        self._acquired: dict[KernelRequest, float] = {}  # when a kernel was last handed out (not prewarm's demand)
        self._due: list[tuple[KernelRequest, float]] = []  # replacements of released kernels: kind, due
        self._waits = 0
        self._closed = False
        self._warmers = ThreadPoolExecutor(max_workers=options.cap, thread_name_prefix="livedocs-warm")
        self._stoppers = ThreadPoolExecutor(max_workers=1, thread_name_prefix="livedocs-stop")
        self._reaper: threading.Thread | None = None
        atexit.register(self.close)

    # --- KernelSource ---------------------------------------------------------------------

    def acquire(self, request: KernelRequest) -> AsyncKernelManager:
        """A live, handshaken kernel for ``request``, used by nobody before; starts one if none is warm."""
        with self._cond:
            self._check_open()
            now = time.monotonic()
            self._demand[request] = now
            self._demand.move_to_end(request)
            alone = now - self._acquired.get(request, -REFILL_AFTER_S) >= REFILL_AFTER_S
            self._acquired[request] = now
            if request in self._budget:
                self._budget[request] = max(0, self._budget[request] - 1)
            km = self._take_idle(request)
            self._measure(request, waited=km is None)
            while km is None and self._starting.get(request, 0) > self._waiting.get(request, 0):
                # a kernel for this request is on its way: wait for it rather than start a competitor
                self._waiting[request] = self._waiting.get(request, 0) + 1
                try:
                    self._cond.wait(1.0)
                finally:
                    self._waiting[request] -= 1
                self._check_open()
                km = self._take_idle(request)
            if km is not None:
                self._in_use[id(km)] = km
                self._replace(request, km, alone)
            elif not alone or self._in_batch(request):
                self._refill_all(request)
        if km is None:
            km = self._start(request, self.options.startup_timeout)  # retries start-up races itself
            with self._cond:
                if self._closed:
                    stop_kernel(km)
                    self._check_open()
                self._in_use[id(km)] = km
                if alone and not self._in_batch(request):
                    self._replace(request, km, alone)
        return km

    def release(self, km: AsyncKernelManager) -> None:
        """Kill ``km`` now (it is never reused) and clean up after it in the background."""
        kill_kernel_now(km)
        with self._cond:
            self._in_use.pop(id(km), None)
            later = self._later.pop(id(km), None)
            if later is not None:  # its run is ending: the replacement soon no longer competes with it
                self._due.append((later[0], min(later[1], time.monotonic() + AFTER_RELEASE_S)))
                self._cond.notify_all()
            closed = self._closed
        if closed:
            stop_kernel(km)
        else:
            self._stop_later(km, killed=True, after=REAP_AFTER_S)

    def expect(self, request: KernelRequest, runs: int) -> None:
        """``runs`` more acquires for ``request`` will come, then none (a batch): never warm more than that."""
        with self._cond:
            self._budget[request] = max(0, runs)

    # --- warming --------------------------------------------------------------------------

    def prewarm(self, request: KernelRequest, count: int | None = None) -> None:
        """Start warming up to ``count`` (default: ``size``) kernels for ``request`` now."""
        with self._cond:
            self._check_open()
            self._demand[request] = time.monotonic()
            self._demand.move_to_end(request)
            target = min(count or self.options.size, self.options.size)
            while self._have(request) < target and self._refill(request):
                pass

    def stats(self) -> dict[str, int]:
        """Counts of idle, starting and in-use kernels (for tests, logs and the app's status line)."""
        with self._cond:
            return {"idle": sum(len(q) for q in self._idle.values()),
                    "starting": sum(self._starting.values()), "in_use": len(self._in_use)}

    def depth(self, request: KernelRequest) -> int:
        """How many kernels for ``request`` the pool currently keeps ready (measured; see ``PoolOptions``)."""
        with self._cond:
            return self._depth.get(request, self.options.size)

    def waits(self) -> int:
        """How many acquires found no ready kernel so far (each deepens the pool, up to ``max_size``)."""
        with self._cond:
            return self._waits

    def close(self) -> None:
        """Stop every kernel (idle, starting and in use) and the background threads; idempotent."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            doomed = [entry.km for q in self._idle.values() for entry in q] + list(self._in_use.values())
            self._idle.clear()
            self._in_use.clear()
            self._later.clear()
            self._due.clear()
            self._cond.notify_all()
        atexit.unregister(self.close)
        for km in doomed:
            kill_kernel_now(km)
        self._warmers.shutdown(wait=True, cancel_futures=True)  # a start in flight stops its own kernel
        with self._cond:
            self._starting.clear()  # cancelled warm-ups never ran to count themselves down
        self._stoppers.shutdown(wait=True)
        for km in doomed:
            stop_kernel(km)
        if self._reaper is not None and self._reaper is not threading.current_thread():
            self._reaper.join(5.0)

    def __enter__(self) -> WarmPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- internals (call with the lock held) ----------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise KernelStartError("the kernel pool is closed")

    def _stop_later(self, km: AsyncKernelManager, *, killed: bool = False, after: float = 0.0) -> None:
        """Kill ``km`` (unless ``killed`` already) and reap it in the background, ``after`` seconds from now."""
        if not killed:  # release() has just killed it: listing its process tree again costs the run ~1.5 ms
            kill_kernel_now(km)
        try:  # reaping and file clean-up off the caller's path
            self._stoppers.submit(closing_loop(_stop_at), km, time.monotonic() + after)
        except RuntimeError:  # shut down meanwhile
            stop_kernel(km)

    def _have(self, request: KernelRequest) -> int:
        return len(self._idle.get(request, ())) + self._starting.get(request, 0)

    def _total(self) -> int:
        return sum(len(q) for q in self._idle.values()) + sum(self._starting.values())

    def _take_idle(self, request: KernelRequest) -> AsyncKernelManager | None:
        queue = self._idle.get(request)
        while queue:
            entry = queue.popleft()
            if _alive(entry.km):
                return entry.km
            self._stop_later(entry.km)  # died while idle (OOM killer, a stray kill)
        return None

    def _measure(self, request: KernelRequest, *, waited: bool) -> None:
        """Adapt the depth for ``request``: one deeper after a run found no ready kernel, one shallower
        when at least two more sit ready after this acquire (a surplus)."""
        depth = self._depth.get(request, self.options.size)
        if waited:
            self._waits += 1
            depth = min(depth + 1, self.options.cap)
        elif len(self._idle.get(request, ())) >= 2:
            depth = max(depth - 1, self.options.size)
        self._depth[request] = depth

    def _in_batch(self, request: KernelRequest) -> bool:
        """Whether runs for ``request`` come as a batch (:meth:`expect`) or already queue for kernels."""
        return request in self._budget or self._waiting.get(request, 0) > 0

    def _replace(self, request: KernelRequest, km: AsyncKernelManager, alone: bool) -> None:
        """Start the replacements for ``km``, just handed out: now in a batch or a stream of runs; for a run
        ``alone``, when it is released or ``REFILL_AFTER_S`` from now (the reaper thread sees to that)."""
        if not alone or self._in_batch(request):
            self._refill_all(request)
            return
        self._later[id(km)] = (request, time.monotonic() + REFILL_AFTER_S)
        self._ensure_reaper()
        self._cond.notify_all()  # the reaper's next check comes earlier

    def _refill_all(self, request: KernelRequest) -> None:
        """Start kernels for ``request`` up to the measured depth, as far as the runs still expected."""
        while self._refill(request):
            pass

    def _refill(self, request: KernelRequest) -> bool:
        """Start one kernel for ``request`` if the bound allows, evicting another kind's idle kernel if needed."""
        target = self._depth.get(request, self.options.size)
        if request in self._budget:
            target = min(target, self._budget[request])
        if self._closed or self._have(request) >= target:
            return False
        if self._total() >= self.options.cap and not self._evict_other(request):
            return False
        self._starting[request] = self._starting.get(request, 0) + 1
        self._warmers.submit(closing_loop(self._warm), request)
        self._ensure_reaper()
        return True

    def _evict_other(self, request: KernelRequest) -> bool:
        for other in self._demand:  # least recently demanded first
            queue = self._idle.get(other)
            if other != request and queue:
                self._stop_later(queue.popleft().km)
                return True
        return False

    def _warm(self, request: KernelRequest) -> None:
        km: AsyncKernelManager | None = None
        try:
            km = self._start(request, self.options.startup_timeout)
        except Exception as exc:  # noqa: BLE001 - a failed warm-up is retried by acquire, in the open
            log.warning("warming a %s kernel failed: %s", request.kernel_name, exc)
        else:
            _open_client(km)
        with self._cond:
            self._starting[request] -= 1
            if km is not None and not self._closed:
                self._idle.setdefault(request, deque()).append(_Idle(km, time.monotonic()))
                km = None
            self._cond.notify_all()
        if km is not None:  # the pool closed while it was starting
            stop_kernel(km)

    def _ensure_reaper(self) -> None:
        if (self.options.idle_timeout is not None or self._later) and self._reaper is None:
            self._reaper = threading.Thread(target=self._reap, name="livedocs-pool-reaper", daemon=True)
            self._reaper.start()

    def _reap(self) -> None:
        """Start replacements that are due (see :meth:`_replace`); stop kernels idle for longer than
        ``idle_timeout`` and replace them while their kind is in demand."""
        timeout = self.options.idle_timeout
        with self._cond:
            while not self._closed:
                now = time.monotonic()
                next_check = now + (timeout if timeout is not None else 3600.0)
                for key, (request, due) in list(self._later.items()):
                    if due <= now:
                        del self._later[key]
                        self._due.append((request, due))
                    else:
                        next_check = min(next_check, due)
                ready = [request for request, due in self._due if due <= now]
                self._due = [(request, due) for request, due in self._due if due > now]
                for request in ready:
                    self._refill_all(request)
                next_check = min([next_check, *(due for _, due in self._due)])
                for request, queue in list(self._idle.items()) if timeout is not None else ():
                    while queue and now - queue[0].since >= timeout:
                        self._stop_later(queue.popleft().km)
                        if now - self._demand.get(request, 0.0) < timeout:
                            self._refill(request)
                    if queue:
                        next_check = min(next_check, queue[0].since + timeout)
                self._cond.wait(max(0.05, next_check - now))


def _open_client(km: AsyncKernelManager) -> None:
    """Open the client of ``km``'s run while it waits (``RunKernelManager.open_client``); a kernel whose manager
    cannot is connected by its run, as before."""
    open_client = getattr(km, "open_client", None)
    if open_client is not None:
        try:
            open_client()
        except Exception as exc:  # noqa: BLE001 - an optimisation: the run connects its own client
            log.debug("opening a waiting kernel's client failed: %s", exc)


def _stop_at(km: AsyncKernelManager, due: float) -> None:
    """:func:`stop_kernel` at ``due`` (``time.monotonic``), or at once if that has passed (a backlog never grows)."""
    time.sleep(max(0.0, due - time.monotonic()))
    stop_kernel(km)


def _alive(km: AsyncKernelManager) -> bool:
    process = kernel_process(km)
    if process is None:
        return bool(km.has_kernel)
    with contextlib.suppress(Exception):
        return process.poll() is None
    return False


__all__ = ["PoolOptions", "WarmPool"]
