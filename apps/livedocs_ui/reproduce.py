"""Reproduce a past run from the web: the Reproduce panel, the verdict banner, and what differs (``?diff=A,B``).

The rerun is planned by the core (:func:`livedocs_runner.rerun.plan_reruns`), compared by the core
(:func:`livedocs_runner.records.verdicts.diff_runs`); this module only draws. Every string from a
record (names, paths, values, cell sources) is shown on a plain-text surface (``st.code``,
``st.dataframe``) or through :func:`text` / :func:`public`.
"""

from __future__ import annotations

import json
from pathlib import PurePath
from typing import Any

import pandas as pd
import streamlit as st

from livedocs_runner.errors import LivedocsError
from livedocs_runner.forms import field_for
from livedocs_runner.outputs import is_table
from livedocs_runner.records.store import FINAL, RunRecord
from livedocs_runner.records.verdicts import DIFFERENT, ENVIRONMENT_CHANGED, REPRODUCED, RunDiff, diff_runs
from livedocs_runner.rerun import RerunOptions, plan_reruns
from livedocs_runner.scenarios import Config

from livedocs_runner.access import Role

from . import identity
from .safe import callback, public, roots, show_error, text
from .services import go, link, services

_CHANGED = "background-color: rgba(255, 200, 0, 0.25)"


# --- the Reproduce panel ------------------------------------------------------------------------

def reproduce_panel(record: RunRecord, config: Config | None) -> None:
    """Three ways to rerun a finished run; each goes to the new run's page."""
    st.subheader("Reproduce")
    st.caption("Run this again, exactly as it ran (same notebook, same data files, same inputs), or change one "
               "thing. The new run's page says whether the results came out the same, and what differs.")
    cols = st.columns(3)
    with cols[0]:
        st.button("Rerun exactly", key=f"reproduce-exact:{record.id}", type="primary",
                  on_click=callback(submit_rerun), args=(record.id, RerunOptions()),
                  help="The notebook as it was then, on the data files as they were then.")
    with cols[1]:
        _other_data(record, config)
    with cols[2]:
        st.button("Rerun with today's notebook", key=f"reproduce-notebook:{record.id}",
                  on_click=callback(submit_rerun), args=(record.id, RerunOptions(notebook="current")),
                  help="Today's version of the notebook on the data files as they were then: "
                       "shows the effect of the notebook's changes.")


def _other_data(record: RunRecord, config: Config | None) -> None:
    """A file picker per ``path`` input that has a ``within:`` folder (the form's picker), and a button."""
    specs = [s for s in config.schema.params if s.type == "path" and s.within and s.name in record.parameters] \
        if config is not None else []
    if not specs:
        st.button("Rerun on other data", key=f"reproduce-data:{record.id}", disabled=True,
                  help="This run's data files cannot be changed from the web (its config gives them no folder "
                       "to choose from).")
        return
    chosen: dict[str, Any] = {}
    for spec in specs:
        field = field_for(spec, record.parameters.get(spec.name))
        if not field.choices:
            continue
        current = record.parameters.get(spec.name)
        index = _index(field.choices, current)
        value = st.selectbox(text(field.label), list(field.choices), index=index,
                             format_func=field.label_of, key=f"reproduce-file:{record.id}:{spec.name}",
                             help=text(field.help) or None, placeholder="Choose a file")
        if value is not None and (index is None or value != field.choices[index]):
            chosen[spec.name] = value
    st.button("Rerun on other data", key=f"reproduce-data:{record.id}", disabled=not chosen,
              on_click=callback(submit_rerun), args=(record.id, RerunOptions(params=chosen)),
              help="The notebook as it was then, on the file chosen above." if chosen else
                   "Choose another file above first.")


def _index(choices: tuple[Any, ...], current: Any) -> int | None:
    """The run's file in the picker; for a rerun (which read a restored copy in the home) the file of the
    same name; else nothing chosen."""
    if current in choices:
        return choices.index(current)
    name = PurePath(str(current)).name
    same = [i for i, c in enumerate(choices) if PurePath(str(c)).name == name]
    return same[0] if len(same) == 1 else None


