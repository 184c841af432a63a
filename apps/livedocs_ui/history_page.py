"""A notebook's history: what each run was (the inputs that vary, the headline results), filtered by date,
person, how it started, status and any input's value; its own page at ``?history=NAME`` with the filters
in the URL, and the notebook page's History tab.

    ?history=credit_risk&status=failed&user=ana&trigger=app&since=2026-11-01&until=2026-11-24
        &param=threshold&value=0.4&value=0.5      (values as JSON: 0.4 the number, "0.4" the text)
"""

from __future__ import annotations

import json
from functools import partial
from urllib.parse import urlencode
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd
import streamlit as st

from livedocs_runner.access import AccessDenied, Role
from livedocs_runner.compare import compare, is_number, notebook_version
from livedocs_runner.outputs import is_table
from livedocs_runner.records.query import RunQuery
from livedocs_runner.records.store import STATUSES, RunRecord
from livedocs_runner.rerun import RerunOptions
from livedocs_runner.results import specs_for, title
from livedocs_runner.result_format import format_value
from livedocs_runner.scenarios import Config

from . import identity
from .safe import callback, public, roots, text
from .services import find_config, go, link, services

MAX_ROWS = 1000  # runs listed at once (newest first)
HEADLINE = 4  # results shown as columns
_FILTERS = ("status", "user", "trigger", "since", "until", "param", "value")


def history_page(name: str) -> None:
    """``?history=NAME``: the history on its own page, its filters in the URL."""
    config = find_config(name)
    if config is None or not identity.allowed(Role.VIEWER, name):  # one answer for both, so nothing leaks
        if config is not None:
            identity.record_denied_once(f"notebook {name}", f"view the history of {name}: needs the viewer role")
        if identity.open_access():
            st.error(text(f"Error: no notebook {name!r} here."))
        else:
            identity.refused(AccessDenied(identity.not_found("notebook", name)))
        return
    st.button(text(f"← {config.title}"), key="back", on_click=callback(go), kwargs={"notebook": name})
    st.title(text(f"History: {config.title}"))
    history_view(name, config, in_url=True)


def history(config: Config) -> None:
    """The History tab of a notebook's page (filters kept while the page is open; a link to its own page)."""
    name = config.path.stem if config.path else config.notebook.path.stem
    history_view(name, config, in_url=False)


def _k(what: str, name: str) -> str:
    return f"h-{what}:{name}"


def _from_url(name: str) -> None:
    """Set the filter widgets from the URL when the URL changed from outside (a shared link, the back button)."""
    params = st.query_params
    signature = json.dumps({k: params.get_all(k) for k in _FILTERS}, sort_keys=True)
    if st.session_state.get(_k("url", name)) == signature:
        return
    st.session_state[_k("url", name)] = signature
    st.session_state[_k("status", name)] = [s for s in params.get_all("status") if s in STATUSES]
    st.session_state[_k("user", name)] = params.get_all("user")
    st.session_state[_k("trigger", name)] = params.get_all("trigger")
    for bound in ("since", "until"):
        try:
            st.session_state[_k(bound, name)] = date.fromisoformat(params.get(bound) or "")
        except ValueError:
            st.session_state[_k(bound, name)] = None
    st.session_state[_k("param", name)] = params.get("param") or None
    st.session_state[_k("values", name)] = [_label(_json(v)) for v in params.get_all("value")]


def _to_url(name: str, filters: dict[str, Any]) -> None:
    """Write the filters to the URL (only when they changed: no rerun loop)."""
    wanted = {"history": [name], **{k: [str(x) for x in v] if isinstance(v, list) else ([str(v)] if v else [])
                                    for k, v in filters.items()}}
    current = {k: st.query_params.get_all(k) for k in wanted}
    if current != wanted or set(st.query_params) - set(wanted):
        st.query_params.clear()
        for key, values in wanted.items():
            if values:
                st.query_params[key] = values if len(values) > 1 else values[0]
    st.session_state[_k("url", name)] = json.dumps({k: wanted.get(k, []) for k in _FILTERS}, sort_keys=True)


