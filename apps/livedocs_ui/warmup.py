"""What the first visitor would otherwise wait for, prepared when the server starts (``livedocs app``):
the store and the job queue, the catalog, and for every catalog notebook its kernel template with the
warm imports and a warm kernel forked from it; the kernel's package listing a run records; the report
converter, the notebook client and the page modules with their imports.

Called by ``apps/livedocs_serve.py`` before Streamlit starts listening, so when the server prints its
URL a first run only waits for its own notebook. A failure here is logged and the app starts anyway
(the first run then starts its kernel itself, as before).
"""

from __future__ import annotations

import logging
import sys
import threading
import time

from livedocs_runner.errors import LivedocsError
from livedocs_runner.execute import kernel_language
from livedocs_runner.forms import scenario_params
from livedocs_runner.inject import is_python
from livedocs_runner.kernels import KernelRequest
from livedocs_runner.plan import plan_for

from .services import catalog, services

log = logging.getLogger(__name__)

TIMEOUT = 120.0  # seconds the server waits for warm kernels before it starts anyway


def requests() -> list[KernelRequest]:
    """The kernel each catalog notebook's runs ask for (as ``execute`` builds it), Python kernels only."""
    out: list[KernelRequest] = []
    for entry in catalog():
        config = entry.config
        if config is None or not config.scenarios:
            continue
        try:
            scenario = config.baseline or config.scenarios[0].name
            plan = plan_for(config, scenario, scenario_params(config, scenario))
        except LivedocsError:  # the form says why when someone opens it
            continue
        if is_python(kernel_language(plan)):  # other kernels start fresh for each run
            request = KernelRequest(plan.kernel_name, plan.cwd, plan.warm_imports)
            if request not in out:
                out.append(request)
    return out


def warm_up(timeout: float = TIMEOUT) -> None:
    """Prepare everything, then return once the warm kernels are up (or ``timeout`` seconds passed)."""
    start = time.monotonic()
    try:
        report = threading.Thread(target=_warm_report, name="livedocs-report-warm-up", daemon=True)
        report.start()
        kernels = services().kernels
        if kernels is None:  # --no-worker: runs execute in `livedocs worker` processes, which warm their own
            _import_pages()
            return
        wanted = requests()
        for request in wanted:  # one each: the pool keeps only ``workers`` kernels idle in all
            kernels.prewarm(request, 1)  # type: ignore[attr-defined]
        _import_pages()
        _warm_records(wanted)
        while time.monotonic() - start < timeout and kernels.stats().get("starting", 0):  # type: ignore[attr-defined]
            time.sleep(0.05)
        report.join(max(0.0, timeout - (time.monotonic() - start)))
        stats = kernels.stats()  # type: ignore[attr-defined]
        print(f"Warm: {len(wanted)} notebook kernel(s) ready ({stats.get('idle', 0)} idle) in "
              f"{time.monotonic() - start:.1f} s", file=sys.stderr, flush=True)
    except Exception:  # noqa: BLE001 - never keep the app from starting
        log.exception("warming up the app failed; the first run starts its own kernel")


def _warm_records(wanted: list[KernelRequest]) -> None:
    """What the first run's record would compute: each kernel's package listing (kept in the home's cache,
    read by every later run) and the notebook client's imports."""
    import nbclient  # noqa: F401 - loaded by the first execution otherwise

    from livedocs_runner.execute import interpreters_cache
    from livedocs_runner.provenance import capture_environment

    for kernel_name in dict.fromkeys(request.kernel_name for request in wanted):
        capture_environment(kernel_name, interpreters_cache(services().settings.home))


def _warm_report() -> None:
    from livedocs_runner.report import warm_up as report_warm_up

    report_warm_up()


def _import_pages() -> None:
    """The page modules (and pandas, plotting, Streamlit's elements) imported now, not in the first page view."""
    quiet = logging.getLogger("streamlit.runtime.caching.cache_data_api")  # "No runtime found": not yet, by design
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        from . import form_page, history, history_page, reproduce, run_page  # noqa: F401
    finally:
        quiet.setLevel(level)


__all__ = ["requests", "warm_up"]
