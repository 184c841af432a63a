"""Serve the web app: warm up, then run Streamlit. ``livedocs app`` starts this with Streamlit's command line:

    python apps/livedocs_serve.py run apps/livedocs_app.py --server.port 8501 ...

Kernels, templates and warm imports for every catalog notebook are prepared before Streamlit listens
(livedocs_ui/warmup.py), so the URL it prints answers with a warm app. The Streamlit script
(livedocs_app.py) then finds the same store, queue and kernels (one process, one module cache).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the page modules next to this script


def main() -> None:
    from streamlit.web import cli as streamlit_cli

    if os.environ.get("MPLBACKEND") == "Agg":  # as livedocs_app.py: kernels keep their inline backend
        del os.environ["MPLBACKEND"]
    from livedocs_ui.warmup import warm_up

    warm_up()
    sys.argv = ["streamlit", *sys.argv[1:]]
    streamlit_cli.main(prog_name="streamlit")


if __name__ == "__main__":
    main()
