"""Serve the web app: build its services, warm up, then run Streamlit. ``livedocs app`` starts this with
Streamlit's command line:

    python apps/livedocs_serve.py run apps/livedocs_app.py --server.port 8501 ...

Before Streamlit listens it builds the app's services (store, job queue and, unless ``LIVEDOCS_APP_WORKER=0``,
the in-process worker with its warm kernels), so runs queued in the store resume at once after a restart, before
anyone opens a page; then kernels, templates and warm imports for every catalog notebook are prepared
(livedocs_ui/warmup.py), so the URL it prints answers with a warm app. The Streamlit script (livedocs_app.py)
then finds the same store, queue and kernels (one process, one module cache).
"""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the page modules next to this script


def main() -> None:
    # importing streamlit sets MPLBACKEND=Agg, which kernels started now would inherit (see livedocs_app.py)
    from streamlit.web import cli as streamlit_cli

    if os.environ.get("MPLBACKEND") == "Agg":
        del os.environ["MPLBACKEND"]
    from livedocs_ui.services import Settings, start
    from livedocs_ui.warmup import warm_up

    from livedocs_runner._gc import collect_less_often
    from livedocs_runner.kernels import import_client_modules

    import_client_modules()  # before the worker's slots and the warm-up's threads race to import them
    collect_less_often()  # the runs' garbage collections: ~2 ms of CPU off each run (see livedocs_runner/_gc.py)
    _quiet_expected_messages()
    start(Settings.from_env())
    warm_up()
    # what is alive now (modules, the catalog, the warm-up's objects) stays: out of every later collection
    # (Python's generational ones; Streamlit's full collection after each script run is off: runner.postScriptGC)
    gc.collect()
    gc.freeze()
    sys.argv = ["streamlit", *sys.argv[1:]]
    streamlit_cli.main(prog_name="streamlit")


class _DropGoneFragments:
    """Drops Streamlit's "The fragment with id ... does not exist anymore" line: a run page's progress timer that
    fires after the run ended (and its page became the results) is expected, not worth a line per finished run."""

    def filter(self, record) -> bool:  # noqa: ANN001 - a logging.LogRecord
        return not str(record.msg).startswith("The fragment with id ")


def _quiet_expected_messages() -> None:
    import logging

    logging.getLogger("streamlit.runtime.app_session").addFilter(_DropGoneFragments())


if __name__ == "__main__":
    main()
