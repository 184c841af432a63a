"""One run: live progress while it waits or runs, then its results, compared with a baseline."""

from __future__ import annotations

import html
import json
import time
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from livedocs_runner.cells import record_error
from livedocs_runner.errors import LivedocsError, RunError
from livedocs_runner.forms import build_form, scenario_params
from livedocs_runner.outputs import is_table
from livedocs_runner.scenarios import Config
from livedocs_runner.records.store import FINAL, RunRecord
from livedocs_runner.results import ResultSpec, specs_for
from livedocs_runner.result_format import NO_DELTA, format_delta, format_value, metric_color

from livedocs_runner.access import Role

from . import asked, identity
from .safe import callback, clean_traceback, guarded, public, roots, show_error, text
from .reproduce import reproduce_panel, rerun_verdict
from .services import find_config, go, link, services
from .services import runs as stored_runs
from .timing import mark, timed

_IMAGES = (".png", ".jpg", ".jpeg", ".svg")


def run_page(run_id: str) -> None:
    try:
        record, = identity.runs([run_id])  # one you may not see reads like one that does not exist
    except LivedocsError as exc:
        show_error(exc)
        return
    config = find_config(path=record.config) if record.config else None
    name = config.path.stem if config and config.path else None
    if name:
        st.button(text(f"← {config.title}"), key="back", on_click=callback(go), kwargs={"notebook": name, "tab": None})
    st.title(text(f"{record.title or Path(record.notebook).stem} — {record.scenario}"))
    st.caption(text(f"Run {record.id} · by {record.user or 'unknown'} via {record.trigger} · "
                    f"created {record.created_at[:19].replace('T', ' ')} UTC"))
    if record.status not in FINAL:
        st.html(STILL_BAR)
        _live(record.id)
        _cancel_button(record)
        return
    if record.rerun_of:
        with guarded("comparison with the original run"):
            rerun_verdict(record)
    results(record, config)


# Measured in Chromium on the demo (benchmarks/app_speed.py): sent in one go, the rest of the results page
# (tables, figures, the panels: ~0.12 s of the browser's work) delays the tiles' first paint by as much;
# sent this much later, the tiles are painted ~0.04 s after they are sent, and the rest follows.
PAINT_FIRST_S = 0.05

LIVE_EVERY = 0.2  # seconds: the browser asks for a redraw this often while the run waits or runs
# After drawing, a redraw stays open until the run moves on (its place, its start, a cell, its end) or the
# person asks for something (a click, another page, leaving): the browser's timer requests meanwhile are
# folded into one, so the page costs its browser nothing between changes. While the run runs, a redraw
# stays open at most this long (the elapsed time ticks five times a second); while it waits, at most
# QUEUED_HOLD. Measured (benchmarks/app_speed.py, ten sessions on two workers): pages of waiting runs that
# were redrawn twice a second cost the browsers more than the runs cost the server.
RUNNING_HOLD = 0.2
QUEUED_HOLD = 30.0
# Where Streamlit's requests cannot be read (asked.watcher() is None), shorter holds that bound how long a
# click waits: the person's click is answered when the hold ends.
WAKE_WAIT = 0.1
QUEUED_WAIT = 0.5
# The progress bar moves in steps five times a second; Streamlit animates each move, which cost the browser
# about a fifth of each redraw (Chromium, measured). Constant CSS: nothing from a run goes into it.
STILL_BAR = "<style>[data-testid='stProgress'] *{transition:none !important}</style>"


@st.fragment(run_every=LIVE_EVERY)
def _live(run_id: str) -> None:
    """The run's progress, redrawn when it starts, a cell starts or it ends, five times a second while it
    runs; only this part of the page reruns."""
    with timed("fragment", "progress"), guarded("run progress"):
        _progress(run_id)
    if _redraw():  # not on the page's own run: the rest of the page is on screen already
        _hold(run_id)


def _hold(run_id: str) -> None:
    """Keep this redraw open until the run moves on (then draw it at once) or the person asks for something
    (then end it: Streamlit answers them next)."""
    watch = asked.watcher()
    if watch is None:
        moved = services().queue.wait_change(run_id, WAKE_WAIT, queued_timeout=QUEUED_WAIT)
    else:
        moved = services().queue.wait_change(run_id, RUNNING_HOLD, queued_timeout=QUEUED_HOLD, interrupted=watch)
    if moved:
        st.rerun(scope="fragment")


