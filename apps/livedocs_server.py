"""Start the app's server with its worker already running: ``python apps/livedocs_server.py run SCRIPT [FLAGS]``.

``livedocs app`` runs this instead of ``streamlit run``: it builds the app's services (store, job queue and, unless
``LIVEDOCS_APP_WORKER=0``, the in-process worker with its warm kernels) before the server starts, so runs queued in
the store resume at once after a restart, before anyone opens a page; then it hands over to Streamlit's own
command line in this same process (the pages find the services already built).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # livedocs_ui, as the app script imports it


def main() -> None:
    from livedocs_ui.services import Settings, start

    # importing streamlit set MPLBACKEND=Agg, which kernels started now would inherit (see livedocs_app.py)
    if os.environ.get("MPLBACKEND") == "Agg":
        del os.environ["MPLBACKEND"]
    start(Settings.from_env())
    from streamlit.web.cli import main as streamlit_main

    sys.argv = ["streamlit", *sys.argv[1:]]
    streamlit_main()


if __name__ == "__main__":
    main()