def submit_rerun(run_id: str, options: RerunOptions) -> None:
    """Plan the rerun (everything checked first: bad input is one message, nothing runs) and queue it."""
    original = services().store.get(run_id)
    identity.require_run(original, Role.RUNNER, action="rerun")
    planned = plan_reruns(services().store, [run_id], options)[0]
    job = services().queue.submit(planned.plan, identity.run_options(use_cache=False))
    identity.record("rerun", f"notebook {identity.config_of(original)}", f"rerun {job} of run {run_id}")
    go(run=job)


# --- the verdict --------------------------------------------------------------------------------

@st.cache_data(show_spinner=False, max_entries=128)
def _diff(home: str, first: str, second: str) -> RunDiff:
    """One diff per pair of finished runs (full ids): widgets on the page do not recompute it."""
    return diff_runs(services().store, first, second)


def run_diff(first: RunRecord, second: RunRecord) -> RunDiff:
    return _diff(str(services().store.home), first.id, second.id)


def banner(result: RunDiff, first: RunRecord, second: RunRecord, *, rerun: bool) -> None:
    """The verdict in plain words: green, amber or red."""
    this = "This rerun" if rerun else f"Run {second.id}"
    if result.verdict == REPRODUCED:
        st.success(text(f"{REPRODUCED}: {this} reproduced run {first.id} exactly: same notebook, same data, "
                        "same inputs, same packages, and every result equal."), icon=":material/check_circle:")
    elif result.verdict == ENVIRONMENT_CHANGED:
        st.warning(text(f"{ENVIRONMENT_CHANGED}: {this} gave the same results as run {first.id}, but with "
                        "different installed packages (listed below)."), icon=":material/warning:")
    else:
        st.error(text(f"{DIFFERENT}: {this} did not reproduce run {first.id}. What differs is listed below."),
                 icon=":material/cancel:")


def rerun_verdict(record: RunRecord) -> None:
    """On a finished rerun's page: the verdict against its original, then what differs."""
    try:
        original, = identity.runs([record.rerun_of or ""])
    except LivedocsError as exc:
        show_error(exc)
        return
    if original.status not in FINAL:
        st.info(text(f"The original run {original.id} has not finished; the comparison appears when it has."))
        return
    result = run_diff(original, record)
    banner(result, original, record, rerun=True)
    st.caption(text(f"Rerun of run {original.id} ({_variant(record)})."))
    if result.sections or result.notes:
        with st.expander("What differs from the original run", expanded=result.verdict != REPRODUCED):
            differences(result, original, record)
    st.caption("Link to this comparison:")
    st.code(link(diff=f"{original.id},{record.id}"), language=None)


def _variant(record: RunRecord) -> str:
    return {"exact": "exactly as it ran", "notebook-current": "with today's notebook",
            "params": "on other data or inputs", "inputs-current": "on today's data files"}.get(
        record.rerun_variant or "", f"variant {record.rerun_variant}")


def diff_page(ids: list[str]) -> None:
    """``?diff=A,B``: did run B reproduce run A, and what differs."""
    st.button("← Catalog", key="back-catalog", on_click=callback(go))
    st.title("Did the second run reproduce the first?")
    ids = [i.strip() for i in ids if i.strip()]
    if len(ids) != 2:
        st.error("Error: give exactly two runs, e.g. ?diff=ID1,ID2 (the first is the original).")
        return
    try:
        first, second = identity.runs(ids)  # one you may not see reads like one that does not exist
    except LivedocsError as exc:
        show_error(exc)
        return
    st.caption(text(f"Run {first.id} ({first.scenario}) → run {second.id} ({second.scenario})"))
    cols = st.columns(2)
    for column, record in zip(cols, (first, second)):
        column.button(text(f"Open {record.id[:7]}"), key=f"d-open:{record.id}", on_click=callback(go),
                      kwargs={"run": record.id})
    waiting = [r.id for r in (first, second) if r.status not in FINAL]
    if waiting:
        from .history import wait_for_runs
        wait_for_runs(waiting)
        return
    result = run_diff(first, second)
    banner(result, first, second, rerun=second.rerun_of == first.id)
    differences(result, first, second)
    st.caption("Link to this comparison:")
    st.code(link(diff=f"{first.id},{second.id}"), language=None)


