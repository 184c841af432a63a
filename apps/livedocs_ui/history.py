"""A notebook's runs (CLI, app, reruns) in a filterable table, and side-by-side comparison."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from livedocs_runner.compare import Comparison, choose_view, compare, is_number
from livedocs_runner.errors import LivedocsError
from livedocs_runner.scenarios import Config
from livedocs_runner.records.store import FINAL, RunRecord
from livedocs_runner.results import specs_for, title
from livedocs_runner.result_format import format_delta, format_value

from livedocs_runner.access import Role

from . import identity
from .safe import callback, guarded, public, roots, show_error, text
from .services import find_config, go, link, services


MAX_COMPARE = 50  # runs on one comparison page (a link is never a way to make the server do unbounded work)
MAX_EXPORT = 50  # runs in one audit bundle built by the app (the CLI has no such limit)


def _short(value: Any) -> str:
    """A value for a table cell (plain text); server paths shown relative to the project."""
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.6g}"
    return public(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False), roots())


def history(config: Config) -> None:
    """The History tab: see :mod:`.history_page` (also the ``?history=NAME`` page)."""
    from .history_page import history as history_tab

    history_tab(config)


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
    view = choose_view(result)
    config = next((c for r in records if r.config and (c := find_config(path=r.config)) is not None), None)
    specs = specs_for(records[0], config)
    header = _headers(records)
    st.subheader("Inputs that differ")
    if result.differing:
        st.dataframe(pd.DataFrame({h: [_short(v[i]) for v in result.differing.values()] for i, h in enumerate(header)},
                                  index=list(result.differing)))
    else:
        st.write("All inputs are the same.")
    if result.same:
        with st.expander("Inputs that are the same"):
            st.dataframe(pd.DataFrame({"value": [_short(v) for v in result.same.values()]}, index=list(result.same)))
    metric = view.metric
    if result.metrics:
        st.subheader("Results")
        if view.metrics and (len(records) > 2 or view.kind == "chart"):  # one choice for the table and the chart
            metric = st.selectbox("Result", list(view.metrics), index=list(view.metrics).index(view.metric)
                                  if view.metric in view.metrics else 0, format_func=lambda m: title(m, specs),
                                  key="compare-metric", help="Default: a result that differs between the runs.")
        if len(records) == 2:
            _pair(records, result, specs, header)
        else:
            _sheet(records, result, metric, specs, header)
    if view.kind == "chart" and metric:
        _chart(result, view.x or "", metric, specs)
    elif result.metrics:
        st.caption(text(f"No chart: {view.why}. A chart is drawn only when the runs differ in exactly one "
                        "number (a sweep)."))
    cols = st.columns(min(len(records), 6))
    for index, record in enumerate(records):
        cols[index % len(cols)].button(text(f"Open {record.id[:7]}"), key=f"c-open:{record.id}", on_click=callback(go),
                                       kwargs={"run": record.id})
    st.caption("Link to this comparison:")
    st.code(link(compare=",".join(r.id for r in records)), language=None)


def _headers(records: list[RunRecord]) -> list[str]:
    """``id · scenario`` per run, made unique (a run given twice in a link, or two runs of one scenario)."""
    out: list[str] = []
    for r in records:
        label = f"{r.id[:7]} · {r.scenario}"
        out.append(label if label not in out else f"{r.id} · {r.scenario}")
    return out


def _value(value: Any, spec: Any) -> str:
    return "—" if value is None else format_value(value, spec) if not isinstance(value, str) else _short(value)


def _pair(records: list[RunRecord], result: Comparison, specs: dict[str, Any], header: list[str]) -> None:
    """Two runs: a result per row, both values, the difference and the % change (formatted like the value)."""
    frame = []
    for name, values in result.metrics.items():
        delta = format_delta(values[1], values[0], specs.get(name))
        frame.append({"result": title(name, specs), header[0]: _value(values[0], specs.get(name)),
                      header[1]: _value(values[1], specs.get(name)), "difference": delta.text or "—",
                      "% change": delta.relative or "—"})
    st.dataframe(pd.DataFrame(frame), hide_index=True, key="compare-pair")
    st.caption(text(f"Difference and % change: {header[1]} against {header[0]}."))


def _sheet(records: list[RunRecord], result: Comparison, metric: str | None, specs: dict[str, Any],
           header: list[str]) -> None:
    """Many runs: a run per row, the inputs that differ and every result as columns, and for one result the
    difference and % change against the first run."""
    frame = []
    for index, r in enumerate(records):
        row: dict[str, Any] = {"run": header[index]}
        row.update({p: _short(values[index]) for p, values in result.differing.items()})
        row.update({title(m, specs): _value(values[index], specs.get(m)) for m, values in result.metrics.items()})
        if metric:
            delta = format_delta(result.metrics[metric][index], result.metrics[metric][0], specs.get(metric))
            row[f"difference in {title(metric, specs)}"] = delta.text or "—"
            row["% change"] = delta.relative or "—"
        frame.append(row)
    st.dataframe(pd.DataFrame(frame), hide_index=True, key="compare-sheet")
    if metric:
        st.caption(text(f"Difference and % change against the first run, {header[0]}."))


def _chart(result: Comparison, x: str, metric: str, specs: dict[str, Any]) -> None:
    """A result against the one number that varies across the runs (a sweep): the only chart that cannot mix
    the effects of several inputs."""
    st.subheader(text(f"{title(metric, specs)} against {x}"))
    points = [(xv, yv) for xv, yv in zip(result.differing[x], result.metrics[metric]) if is_number(yv)]
    frame = pd.DataFrame(points, columns=[x, title(metric, specs)]).sort_values(x)
    st.line_chart(frame, x=x, y=title(metric, specs))


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