def _redraw() -> bool:
    """Whether this script run is a rerun of a fragment alone (not of the whole page)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return bool(ctx is not None and getattr(ctx, "fragment_ids_this_run", None))


def _progress(run_id: str) -> None:
    queue = services().queue
    status = queue.status(run_id)
    if status.done:
        st.rerun(scope="app")
    if status.status == "queued":
        place = identity.queue_place(run_id, status.place)
        slots = f"{queue.workers} run at a time" if queue.workers else "runs are run by separate workers"
        st.info(f"Waiting for a free worker: {place} ({slots}).")
    else:
        where = f"step {status.cell} of {status.cells}" if status.cells else "starting the kernel"
        step = f" ({text(status.step)})" if status.cells and status.step else ""
        st.info(f"Running: {where}{step} · {status.elapsed:.1f} s elapsed")
        st.progress(status.cell / status.cells if status.cells else 0.0)


def _cancel_button(record: RunRecord) -> None:
    """Below the progress, drawn with the page, not with every redraw of the progress: a button redrawn five
    times a second cost the browser a third more per redraw. A click reruns the page (and ends a hold)."""
    if services().queue.queued_here(record.id):
        if identity.may_cancel(record):
            st.button("Cancel", key=f"cancel:{record.id}", on_click=callback(_cancel), args=(record.id,))
    else:
        st.caption("This run was started elsewhere (e.g. from the command line); it cannot be cancelled here.")


def _cancel(run_id: str) -> None:
    record = services().store.get(run_id)
    if not identity.may_cancel(record):
        identity.require_run(record, Role.ADMIN, action="cancel another user's run of")  # logs; raises
    services().queue.cancel(run_id)
    identity.record("cancel", f"notebook {identity.config_of(record)}", f"cancel run {run_id} (by {record.user})")


def _baseline_candidates(record: RunRecord) -> list[RunRecord]:
    runs = stored_runs(notebook=record.notebook, status="succeeded", limit=200)
    if record.rerun_of and record.rerun_of not in {r.id for r in runs}:  # its original, whatever became of it
        try:
            runs.append(services().store.get(record.rerun_of))
        except LivedocsError:
            pass
    return [r for r in identity.visible_runs(runs) if r.id != record.id]


def _default_baseline(record: RunRecord, config: Config | None, candidates: list[RunRecord]) -> RunRecord | None:
    """The original of a rerun; else the latest executed (not cached) run of the config's baseline scenario
    (same values, else same name): :func:`livedocs_runner.compare.default_baseline`."""
    from livedocs_runner.compare import default_baseline

    wanted = None
    if config is not None and config.baseline:
        try:
            wanted = scenario_params(config, config.baseline)
        except LivedocsError:
            wanted = None
    chosen = default_baseline(record, candidates, baseline=config.baseline if config else None, baseline_params=wanted)
    return next((r for r in candidates if r.id == chosen), None)


def _label(run: RunRecord) -> str:
    return f"{run.scenario} · {run.id} · {(run.finished_at or run.created_at)[:16].replace('T', ' ')}"


def results(record: RunRecord, config: Config | None) -> None:
    if record.status == "succeeded":
        st.success("Succeeded" + (f" in {record.duration_s:.1f} s" if record.duration_s else "") + ".")
        if record.cache_of:
            which = f"run {record.cache_of}" if identity.may_view_run(record.cache_of) else "an earlier run"
            st.info(text(f"Reused the result of {which}, which had exactly the same inputs."))
    elif record.status == "cancelled":
        st.warning("This run was cancelled before it finished. Whatever it produced up to then is below.")
    else:
        _failure(record)
    candidates = _baseline_candidates(record)
    default = _default_baseline(record, config, candidates)
    options = [None] + [r.id for r in candidates]
    by_id = {r.id: r for r in candidates}
    chosen = st.selectbox("Compare with", options, index=options.index(default.id) if default else 0,
                          format_func=lambda i: "no baseline" if i is None else _label(by_id[i]),
                          key=f"baseline:{record.id}", help="Changes are shown against this run.")
    baseline = by_id.get(chosen) if chosen else None
    if _metrics(record, baseline, config):
        mark(f"tiles-{record.id}")
        time.sleep(PAINT_FIRST_S)  # the tiles travel and are painted alone; the rest of the page follows
    _tables(record, config)
    _figures(record)
    _actions(record, baseline)
    if identity.allowed(Role.RUNNER, identity.config_of(record)):  # its file pickers list the data folder
        with guarded("Reproduce panel"):
            reproduce_panel(record, config)
    _report(record)
    with st.expander("Inputs of this run", key=f"inputs:{record.id}", on_change="rerun") as section:
        if section.open:  # drawn when opened: a table costs the browser more than a closed section shows
            st.dataframe(pd.DataFrame([{"parameter": k, "value": public(json.dumps(v, ensure_ascii=False), roots())}
                                       for k, v in record.parameters.items()]), hide_index=True)


def failure_message(err: RunError) -> str:
    """``The run stopped at step 5 ("Score applications"): ZeroDivisionError: division by zero`` (plain text).

    A step is one of the analyst's code cells (the injected-parameters cell is not counted), named as
    :mod:`livedocs_runner.cells` names it; an older record whose notebook is gone names its cell in the
    executed notebook instead.
    """
    what = " ".join(err.summary().split())
    what = what if len(what) <= 300 else what[:299] + "…"
    step = f' ("{err.step}")' if err.step else ""
    if err.code_cell:
        return f"The run stopped at step {err.code_cell}{step}: {what}"
    if err.cell:  # an older record whose notebook cannot be read: the index in the executed notebook
        return f"The run stopped in cell {err.cell}{step}: {what}"
    return f"The run failed: {what}"


def _failure(record: RunRecord) -> None:
    err = record_error(record) or RunError(ename="Error", evalue="no detail was recorded")
    st.error(text(public(failure_message(err), roots())))
    with st.expander("Technical detail"):
        if err.code_cell:
            st.caption(text(f"Step {err.code_cell} is code cell {err.code_cell} of {err.code_cells or '?'} in the "
                            f"notebook (cell {err.source_cell or '?'} counting its text cells), which starts with: "
                            f"{public(err.first_line, roots()) or '(empty)'}"))
        st.code(clean_traceback(err.traceback, roots()) or err.summary(), language=None)
        if record.output_notebook:
            st.caption("The notebook's output up to the failure is in the downloads below.")


def _title(name: str, spec: ResultSpec | None) -> str:
    """The spec's label, else the name made readable (``default_rate`` -> ``Default rate``)."""
    return spec.label if spec and spec.label else name.replace("_", " ").capitalize()


