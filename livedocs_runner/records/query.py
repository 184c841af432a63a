"""Which runs to list: a filter on the run store made into parameterised SQL (``Store.query``).

Dates are compared with the records' ``created_at`` (UTC, ISO 8601). Parameter values are matched
inside the stored JSON with SQLite's ``json_each``: every name and value is a bound parameter, so a
value with quotes, unicode or SQL in it is only ever data.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ..errors import InputError

_RELATIVE = re.compile(r"(\d{1,6})\s*(m|min|h|d|w)", re.IGNORECASE)
_UNITS = {"m": "minutes", "min": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@dataclass(frozen=True, kw_only=True)
class RunQuery:
    """A filter on runs; every field narrows (AND), a sequence is any of its values (OR).

    ``params`` maps a parameter name to the values accepted for it (compared as JSON values: ``0.4`` the
    number is not ``"0.4"`` the text). ``sweep`` keeps the points of that sweep (scenarios named
    ``SWEEP[...]``). ``since``/``until`` are UTC datetimes (``until`` exclusive). Usage::

        store.query(RunQuery(since=when("7d"), triggers=("app",), params={"threshold": [0.4, 0.5]}))
    """

    since: datetime | None = None
    until: datetime | None = None
    users: Sequence[str] = ()
    triggers: Sequence[str] = ()
    statuses: Sequence[str] = ()
    scenarios: Sequence[str] = ()
    sweep: str | None = None
    config: str | None = None
    notebook: str | None = None
    params: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    limit: int | None = 50
    offset: int = 0


def when(text: str, *, now: datetime | None = None, end: bool = False) -> datetime:
    """``2026-11-20``, ``2026-11-20T14:30``, or how long ago (``30m``, ``12h``, ``7d``, ``2w``), as UTC.

    A bare date as an ``end`` bound means the end of that day (``--until 2026-11-20`` keeps its runs).
    """
    value = text.strip()
    now = now or datetime.now(UTC)
    relative = _RELATIVE.fullmatch(value)
    if relative:
        return now - timedelta(**{_UNITS[relative.group(2).lower()]: int(relative.group(1))})
    try:
        day = date.fromisoformat(value)
        if len(value) == 10:
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return start + timedelta(days=1) if end else start
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(f"{value[:40]!r} is not a date or a time span.",
                         hint="Give a date (2026-11-20), a date and time (2026-11-20T14:30, UTC) or how long ago "
                              "(30m, 12h, 7d, 2w).") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _stamp(moment: datetime) -> str:
    """The form ``created_at`` is kept in (see ``store.now``), so text order is time order."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def _value_test(value: Any) -> tuple[str, list[Any]]:
    """SQL (over ``j``, a ``json_each`` row) that is true when the JSON value equals ``value``."""
    if isinstance(value, bool):
        return "j.type = ?", ["true" if value else "false"]
    if value is None:
        return "j.type = 'null'", []
    if isinstance(value, int | float):
        return "(j.type IN ('integer', 'real') AND j.value = ?)", [value]
    if isinstance(value, str):
        return "(j.type = 'text' AND j.value = ?)", [value]
    return "(j.type IN ('array', 'object') AND j.value = json(?))", [json.dumps(value, ensure_ascii=False)]


def where(query: RunQuery, resolved_notebook: str | None = None, notebook_name: str | None = None, *,
          by_suffix: bool = False, dialect: str = "sqlite") -> tuple[str, list[Any]]:
    """The ``WHERE`` clause (``""`` for none) and its arguments; the notebook as an absolute path
    (``resolved_notebook``) or a bare file name (``notebook_name``, any folder; ``by_suffix`` for a
    read-only schema-1 store, which has no ``notebook_name`` column)."""
    clauses: list[str] = []
    args: list[Any] = []
    if query.since:
        clauses.append("created_at >= ?")
        args.append(_stamp(query.since))
    if query.until:
        clauses.append("created_at < ?")
        args.append(_stamp(query.until))
    for column, values in (("user", query.users), ("status", query.statuses), ("scenario", query.scenarios)):
        if values:
            clauses.append(f'"{column}" IN ({", ".join("?" * len(values))})')
            args += list(values)
    if query.triggers:  # `app` also keeps `app:exact` (a rerun asked for from the app)
        clauses.append("(" + " OR ".join("trigger = ? OR substr(trigger, 1, ?) = ?" for _ in query.triggers) + ")")
        for trigger in query.triggers:
            args += [trigger, len(trigger) + 1, trigger + ":"]
    if query.sweep:
        clauses.append("substr(scenario, 1, ?) = ?")
        args += [len(query.sweep) + 1, query.sweep + "["]
    if query.config:
        clauses.append("config = ?")
        args.append(query.config)
    if resolved_notebook:
        clauses.append("notebook = ?")
        args.append(resolved_notebook)
    if notebook_name and by_suffix:
        clauses.append("substr(notebook, -?) = ?")
        args += [len(os.sep + notebook_name), os.sep + notebook_name]
    elif notebook_name:
        clauses.append("notebook_name = ?")
        args.append(notebook_name)
    for name, values in query.params.items():
        if values and dialect == "postgresql":  # jsonb equality: the same JSON value, numbers by value
            clauses.append("EXISTS (SELECT 1 FROM jsonb_each(CASE WHEN jsonb_typeof(livedocs_jsonb(runs.parameters)) "
                           "= 'object' THEN livedocs_jsonb(runs.parameters) END) AS j WHERE j.key = ? AND ("
                           + " OR ".join("j.value = ?::jsonb" for _ in values) + "))")
            args += [name, *(json.dumps(v, ensure_ascii=False) for v in values)]
            continue
        tests = [_value_test(v) for v in values]
        if not tests:
            continue
        # CASE: json_each is never reached for a damaged (non-JSON) record, which would fail the whole query
        clauses.append("CASE WHEN json_valid(parameters) THEN EXISTS (SELECT 1 FROM json_each(runs.parameters) AS j "
                       f"WHERE j.key = ? AND ({' OR '.join(t for t, _ in tests)})) ELSE 0 END")
        args.append(name)
        for _, more in tests:
            args += more
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


__all__ = ["RunQuery", "when", "where"]
