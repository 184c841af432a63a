"""The livedocs web app: every configured notebook as a form to fill in, run, read, compare and share.

Start it with ``livedocs app`` (or ``make app``). Settings come from the environment:
``LIVEDOCS_CONFIGS`` (configs folder), ``LIVEDOCS_HOME`` (run store), ``LIVEDOCS_WORKERS`` (runs at
once), ``LIVEDOCS_USER`` (default name recorded with runs). Pages are chosen by the URL:

    ?notebook=credit_risk&threshold=0.4   the form, pre-filled
    ?run=ID                               one run's progress and results
    ?compare=ID1,ID2                      runs side by side
    ?history=credit_risk&status=failed    a notebook's runs, filtered (see livedocs_ui/history_page.py)
    ?diff=ID1,ID2                         did run 2 reproduce run 1: the verdict and what differs
    ?access=1                             the access log (admins)

Sign-in and roles (``LIVEDOCS_AUTH``, ``LIVEDOCS_AUTH_HEADER``, ``LIVEDOCS_ACCESS``): livedocs_ui/identity.py.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import streamlit as st

from livedocs_runner.errors import LivedocsError

# Importing streamlit sets MPLBACKEND=Agg in os.environ, and kernels inherit this process's
# environment: with it, ipykernel keeps Agg instead of its inline backend and notebooks draw no
# figures. This app never draws with matplotlib itself, so give the kernels their default back.
if os.environ.get("MPLBACKEND") == "Agg":
    del os.environ["MPLBACKEND"]

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the page modules next to this script

from livedocs_ui import identity  # noqa: E402
from livedocs_ui.access_page import access_page  # noqa: E402
from livedocs_ui.form_page import catalog_page, notebook_page  # noqa: E402
from livedocs_ui.history import compare_page  # noqa: E402
from livedocs_ui.history_page import history_page  # noqa: E402
from livedocs_ui.reproduce import diff_page  # noqa: E402
from livedocs_ui.run_page import run_page  # noqa: E402
from livedocs_ui.safe import callback, guarded, show_flash, text  # noqa: E402
from livedocs_ui.services import broken, capacity, catalog, find_config, go, services  # noqa: E402
from livedocs_ui.timing import timed  # noqa: E402

from livedocs_runner.access import AccessDenied, Role  # noqa: E402

st.set_page_config(page_title="livedocs", page_icon="📓", layout="wide")


def sidebar() -> None:
    with st.sidebar:
        st.header("livedocs")
        identity.sidebar_identity()
        st.button("All notebooks", key="nav-catalog", on_click=callback(go), width="stretch")
        for entry in catalog():
            if entry.config is not None and identity.allowed(Role.VIEWER, entry.name):
                st.button(text(entry.config.title), key=f"nav:{entry.name}", on_click=callback(go),
                          kwargs={"notebook": entry.name}, width="stretch")
        jobs = identity.visible_jobs(services().queue.jobs())  # never other notebooks' runs
        running = sum(j.status == "running" for j in jobs)
        st.caption(f"{running} running · {len(jobs) - running} waiting · {capacity()}")
        if identity.site_admin() and not identity.open_access():
            st.button("Access log", key="nav-access", on_click=callback(go), kwargs={"access": "1"}, width="stretch")


def page() -> None:
    params = st.query_params
    if params.get("access"):
        access_page()
    elif params.get("run"):
        run_page(params["run"])
    elif params.get("diff"):
        diff_page(params["diff"].split(","))
    elif params.get("compare"):
        compare_page(params["compare"].split(","))
    elif params.get("history"):
        history_page(params["history"])
    elif params.get("notebook"):
        name = params["notebook"]
        if not identity.allowed(Role.VIEWER, name):  # the same page as for a notebook that does not exist
            if find_config(name) is not None or broken(name) is not None:
                identity.record_denied_once(f"notebook {name}", f"view {name}: needs the viewer role"
                                            + (" (a link with values: a run attempt)" if len(params) > 1 else ""))
            identity.refused(AccessDenied(identity.not_found("notebook", name)))
            catalog_page()
            return
        config = find_config(name)
        if config is not None:
            notebook_page(name, config)
        elif (entry := broken(name)) is not None:
            st.title(text(entry.name))
            st.error(text(f"This config cannot be loaded. Error: {entry.error}"))
        else:
            names = identity.visible(e.name for e in catalog())
            st.error(text(f"Error: no notebook {name!r} here. Available: {', '.join(names) or 'none'}."))
            catalog_page()
    else:
        catalog_page()


PAGES = ("access", "run", "diff", "compare", "history", "notebook")  # in the order page() looks


def main() -> None:
    with timed("script", next((name for name in PAGES if st.query_params.get(name)), "catalog")):
        _main()


def _main() -> None:
    try:
        identity.gate()  # the sign-in or refusal page instead of the app, when there is no identity
        identity.policy()
    except LivedocsError as exc:  # the sign-in settings or the access file broke while the app ran: closed
        identity.refused(exc)
        return
    with guarded("sidebar"):
        sidebar()
    show_flash()
    with guarded("page"):
        page()


main()