def _signed(change: str) -> str:
    """``change`` as Markdown that shows exactly its text, its leading sign kept bare: ``st.metric`` reads the
    arrow's direction (and the colour of ``normal``/``inverse``) from a leading minus."""
    sign = change[:1] if change[:1] in "+-" else ""
    return sign + text(change[len(sign):])


def _metrics(record: RunRecord, baseline: RunRecord | None, config: Config | None) -> bool:
    """A tile per recorded value: its label, the value as its spec says, and the change against
    ``baseline`` in the same format, green when better and red when worse (grey when unknown).
    Whether there were any."""
    scalars = {k: v for k, v in record.metrics.items() if not is_table(v)}
    if not scalars:
        return False
    specs = specs_for(record, config)
    st.subheader("Results")
    columns = st.columns(min(4, len(scalars)))
    for index, (name, value) in enumerate(scalars.items()):
        spec = specs.get(name)
        delta = format_delta(value, baseline.metrics.get(name), spec) if baseline else NO_DELTA
        against = f"change against run {baseline.id}" if baseline else ""
        columns[index % len(columns)].metric(
            text(_title(name, spec)), text(format_value(value, spec)), _signed(delta.text) if delta else None,
            delta_color=metric_color(delta), delta_arrow="auto" if delta.direction != "none" else "off",
            delta_description=text(f"{delta.relative} vs baseline") if delta.relative and delta.direction != "none" else None,
            border=True, help=text(f"{name}; {against}" if against else name))
    return True


def _tables(record: RunRecord, config: Config | None) -> None:
    specs = specs_for(record, config)
    for name, value in record.metrics.items():
        if is_table(value):
            st.subheader(text(_title(name, specs.get(name))))
            st.dataframe(_frame(value, specs), hide_index=True)