def _json(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


def _label(value: Any) -> str:
    """A parameter value as shown in the picker (and read back by :func:`_json`): its JSON text."""
    return json.dumps(value, ensure_ascii=False)


def history_view(name: str, config: Config, *, in_url: bool) -> None:
    store = services().store
    notebook = str(config.notebook.path.resolve())
    everything = identity.visible_runs(store.query(RunQuery(notebook=notebook, limit=MAX_ROWS)))
    if not everything:
        st.info("No runs yet. Fill in the form and press Run, or run it from the command line.")
        return
    if in_url:
        _from_url(name)
    filters = _filters(name, everything)
    since, until = filters["since"], filters["until"]
    param, values = filters["param"], filters["value"]
    narrowed = any((filters["status"], filters["user"], filters["trigger"], since, until, param and values))
    runs = everything if not narrowed else store.query(RunQuery(  # no filter: the same query, asked once
        notebook=notebook, limit=MAX_ROWS, statuses=filters["status"], users=filters["user"],
        triggers=filters["trigger"],
        since=datetime(since.year, since.month, since.day, tzinfo=UTC) if since else None,
        until=datetime(until.year, until.month, until.day, tzinfo=UTC) + timedelta(days=1) if until else None,
        params={param: [_json(v) for v in values]} if param and values else {}))
    runs = identity.visible_runs(runs) if narrowed else runs  # not another config's runs of the same notebook
    query = (st.session_state.get(_k("text", name)) or "").strip().lower()
    shown = [r for r in runs if not query or query in f"{r.scenario} {r.user} {r.id}".lower()]
    if in_url:
        _to_url(name, {**filters, "since": since.isoformat() if since else None,
                       "until": until.isoformat() if until else None})
    _table(name, config, shown)
    st.caption(f"{len(shown)} of {len(everything)} runs" + (" (the newest)" if len(everything) == MAX_ROWS else "")
               + ". Tick rows to compare them.")
    if not in_url:
        st.caption("Link to this history with its filters: open it on its own page.")
        st.button("Open history on its own page", key=_k("own-page", name), on_click=callback(go),
                  kwargs={"history": name})
    else:
        st.caption("Link to this history with these filters:")
        rest = [(k, v) for k in _FILTERS for v in st.query_params.get_all(k)]
        st.code(link(history=name) + ("&" + urlencode(rest) if rest else ""), language=None)
    _actions(name, config, shown)


def _filters(name: str, runs: list[RunRecord]) -> dict[str, Any]:
    """The filter widgets; their options come from the notebook's runs."""
    top = st.columns(3)
    statuses = top[0].multiselect("Status", STATUSES, key=_k("status", name))
    users = sorted({r.user for r in runs if r.user} | set(st.session_state.get(_k("user", name)) or []))
    chosen_users = top[1].multiselect("Started by", users, key=_k("user", name))
    triggers = sorted({r.trigger.partition(":")[0] for r in runs} | set(st.session_state.get(_k("trigger", name)) or []))
    chosen_triggers = top[2].multiselect("Started from", triggers, key=_k("trigger", name),
                                         help="app, cli, rerun ...: a rerun asked for from the app counts as app.")
    middle = st.columns(3)
    since = middle[0].date_input("From", value=None, key=_k("since", name), help="Runs created on or after this day (UTC).")
    until = middle[1].date_input("To", value=None, key=_k("until", name), help="Runs created on or before this day (UTC).")
    middle[2].text_input("Search scenario, user or id", key=_k("text", name))
    params = list(dict.fromkeys(p for r in runs for p in r.parameters))
    bottom = st.columns(2)
    if st.session_state.get(_k("param", name)) not in [None, *params]:
        st.session_state[_k("param", name)] = None
    param = bottom[0].selectbox("Input", params, index=None, key=_k("param", name), placeholder="Any input",
                                help="Only runs where this input has one of the values on the right.")
    seen = {_label(r.parameters[param]): r.parameters[param] for r in runs if param in r.parameters} if param else {}
    options = sorted(seen, key=lambda v: (0, seen[v], "") if is_number(seen[v]) else (1, 0, v))
    kept = [v for v in st.session_state.get(_k("values", name)) or [] if v in options]
    if kept != (st.session_state.get(_k("values", name)) or []):
        st.session_state[_k("values", name)] = kept
    values = bottom[1].multiselect("Values", options, key=_k("values", name), disabled=not param,
                                   format_func=lambda v: public(v, roots()))
    return {"status": statuses, "user": chosen_users, "trigger": chosen_triggers, "since": since, "until": until,
            "param": param, "value": values}


def _cell(value: Any) -> str:
    return public(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False), roots())