# --- what differs -------------------------------------------------------------------------------

def differences(result: RunDiff, first: RunRecord, second: RunRecord) -> None:
    sections = result.sections
    if not sections:
        st.write("Nothing differs.")
    if "notebook" in sections:
        _notebook(sections["notebook"]["cells"])
    if "parameters" in sections:
        st.subheader("Inputs you set")
        st.dataframe(pd.DataFrame([{"input": _plain(name), "before": _value(c["old"]), "now": _value(c["new"])}
                                   for name, c in sections["parameters"].items()]), hide_index=True)
    if "inputs" in sections:
        _inputs(sections["inputs"])
    if "environment" in sections:
        _environment(sections["environment"])
    if "metrics" in sections or first.metrics or second.metrics:
        _metrics(first, second, sections.get("metrics", []))
    if "figures" in sections:
        st.subheader("Figures")
        st.caption("Figures are compared by their bytes; they do not decide the verdict.")
        st.dataframe(pd.DataFrame([{"figure": f["figure"], "file": _plain(f["file"]),
                                    "before": (f["old"] or "(none)")[:12], "now": (f["new"] or "(none)")[:12]}
                                   for f in sections["figures"]]), hide_index=True)
    if "status" in sections:
        s = sections["status"]
        st.subheader("Outcome")
        st.write(text(f"Before: {s['old']}" + (f" ({_plain(s['old_error'])})" if s["old_error"] else "")
                      + f" · now: {s['new']}" + (f" ({_plain(s['new_error'])})" if s["new_error"] else "")))
    for note in result.notes:
        st.caption(text(f"Note: {_plain(note)}"))


def _notebook(cells: list[dict[str, Any]]) -> None:
    st.subheader("Notebook cells that changed")
    if not cells:
        st.write("No cell's code or text changed (only cell ids, metadata or stored outputs).")
    for cell in cells:
        if cell["change"] == "added":
            head = f"Cell {cell['new_cell']} was added"
        elif cell["change"] == "removed":
            head = f"Cell {cell['old_cell']} was removed"
        elif cell["old_cell"] == cell["new_cell"]:
            head = f"Cell {cell['old_cell']} was changed"
        else:
            head = f"Cell {cell['old_cell']} (now cell {cell['new_cell']}) was changed"
        st.markdown(text(f"{head} ({'code' if cell['cell_type'] == 'code' else 'text'})"))
        old, new = _sides(cell["lines"])
        language = "python" if cell["cell_type"] == "code" else None
        left, right = st.columns(2)
        left.caption("Before")
        left.code(old or "(nothing)", language=language)
        right.caption("Now")
        right.code(new or "(nothing)", language=language)


def _sides(lines: list[str]) -> tuple[str, str]:
    """The two sides of a unified line diff (the changed lines with a line of context)."""
    old, new = [], []
    for line in lines:
        if line.startswith("@@"):
            if old or new:
                old.append("…")
                new.append("…")
            continue
        mark, body = line[:1], line[1:]
        if mark in (" ", "-"):
            old.append(body)
        if mark in (" ", "+"):
            new.append(body)
    return "\n".join(old), "\n".join(new)


def _inputs(items: list[dict[str, Any]]) -> None:
    st.subheader("Data files")
    rows = []
    for item in items:
        old, new = item["old"] or {}, item["new"] or {}
        cols_old, cols_new = old.get("columns"), new.get("columns")
        both = isinstance(cols_old, list) and isinstance(cols_new, list)
        rows.append({"input": _plain(item["parameter"]),
                     "file before": _plain(old.get("path", "(none)")), "file now": _plain(new.get("path", "(none)")),
                     "same bytes": old.get("sha256") == new.get("sha256"),
                     "rows before": old.get("rows"), "rows now": new.get("rows"),
                     "columns added": _plain(", ".join(c for c in cols_new if c not in cols_old)) if both else "",
                     "columns removed": _plain(", ".join(c for c in cols_old if c not in cols_new)) if both else ""})
    st.dataframe(pd.DataFrame(rows), hide_index=True)
    for item in items:
        if item.get("note"):
            st.caption(text(_plain(item["note"])))