def _frame(table: dict[str, Any], specs: dict[str, ResultSpec]) -> pd.DataFrame:
    """A recorded table; a column named like a result with a spec takes its label and format."""
    frame = pd.DataFrame(table["data"], columns=table["columns"])
    for column in dict.fromkeys(frame.columns):
        spec = specs.get(column)
        if spec and (spec.format or spec.unit) and frame.columns.tolist().count(column) == 1:
            frame[column] = [format_value(v, spec) for v in frame[column].tolist()]
    labels = [specs[c].label if specs.get(c) and specs[c].label else c for c in frame.columns]
    if len(set(labels)) == len(labels):  # a label may not make two columns one
        frame.columns = labels
    return frame


def _figures(record: RunRecord) -> None:
    figures = [Path(p) for p in record.outputs if Path(p).suffix.lower() in _IMAGES and Path(p).is_file()]
    if figures:
        st.subheader("Figures")
        for path in figures:
            st.image(path.read_text() if path.suffix == ".svg" else str(path))


def _actions(record: RunRecord, baseline: RunRecord | None) -> None:
    st.subheader("Share and go on")
    st.caption("Link to this result:")
    st.code(link(run=record.id), language=None)
    cols = st.columns(2)  # running it again: the Reproduce panel below
    cols[0].button("Compare with baseline", key="compare-baseline", disabled=baseline is None,
                   on_click=callback(go), kwargs={"compare": f"{record.id},{baseline.id}" if baseline else None})
    cols[1].button("Edit these inputs", key="edit", on_click=callback(_edit), args=(record,),
                   disabled=not identity.allowed(Role.RUNNER, identity.config_of(record)))
    from .history_page import edit_caption

    cols[1].caption(edit_caption(record))
    downloads = st.columns(2)
    for column, path, label, mime in ((downloads[0], record.output_notebook, "Download executed notebook", "application/x-ipynb+json"),
                                      (downloads[1], record.report_html, "Download report (HTML)", "text/html")):
        if path and Path(path).is_file():  # read when clicked, not sent with every rerun of the page
            column.download_button(label, partial(Path(path).read_bytes), file_name=f"{record.id}-{Path(path).name}",
                                   mime=mime, key=f"download:{label}", on_click=identity.record,
                                   args=("download", f"run {record.id}", label))


def _edit(record: RunRecord) -> None:
    config = find_config(path=record.config) if record.config else None
    if config is None or config.path is None:
        return
    form = build_form(config.schema)
    base = record.scenario.removesuffix(" (edited)")
    scenario = base if base in {s.name for s in config.scenarios} else config.baseline
    # fixed fields (paths without `within:`) come from the scenario; the rest as a shared link carries them
    values = {k: form.field(k).to_text(v) for k, v in record.parameters.items()
              if k in form.names and form.field(k).widget != "fixed"}
    st.session_state.pop(f"written:{config.path.stem}", None)
    go(notebook=config.path.stem, scenario=scenario, **values)


def sandboxed(document: str) -> str:
    """A page that shows ``document`` in an iframe with an opaque origin and no scripts.

    Streamlit's iframes (``st.iframe``, ``components.html``) always allow scripts *and* same-origin
    access to the app. The report goes one level deeper, into an iframe with an empty ``sandbox``:
    its own unique origin, no scripts, no forms, no popups, no navigation of the page around it.
    The report is only ever an (escaped) attribute value of this static wrapper.
    """
    return ('<!DOCTYPE html><html><head><meta charset="utf-8"><style>html,body{margin:0;height:100%}'
            'iframe{border:0;width:100%;height:100%;display:block}</style></head><body>'
            '<iframe sandbox="" referrerpolicy="no-referrer" title="Report" '
            f'srcdoc="{html.escape(document, quote=True)}"></iframe></body></html>')


def _report(record: RunRecord) -> None:
    """The full report, sent to the browser only while its section is open (it can be megabytes)."""
    if record.report_html and Path(record.report_html).is_file():
        with st.expander("Full report (code hidden)", key=f"report:{record.id}", on_change="rerun") as section:
            if section.open:
                path = Path(record.report_html)
                st.iframe(_sandboxed_report(str(path), path.stat().st_mtime_ns), height=900)


@st.cache_resource(show_spinner=False, max_entries=16)
def _sandboxed_report(path: str, stamp: int) -> str:
    """A run's report in its sandbox wrapper, read and escaped once per version of the file (``stamp``)."""
    return sandboxed(Path(path).read_text(encoding="utf-8"))