def rows(runs: list[RunRecord], config: Config | None) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """The table: per run its id, status, scenario, the inputs that vary across ``runs`` and the headline
    results (formatted with the config's ``results:``). Returns the rows, the inputs and the results shown."""
    comparison = compare(runs) if len(runs) > 1 else None
    varying = list(comparison.differing) if comparison else []
    if comparison:
        moving = comparison.varying_metrics
        metrics = (moving + [m for m in comparison.metrics if m not in moving])[:HEADLINE]
    else:
        metrics = [k for r in runs for k, v in r.metrics.items() if not is_table(v)][:HEADLINE]
    specs = specs_for(runs[0], config) if runs else {}
    out = []
    for r in runs:
        row: dict[str, Any] = {"run": r.id, "status": r.status + (" (cached)" if r.cache_of else ""),
                               "scenario": r.scenario}
        row.update({f"▸ {p}": _cell(r.parameters[p]) if p in r.parameters else "—" for p in varying})
        row.update({title(m, specs): format_value(r.metrics[m], specs.get(m)) if m in r.metrics else "—"
                    for m in metrics})
        row.update({"started (UTC)": (r.started_at or r.created_at)[:16].replace("T", " "), "by": r.user,
                    "from": r.trigger})
        out.append(row)
    return out, varying, metrics


def _table(name: str, config: Config, shown: list[RunRecord]) -> None:
    table, varying, _ = rows(shown, config)
    st.session_state[_k("ids", name)] = [r.id for r in shown]
    if not table:
        st.info("No runs match these filters.")
        return
    st.dataframe(pd.DataFrame(table), hide_index=True, key=_k("table", name), on_select=partial(_on_tick, name),
                 selection_mode="multi-row")
    if varying:
        st.caption(text("▸ marks the inputs that differ between these runs: " + ", ".join(varying) + "."))


def _on_tick(name: str) -> None:
    """Rows ticked in the table become the picked runs (the picker below shows and edits the same list)."""
    ids = st.session_state.get(_k("ids", name)) or []
    state = st.session_state.get(_k("table", name))
    ticked = [ids[i] for i in (state.selection.rows if state else []) if i < len(ids)]
    st.session_state[_k("pick", name)] = ticked


def _actions(name: str, config: Config, shown: list[RunRecord]) -> None:
    labels = {r.id: f"{r.id} · {r.scenario} · {r.status}" for r in shown}
    picked = [i for i in st.session_state.get(_k("pick", name)) or [] if i in labels]
    if picked != (st.session_state.get(_k("pick", name)) or []):
        st.session_state[_k("pick", name)] = picked
    chosen = st.multiselect("Runs to open or compare", list(labels), format_func=labels.get, key=_k("pick", name))
    left, middle, right = st.columns(3)
    left.button("Open", key=_k("open", name), disabled=len(chosen) != 1, on_click=callback(go),
                kwargs={"run": chosen[0] if chosen else None})
    middle.button("Compare", key=_k("compare", name), disabled=len(chosen) < 2, on_click=callback(go),
                  kwargs={"compare": ",".join(chosen)})
    created = {r.id: r.created_at for r in shown}
    pair = sorted(chosen, key=lambda i: created.get(i, ""))  # the older run is the original
    right.button("What differs?", key=_k("diff", name), disabled=len(chosen) != 2, on_click=callback(go),
                 kwargs={"diff": ",".join(pair) if len(pair) == 2 else None},
                 help="Pick exactly two runs: did the newer one reproduce the older, and what differs.")
    if len(chosen) == 1:
        _again(name, config, next(r for r in shown if r.id == chosen[0]))
    if chosen and identity.allowed(Role.ADMIN, name):  # evidence export: admins only
        from .history import _audit_bundle

        _audit_bundle(name, chosen)


def _again(name: str, config: Config, record: RunRecord) -> None:
    """Run one picked run again, or edit its inputs, each saying which notebook it uses."""
    version = notebook_version(record)
    left, right = st.columns(2)
    from .reproduce import submit_rerun

    may_run = identity.allowed(Role.RUNNER, name)  # the actions check again when clicked
    left.button("Run again", key=_k("again", name), on_click=callback(submit_rerun), args=(record.id, RerunOptions()),
                help="Exactly as it ran: the same notebook, data files and inputs.", disabled=not may_run)
    left.caption(text(f"Uses the {version.describe()}, as this run did."))
    right.button("Edit these inputs", key=_k("edit", name), on_click=callback(_edit), args=(name, config, record),
                 disabled=not may_run)
    right.caption(edit_caption(record))


def edit_caption(record: RunRecord) -> str:
    """What "Edit these inputs" runs: the form always runs today's notebook; say whether this run used it."""
    version = notebook_version(record)
    if version.current is None:
        return text(f"Opens the form; this run's notebook file ({version.ran[:7]}) is no longer there.")
    return text(f"Opens the form, which runs today's notebook {version.current[:7]}"
                + (" (the one this run used)." if version.matches else f" (this run used {version.ran[:7]})."))


def _edit(name: str, config: Config, record: RunRecord) -> None:
    from .run_page import _edit as edit

    edit(record)


__all__ = ["edit_caption", "history", "history_page", "history_view", "rows"]
