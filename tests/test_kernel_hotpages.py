"""A fork template's later kernels copy the pages its first kernel wrote as they start, not page by page during
their run (``_forkhot.py``): read from the kernels' own page maps, with real templates and kernels. What a kernel
sees is unchanged (every other forked-kernel test runs with this on); a kernel that died teaches nothing."""

from __future__ import annotations

import ctypes
import mmap
from array import array
from pathlib import Path
from typing import Any

import pytest

from livedocs_runner import _forkhot, _forkprocess
from livedocs_runner.execute import RunOptions, execute_run
from livedocs_runner.forkserver import ForkKernels, ForkOptions, fork_supported
from livedocs_runner.kernels import KernelRequest
from livedocs_runner.plan import plan_runs
from livedocs_runner.pool import PoolOptions
from livedocs_runner.records.store import Store

from .conftest import until, write_notebook

OPTIONS = RunOptions(report=False, use_cache=False, timeout=60)
# a run that writes to many of the template's pages its kernel's start never touches: every module's objects
WALK = "import os, sys\nseen = sum(len(vars(m)) for m in list(sys.modules.values()) if hasattr(m, '__dict__'))"

needs_fork = pytest.mark.skipif(not fork_supported(), reason="needs Linux fork + pidfd")
needs_populate = pytest.mark.skipif(not _forkhot.supported(), reason="needs Linux >= 5.14 (MADV_POPULATE_WRITE)")


def pages(ranges: list[tuple[int, int]]) -> set[int]:
    return {start + offset for start, length in ranges for offset in range(0, length, _forkhot.PAGE)}


class Learning:
    """A kernel source that notes, as each kernel is released, the template pages it had copied by then."""

    def __init__(self, inner: ForkKernels) -> None:
        self.inner = inner
        self.written: list[set[int]] = []

    def acquire(self, request: KernelRequest) -> Any:
        return self.inner.acquire(request)

    def release(self, km: Any) -> None:
        process = km.provisioner.process
        if process.poll() is None:
            self.written.append(pages(_forkhot.written_pages(process.pid, process.template.pid)))
        self.inner.release(km)


def idle_kernel_pages(kernels: ForkKernels, request: KernelRequest) -> set[int]:
    """The template pages a kernel waiting in the pool (it ran nothing) has copied already."""
    kernels.pool.prewarm(request)
    until(lambda: kernels.pool.stats()["idle"] >= 1, "a kernel waiting in the pool")
    process = kernels.pool._idle[request][0].km.provisioner.process
    return pages(_forkhot.written_pages(process.pid, process.template.pid))


@pytest.mark.kernel
@needs_fork
@needs_populate
@pytest.mark.parametrize("copy", [True, False], ids=["copy_pages", "page by page"])
def test_a_templates_later_kernels_copy_what_its_first_kernel_wrote_before_their_run(
        tmp_path: Path, copy: bool) -> None:
    nb = write_notebook(tmp_path / "nb.ipynb", [("n = 1", ["parameters"]), WALK])
    plan = plan_runs(nb)[0]
    request = KernelRequest(plan.kernel_name, plan.cwd, plan.warm_imports)
    store = Store(tmp_path / "home")
    with ForkKernels(PoolOptions(size=1), ForkOptions(copy_pages=copy)) as kernels:
        source = Learning(kernels)
        first = execute_run(plan, store, options=OPTIONS, kernels=source)
        assert first.status == "succeeded", first.error
        [template] = kernels.server._templates.values()
        assert template.info["populates"] is copy
        [taught] = source.written
        waiting = idle_kernel_pages(kernels, request)
        second = execute_run(plan, store, options=OPTIONS, kernels=source)
    assert second.status == "succeeded", second.error
    assert len(taught) > 1000  # the walk wrote to thousands of the template's pages
    held = len(waiting & taught) / len(taught)
    if copy:
        assert held > 0.95  # copied as it started: its run writes to pages it has already
    else:
        assert held < 0.8  # the run's pages are still shared: each is copied on its first write, in the run


@pytest.mark.kernel
@needs_fork
@needs_populate
def test_a_kernel_that_died_teaches_nothing_and_the_next_one_does(tmp_path: Path) -> None:
    # the same imports as WALK: the same template
    dies = write_notebook(tmp_path / "dies.ipynb", [("n = 1", ["parameters"]), "import os, sys\nos._exit(1)"])
    walks = write_notebook(tmp_path / "walks.ipynb", [("n = 1", ["parameters"]), WALK])
    store = Store(tmp_path / "home")
    with ForkKernels(PoolOptions(size=1)) as kernels:
        died = execute_run(plan_runs(dies)[0], store, options=OPTIONS, kernels=kernels)
        assert died.status == "failed" and "DeadKernelError" in str(died.error)
        [template] = kernels.server._templates.values()
        assert (template._taught, template._lessons) == (False, 0)  # its memory was gone: not even asked
        plan = plan_runs(walks)[0]
        source = Learning(kernels)
        assert execute_run(plan, store, options=OPTIONS, kernels=source).status == "succeeded"
        assert (template._taught, template._lessons) == (True, 1)
        [taught] = source.written
        waiting = idle_kernel_pages(kernels, KernelRequest(plan.kernel_name, plan.cwd, plan.warm_imports))
    assert len(waiting & taught) / len(taught) > 0.95


@pytest.mark.kernel
@needs_fork
@needs_populate
def test_a_template_whose_kernels_tell_nothing_stops_asking(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[int] = []

    def unreadable(kernel_pid: int, template_pid: int) -> list[tuple[int, int]]:
        asked.append(kernel_pid)
        return []  # as where /proc shows no page flags: reading them costs ~30 ms a kernel, for nothing

    monkeypatch.setattr(_forkprocess, "written_pages", unreadable)
    nb = write_notebook(tmp_path / "nb.ipynb", [("n = 1", ["parameters"]), WALK])
    store = Store(tmp_path / "home")
    with ForkKernels(PoolOptions(size=1)) as kernels:
        records = [execute_run(plan_runs(nb)[0], store, options=OPTIONS, kernels=kernels)
                   for _ in range(_forkprocess.LESSONS + 2)]
        [template] = kernels.server._templates.values()
    assert [r.status for r in records] == ["succeeded"] * len(records)
    assert len(asked) == _forkprocess.LESSONS and len(set(asked)) == len(asked)
    assert (template._taught, template._lessons) == (False, _forkprocess.LESSONS)


@needs_populate
def test_populate_copies_every_page_of_its_ranges_and_skips_a_range_not_mapped() -> None:
    count = 64
    area = mmap.mmap(-1, count * _forkhot.PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)  # nothing in memory yet
    start = ctypes.addressof(ctypes.c_char.from_buffer(area))

    def present() -> list[bool]:
        entries = array("Q")
        with open("/proc/self/pagemap", "rb") as pagemap:
            pagemap.seek(start // _forkhot.PAGE * 8)
            entries.frombytes(pagemap.read(count * 8))
        return [bool(entry >> 63) for entry in entries]

    try:
        assert not any(present())
        odd = [(start + index * _forkhot.PAGE, _forkhot.PAGE) for index in range(1, count, 2)]
        missing = (_forkhot.PAGE, _forkhot.PAGE)  # the first pages of the address space are never mapped
        assert _forkhot.populate([*odd[:10], missing, *odd[10:]]) == 1
        assert present() == [index % 2 == 1 for index in range(count)]
        assert area[:count * _forkhot.PAGE] == bytes(count * _forkhot.PAGE)  # the same bytes, now in memory
    finally:
        area.close()