def _environment(env: dict[str, Any]) -> None:
    st.subheader("Installed packages and Python")
    rows = ([{"package": _plain(k), "before": _plain(v["old"]), "now": _plain(v["new"]), "change": "changed"}
             for k, v in env.get("changed", {}).items()]
            + [{"package": _plain(k), "before": "", "now": _plain(v), "change": "added"}
               for k, v in env.get("added", {}).items()]
            + [{"package": _plain(k), "before": _plain(v), "now": "", "change": "removed"}
               for k, v in env.get("removed", {}).items()]
            + [{"package": _plain(k), "before": _value(v["old"]), "now": _value(v["new"]), "change": "changed"}
               for k, v in env.get("other", {}).items()])
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True)
    if env.get("variables"):
        st.caption("Environment variables")
        st.dataframe(pd.DataFrame([{"variable": _plain(k), "before": _value(v["old"]), "now": _value(v["new"])}
                                   for k, v in env["variables"].items()]), hide_index=True)


def _metrics(first: RunRecord, second: RunRecord, changes: list[dict[str, Any]]) -> None:
    """Every result of both runs; the ones that changed highlighted, with change and relative change."""
    changed = {c["metric"]: c for c in changes}
    names = [n for n in dict.fromkeys([*first.metrics, *second.metrics])
             if not is_table(first.metrics.get(n)) and not is_table(second.metrics.get(n))]
    if names:
        st.subheader("Results before and now")
        rows = []
        for name in names:
            c = changed.get(name, {})
            rows.append({"result": _plain(name),
                         "before": _value(first.metrics[name]) if name in first.metrics else "(not recorded)",
                         "now": _value(second.metrics[name]) if name in second.metrics else "(not recorded)",
                         "change": _signed(c["abs_change"]) if "abs_change" in c else ("changed" if c else ""),
                         "relative change": f"{c['rel_change']:+.3%}" if c.get("rel_change") is not None else ""})
        frame = pd.DataFrame(rows)
        flags = [name in changed for name in names]
        styled = frame.style.apply(lambda row: [_CHANGED if flags[row.name] else ""] * len(row), axis=1)
        st.dataframe(styled, hide_index=True)
        st.caption(f"{sum(flags)} of {len(names)} results changed (highlighted).")
    for change in changes:
        if change["change"] == "table":
            _table(change)


def _table(item: dict[str, Any]) -> None:
    st.subheader(text(f"Table {_plain(item['metric'])}"))
    notes = []
    if item.get("columns_added"):
        notes.append("columns added: " + ", ".join(item["columns_added"]))
    if item.get("columns_removed"):
        notes.append("columns removed: " + ", ".join(item["columns_removed"]))
    if "rows" in item:
        notes.append(f"rows: {item['rows']['old']} before, {item['rows']['new']} now")
    if notes:
        st.caption(text(_plain("; ".join(notes))))
    if item.get("cells"):
        st.caption(f"{item['cells_changed']} cell(s) changed" +
                   (f" (the first {len(item['cells'])} listed)" if item["cells_changed"] > len(item["cells"]) else ""))
        st.dataframe(pd.DataFrame([{"row": c["row"] + 1, "row name": _plain(c.get("row_label") or ""),
                                    "column": _plain(c["column"]), "before": _value(c["old"]),
                                    "now": _value(c["new"])} for c in item["cells"]]), hide_index=True)


def _signed(change: int | float) -> str:
    return f"{change:+,.0f}" if isinstance(change, int) or abs(change) >= 1000 else f"{change:+.4g}"


def _plain(value: Any) -> str:
    """A string from a record for a plain-text surface: without server paths."""
    return public(str(value), roots())


def _value(value: Any) -> str:
    if isinstance(value, dict) and value == {"absent": True}:
        return "(absent)"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.10g}"
    return _plain(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str))


__all__ = ["banner", "diff_page", "differences", "reproduce_panel", "rerun_verdict", "run_diff",
           "submit_rerun"]
