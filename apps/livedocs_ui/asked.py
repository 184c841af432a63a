"""Whether the person on this page has asked for something while a live part of the page waits.

A run's page keeps its progress redraw open while nothing changes (``run_page._hold``), so that a page
of a waiting run costs its browser nothing between changes. Streamlit answers a click only when the
script run in progress ends, so such a wait has to end as soon as the person clicks, changes page or
leaves. Streamlit keeps that request in the session's ``ScriptRequests`` (internal: ``_state`` and
``_rerun_data``), folded together with the requests its own ``run_every`` timer makes; a click shows as
a button's trigger in the folded widget states (whichever request came last), a page change as a rerun
of the whole app. When those names are not where this module looks (another Streamlit version),
:func:`watcher` returns None and callers keep short, bounded waits; ``tests/test_app_live.py`` fails on
such a version, so it is noticed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def watcher() -> Callable[[], bool] | None:
    """A check that is true once this session has a request waiting other than a fragment's own timer: a
    click, a rerun of the whole page (another page, a widget outside the fragment), or the session closing.
    None outside a Streamlit script run or when Streamlit keeps its requests elsewhere."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    requests = getattr(ctx, "script_requests", None) if ctx is not None else None
    triggered = _trigger_check()
    if requests is None or triggered is None or not _readable(requests):
        return None
    return lambda: _asked(requests, triggered)


def _trigger_check() -> Callable[[Any], bool] | None:
    try:
        from streamlit.runtime.scriptrunner_utils.script_requests import _has_active_trigger_value
    except ImportError:
        return None
    return _has_active_trigger_value


def _readable(requests: Any) -> bool:
    state = getattr(requests, "_state", None)
    data = getattr(requests, "_rerun_data", None)
    return (getattr(state, "name", None) in ("CONTINUE", "RERUN", "STOP")
            and all(hasattr(data, name) for name in ("fragment_id", "fragment_id_queue",
                                                      "is_fragment_scoped_rerun", "widget_states")))


def _asked(requests: Any, triggered: Callable[[Any], bool]) -> bool:
    state = requests._state.name
    if state == "STOP":
        return True
    if state != "RERUN":
        return False
    data = requests._rerun_data
    if not (data.fragment_id or data.fragment_id_queue) or data.is_fragment_scoped_rerun:
        return True  # the whole page, or a fragment asked for by name
    widgets = data.widget_states.widgets if data.widget_states is not None else ()
    return any(triggered(widget) for widget in widgets)
