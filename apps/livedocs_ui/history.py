"""A notebook's runs (CLI, app, reruns) in a filterable table, and side-by-side comparison."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from livedocs_runner.compare import compare
from livedocs_runner.errors import LivedocsError
from livedocs_runner.outputs import is_table
from livedocs_runner.scenarios import Config
from livedocs_runner.records.store import FINAL, STATUSES, RunRecord

from livedocs_runner.access import Role

from . import identity
from .safe import callback, guarded, public, roots, show_error, text
from .services import go, link, services


MAX_COMPARE = 50  # runs on one comparison page (a link is never a way to make the server do unbounded work)
MAX_EXPORT = 50  # runs in one audit bundle built by the app (the CLI has no such limit)


def _short(value: Any) -> str:
    """A value for a table cell (plain text); server paths shown relative to the project."""
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.6g}"
    return public(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False), roots())


def history(config: Config) -> None:
    runs = services().store.list(notebook=str(config.notebook.path.resolve()), limit=1000)
    runs = identity.visible_runs(runs)  # not another config's runs of the same notebook
    if not runs:
        st.info("No runs yet. Fill in the form and press Run, or run it from the command line.")
        return
    key = config.path.stem if config.path else config.notebook.path.stem
    cols = st.columns(3)
    statuses = cols[0].multiselect("Status", STATUSES, key=f"h-status:{key}")
    triggers = cols[1].multiselect("Started from", sorted({r.trigger for r in runs}), key=f"h-trigger:{key}")
    query = cols[2].text_input("Search scenario, user or id", key=f"h-text:{key}").strip().lower()
    shown = [r for r in runs if (not statuses or r.status in statuses) and (not triggers or r.trigger in triggers)
             and (not query or query in f"{r.scenario} {r.user} {r.id}".lower())]
    metric_names = list(dict.fromkeys(k for r in shown for k, v in r.metrics.items() if not is_table(v)))[:4]
    rows = [{"run": r.id, "status": r.status + (" (cached)" if r.cache_of else ""), "scenario": r.scenario,
             "started (UTC)": (r.started_at or r.created_at)[:19].replace("T", " "),
             "seconds": r.duration_s, "from": r.trigger, "user": r.user,
             **{m: _short(r.metrics.get(m)) if m in r.metrics else "" for m in metric_names}} for r in shown]
    st.dataframe(pd.DataFrame(rows), hide_index=True)
    st.caption(f"{len(shown)} of {len(runs)} runs.")
    labels = {r.id: f"{r.id} · {r.scenario} · {r.status}" for r in shown}
    chosen = st.multiselect("Select runs to open or compare", list(labels), format_func=labels.get,
                            key=f"h-pick:{key}")
    left, middle, right = st.columns(3)
    left.button("Open", key=f"h-open:{key}", disabled=len(chosen) != 1, on_click=callback(go),
                kwargs={"run": chosen[0] if chosen else None})
    middle.button("Compare", key=f"h-compare:{key}", disabled=len(chosen) < 2, on_click=callback(go),
                  kwargs={"compare": ",".join(chosen)})
    created = {r.id: r.created_at for r in shown}
    pair = sorted(chosen, key=lambda i: created.get(i, ""))  # the older run is the original
    right.button("What differs?", key=f"h-diff:{key}", disabled=len(chosen) != 2, on_click=callback(go),
                 kwargs={"diff": ",".join(pair) if len(pair) == 2 else None},
                 help="Pick exactly two runs: did the newer one reproduce the older, and what differs.")
    if chosen and identity.allowed(Role.ADMIN, key):  # evidence export: admins only
        _audit_bundle(key, chosen)


def _audit_bundle(key: str, chosen: list[str]) -> None:
    """The picked runs as evidence for an auditor: the zip ``livedocs audit export`` writes, built on request."""
    wanted = tuple(sorted(chosen))
    state = f"h-bundle:{key}"
    ready = st.session_state.get(state)
    if ready and ready[0] == wanted:
        st.download_button("Download audit bundle (.zip)", ready[1], file_name="evidence.zip",
                           mime="application/zip", key=f"h-bundle-download:{key}")
        return
    st.button("Prepare audit bundle", key=f"h-bundle-make:{key}", disabled=len(wanted) > MAX_EXPORT,
              on_click=callback(_make_bundle), args=(state, wanted),
              help=f"A self-contained zip of these runs (at most {MAX_EXPORT}): reports, notebooks, input snapshots, "
                   "environments, the journal entries and a checksum manifest. Opens without livedocs.")


def _make_bundle(state: str, ids: tuple[str, ...]) -> None:
    from livedocs_runner.records.audit import Selection, export

    for run_id in ids:
        identity.require_run(services().store.get(run_id), Role.ADMIN, action="export evidence of")

    with tempfile.TemporaryDirectory(prefix="livedocs-bundle-") as folder:
        path = Path(folder) / "evidence.zip"
        export(services().store, path, Selection(ids=ids))
        st.session_state[state] = (ids, path.read_bytes())
    identity.record("export", "audit bundle", f"runs {', '.join(ids)}")


def compare_page(ids: list[str]) -> None:
    st.button("← Catalog", key="back-catalog", on_click=callback(go))
    st.title("Compare runs")
    ids = list(dict.fromkeys(i.strip() for i in ids if i.strip()))
    if len(ids) > MAX_COMPARE:
        st.error(f"Error: {len(ids)} runs given; compare at most {MAX_COMPARE} at a time.")
        return
    try:
        records = identity.runs(ids)  # one you may not see reads like one that does not exist
    except LivedocsError as exc:
        show_error(exc)
        return
    if len(records) < 2:
        st.error("Error: give at least two runs to compare, e.g. ?compare=ID1,ID2.")
        return
    if any(r.status not in FINAL for r in records):
        wait_for_runs([r.id for r in records])
    result = compare(records)
    header = [f"{r.id[:7]} · {r.scenario}" for r in records]
    st.subheader("Inputs that differ")
    if result.differing:
        st.dataframe(pd.DataFrame({h: [_short(v[i]) for v in result.differing.values()] for i, h in enumerate(header)},
                                  index=list(result.differing)))
    else:
        st.write("All inputs are the same.")
    if result.same:
        with st.expander("Inputs that are the same"):
            st.dataframe(pd.DataFrame({"value": [_short(v) for v in result.same.values()]}, index=list(result.same)))
    if result.metrics:
        st.subheader("Results side by side")
        st.dataframe(pd.DataFrame({h: [_short(v[i]) if v[i] is not None else "—" for v in result.metrics.values()]
                                   for i, h in enumerate(header)}, index=list(result.metrics)))
    _chart(records, result.differing, result.metrics)
    cols = st.columns(len(records))
    for column, record in zip(cols, records):
        column.button(text(f"Open {record.id[:7]}"), key=f"c-open:{record.id}", on_click=callback(go),
                      kwargs={"run": record.id})
    st.caption("Link to this comparison:")
    st.code(link(compare=",".join(r.id for r in records)), language=None)


def _chart(records: list[RunRecord], differing: dict[str, list[Any]], metrics: dict[str, list[Any]]) -> None:
    """A metric against a numeric parameter that varies across the runs (a sweep)."""
    numeric = [p for p, values in differing.items()
               if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)]
    numbers = [m for m, values in metrics.items()
               if any(isinstance(v, int | float) and not isinstance(v, bool) for v in values)]
    numbers.sort(key=lambda m: len(set(map(str, metrics[m]))) == 1)  # results that vary come first
    if not numeric or not numbers:
        return
    st.subheader("Chart")
    cols = st.columns(2)
    param = cols[0].selectbox("Swept input", numeric, key="chart-x")
    metric = cols[1].selectbox("Result", numbers, key="chart-y")
    frame = pd.DataFrame({param: differing[param], metric: metrics[metric]}).dropna().sort_values(param)
    st.line_chart(frame, x=param, y=metric)


@st.fragment(run_every=1.0)
def wait_for_runs(ids: list[str]) -> None:
    with guarded("progress of the runs"):
        _count(ids)


def _count(ids: list[str]) -> None:
    statuses = [services().queue.status(i) for i in ids]
    if all(s.done for s in statuses):
        st.rerun(scope="app")
    running = sum(s.status == "running" for s in statuses)
    queued = sum(s.status == "queued" for s in statuses)
    st.info(f"{len(ids) - running - queued} of {len(ids)} runs finished · {running} running · {queued} waiting. "
            "The table fills in as they finish.")
