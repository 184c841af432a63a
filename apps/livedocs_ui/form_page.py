"""The catalog and a notebook's form: fill in (from a scenario or a shared link), run, or reuse a result."""

from __future__ import annotations

import json
import time
from typing import Any

import streamlit as st

from livedocs_runner.errors import LivedocsError
from livedocs_runner.forms import Field, Form, build_form, form_values_to_params, scenario_params
from livedocs_runner.jobs import cached_result
from livedocs_runner.plan import RunPlan, plan_for, plan_runs
from livedocs_runner.scenarios import Config

from livedocs_runner.access import Role

from . import identity
from .safe import callback, guarded, public, roots, show_error, text
from .services import catalog, go, link, services
from .services import runs as stored_runs
from .timing import mark

RESERVED = ("notebook", "scenario", "run", "compare", "diff", "tab")


def catalog_page() -> None:
    st.title("Notebooks you can run")
    st.caption("Pick one, change its inputs, press Run. Every run is kept: open, compare and share any of them.")
    entries = [e for e in catalog() if identity.allowed(Role.VIEWER, e.name)]
    if not entries and not identity.open_access():
        st.info("You do not have access to any notebook here yet. Ask an admin of this app for a role.")
    elif not entries:
        st.info("No configs in the configs folder yet. Add a YAML file there (see the README).")
    for entry in entries:
        with st.container(border=True), guarded(f"catalog entry {entry.name}"):
            if entry.config is None:
                st.subheader(text(entry.name))
                st.error(text(f"This config cannot be loaded. Error: {entry.error}"))
                continue
            config = entry.config
            st.subheader(text(config.title))
            st.markdown(text(config.description or "No description."))
            runs = len(identity.visible_runs(stored_runs(notebook=str(config.notebook.path.resolve()), limit=1000)))
            st.caption(f"{len(config.schema.params)} inputs · {len(config.scenarios)} scenarios · {runs} runs so far")
            st.button("Open", key=f"open:{entry.name}", on_click=callback(go), kwargs={"notebook": entry.name})


def notebook_page(name: str, config: Config) -> None:
    identity.require(Role.VIEWER, name)
    st.title(text(config.title))
    if config.description:
        st.markdown(text(config.description))
    if not identity.allowed(Role.RUNNER, name):  # a viewer: results and history, no form, no file listing
        if any(k not in RESERVED for k in st.query_params):  # a link with values: an attempt to run them
            identity.record_denied_once(f"notebook {name}", f"run {name} (a link with values): needs the runner role")
        st.info(text(f"You do not have access to run {config.title}: your role is viewer. "
                     "Its results and history are below."))
        from .history import history
        history(config)
        return
    run_tab, history_tab = st.tabs(["Run", "History"])
    with run_tab:
        _form(name, config)
    with history_tab:
        from .history import history
        history(config)


def _key(name: str, field: str) -> str:
    return f"field:{name}:{field}"


def _scenario_names(config: Config) -> list[str]:
    return [s.name for s in config.scenarios]


HISTORY = 1000  # addresses this page wrote, remembered per notebook (a few hundred bytes each)


def _signature(scenario: str, values: dict[str, Any]) -> str:
    return json.dumps([scenario, values], sort_keys=True)


def _prefill(name: str, config: Config, form: Form) -> str:
    """Set the widgets from the URL (scenario + values) when the URL changed from outside.

    Every rerun request carries the address the browser shows at that moment, which after fast edits
    can be one this page wrote a few reruns ago: any address this page wrote is therefore never read
    back, and the widgets (what the screen shows) stay the truth. Only an address from outside (a shared
    link, a fresh page) fills in the form.
    """
    query = {k: v for k, v in st.query_params.to_dict().items() if k not in RESERVED}
    names = _scenario_names(config)
    scenario = st.query_params.get("scenario") or config.baseline or names[0]
    own = _signature(scenario, query) in st.session_state.get(f"written:{name}", ())
    if own and f"scenario:{name}" in st.session_state and all(_key(name, f.name) in st.session_state for f in form.fields):
        return st.session_state[f"scenario:{name}"]
    if scenario not in names:
        st.error(text(f"Error: no scenario {scenario!r} in {name}. Showing {config.baseline or names[0]}."))
        scenario = config.baseline or names[0]
    base = scenario_params(config, scenario)
    try:
        params = form_values_to_params(config, query, base=base)
    except LivedocsError as exc:
        show_error(exc)  # a bad shared link: say why, fill in the rest
        params = base
    _set_widgets(name, config, form, scenario, params)
    return scenario


def _set_widgets(name: str, config: Config, form: Form, scenario: str, params: dict[str, Any]) -> None:
    for field in form.fields:
        st.session_state[_key(name, field.name)] = _widget_value(field, params.get(field.name, field.default))
    st.session_state[f"scenario:{name}"] = scenario


def _remember(name: str, signature: str) -> None:
    written = [s for s in st.session_state.get(f"written:{name}", ()) if s != signature]
    st.session_state[f"written:{name}"] = tuple([*written, signature][-HISTORY:])


def open_form(name: str, scenario: str, **values: Any) -> None:
    """Send the user to ``name``'s form filled in with ``values`` (from a callback, e.g. "Edit these inputs").

    The address is forgotten as one this page wrote, so the form reads it even if it wrote the same one earlier.
    """
    st.session_state.pop(f"written:{name}", None)
    go(notebook=name, scenario=scenario, **values)


def _widget_value(field: Field, value: Any) -> Any:
    value = field.to_widget(value)
    if field.widget == "fixed":  # shown, never read back: the project-relative path, not the server's
        return public(value, roots())
    if field.widget in ("select", "file") and value not in field.choices:
        return field.choices[0] if field.choices else None
    return value


@callback
def _on_scenario(name: str, config: Config) -> None:
    """A scenario picked: its values fill in the form now (not via the address, which may be stale).

    Only on this form's page: right after Run, the browser's first redraw request from the run page can
    still carry this selector's state, which Streamlit then reports as a change (seen in a real browser).
    """
    if st.query_params.get("notebook") != name:
        return
    scenario = st.session_state[f"scenario:{name}"]
    _set_widgets(name, config, build_form(config.schema), scenario, scenario_params(config, scenario))
    go(notebook=name, scenario=scenario)


def _scenario_picker(name: str, config: Config, scenario: str) -> None:
    """The scenario selector: each scenario's description next to its name, the chosen one's in full below."""
    descriptions = {s.name: s.description for s in config.scenarios}

    def label(option: str) -> str:
        words = descriptions.get(option, "")
        return f"{option} — {words[:77] + '...' if len(words) > 80 else words}" if words else option

    st.selectbox("Start from scenario", _scenario_names(config), key=f"scenario:{name}", format_func=label,
                 on_change=_on_scenario, args=(name, config),
                 help="Fills in the form with one of the scenarios defined for this notebook.")
    if descriptions.get(scenario):
        st.caption(text(descriptions[scenario]))


def _draw(field: Field, key: str) -> None:
    kw: dict[str, Any] = {"label": text(field.label), "help": text(field.help) or None, "key": key}
    widget = field.widget
    if widget == "slider":
        st.slider(min_value=field.min, max_value=field.max, step=field.step, **kw)
    elif widget == "number":
        st.number_input(min_value=field.min, max_value=field.max, step=field.step, **kw)
    elif widget == "toggle":
        st.toggle(**kw)
    elif widget in ("select", "file"):
        st.selectbox(options=list(field.choices), format_func=field.label_of, **kw)
    elif widget == "multiselect":
        st.multiselect(options=list(field.choices), format_func=field.label_of, max_selections=field.max_items,
                       placeholder="Choose one or more", **kw)
    elif widget == "date":
        st.date_input(min_value=field.to_widget(field.min) if field.min else None,
                      max_value=field.to_widget(field.max) if field.max else None, **kw)
    elif widget in ("json", "lines", "pairs"):
        st.text_area(height=100 if widget != "json" else 80, **kw)
    elif widget == "fixed":
        st.text_input(disabled=True, **{**kw, "help": text((field.help + " Fixed by the notebook's config.").strip())})
    else:
        st.text_input(**kw)


def _shared_values(form: Form, values: dict[str, Any], base: dict[str, Any]) -> dict[str, str]:
    """The widget values that differ from the scenario's, as the short text a shared link carries.

    Taken from what the widgets show, valid or not, so the link always reproduces the screen.
    """
    out = {}
    for field in form.fields:
        if field.widget == "fixed":
            continue
        shown = field.link_text(values[field.name])
        if shown != field.link_text(_widget_value(field, base.get(field.name, field.default))):
            out[field.name] = shown
    return out


def _form(name: str, config: Config) -> None:
    form = build_form(config.schema)
    scenario = _prefill(name, config, form)
    _scenario_picker(name, config, scenario)
    with st.container(border=True):
        for field in form.fields:
            _draw(field, _key(name, field.name))
    values = {f.name: st.session_state[_key(name, f.name)] for f in form.fields if f.widget != "fixed"}
    base = scenario_params(config, scenario)
    # one place, after every widget is drawn: the address bar holds exactly what the widgets show
    shared = _shared_values(form, values, base)
    url_state = {"notebook": name, "scenario": scenario, **shared}
    _remember(name, _signature(scenario, shared))
    if st.query_params.to_dict() != url_state:  # one message: never an empty address in between
        st.query_params.from_dict(url_state)
    try:  # the scenario first: fields the form cannot change (a path without `within:`) keep its values
        params = form_values_to_params(config, values, base=base)
    except LivedocsError as exc:
        show_error(exc)
        st.button("Run", type="primary", disabled=True, key=f"run:{name}")
        _share(url_state)
        return
    plan = _plan(config, scenario, params, base)
    offer = st.session_state.get(f"offer:{name}")
    if offer and offer[0] != params:
        offer = st.session_state[f"offer:{name}"] = None
    if offer:
        _offer_cached(name, plan, offer[1])
    else:
        st.button("Run", type="primary", key=f"run:{name}", on_click=callback(_on_run), args=(name, config))
    _share(url_state)
    _sweeps(name, config)


def _plan(config: Config, scenario: str, params: dict[str, Any], base: dict[str, Any]) -> RunPlan:
    return plan_for(config, scenario if params == base else f"{scenario} (edited)", params)


def _on_run(name: str, config: Config) -> None:
    """The Run button, before the page reruns: submit the values the widgets hold now (or offer the result
    of a run with exactly these inputs), so the rerun the click causes draws the run's page straight away
    rather than the form again first."""
    clicked = time.time()
    scenario = st.session_state.get(f"scenario:{name}") or config.baseline or _scenario_names(config)[0]
    form = build_form(config.schema)
    values = {f.name: st.session_state[_key(name, f.name)] for f in form.fields if f.widget != "fixed"}
    base = scenario_params(config, scenario)
    params = form_values_to_params(config, values, base=base)  # a LivedocsError: shown at the top of the form
    plan = _plan(config, scenario, params, base)
    hit = cached_result(plan, services().store)
    if hit is not None and identity.allowed(Role.VIEWER, identity.config_of(hit)):  # never another config's run
        st.session_state[f"offer:{name}"] = (params, hit.id)  # the form's rerun offers it
        return
    mark(f"clicked-{_submit(plan, use_cache=False)}", at=clicked)


def _share(url_state: dict[str, str]) -> None:
    st.caption("Link to this form with these values:")
    st.code(link(**url_state), language=None)


def _offer_cached(name: str, plan: RunPlan, run_id: str) -> None:
    hit = services().store.get(run_id)
    when = (hit.finished_at or hit.created_at)[:16].replace("T", " ")
    st.info(text(f"A result for exactly these inputs already exists: run {hit.id} by {hit.user} ({when} UTC). "
                 "Same notebook, same data, same values."))
    left, right = st.columns(2)
    left.button("Show it", type="primary", key=f"show-cached:{name}", on_click=callback(_show_cached),
                args=(name, hit.id))
    if right.button("Run anyway", key=f"run-anyway:{name}"):
        st.session_state[f"offer:{name}"] = None
        _submit(plan, use_cache=False)
        st.rerun()


def _show_cached(name: str, run_id: str) -> None:
    st.session_state[f"offer:{name}"] = None
    go(run=run_id)


def _submit(plan: RunPlan, *, use_cache: bool) -> str:
    name = plan.config.stem if plan.config else None
    identity.require(Role.RUNNER, name)
    job = services().queue.submit(plan, identity.run_options(use_cache=use_cache))
    identity.record("run", f"notebook {name}", f"run {job} ({plan.scenario})")
    go(run=job)  # the run's page, on the rerun that follows (the caller's st.rerun, or the click's own)
    return job


def _sweeps(name: str, config: Config) -> None:
    sweeps = sorted({s.sweep for s in config.scenarios if s.sweep})
    if not sweeps:
        return
    with st.expander("Run a whole sweep"):
        sweep = st.selectbox("Sweep", sweeps, key=f"sweep:{name}")
        points = [s.name for s in config.scenarios if s.sweep == sweep]
        st.caption(text(", ".join(points)))
        if st.button(f"Run all {len(points)} points", key=f"run-sweep:{name}"):
            identity.require(Role.RUNNER, name)
            ids = [services().queue.submit(plan, identity.run_options())
                   for plan in plan_runs(config, scenarios=[sweep])]
            identity.record("run", f"notebook {name}", f"sweep {sweep}: runs {', '.join(ids)}")
            go(compare=",".join(ids))
            st.rerun()
