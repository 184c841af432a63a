"""The access log: who signed in or out, started, cancelled, downloaded or exported what, and every refusal.

One row per event in the store's ``access_log`` table (store schema 4). It is append-only: this module
only inserts, and triggers refuse any UPDATE or DELETE, so nothing in it can be changed from the app.
Audit bundles carry the events of the exported period (``access.jsonl``).

Usage: ``log_access(store, identity, "run", "credit_risk", address="10.0.0.5", detail="run 3f2a9c1")``
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from ..errors import InputError, StoreError

if TYPE_CHECKING:
    from ..access import Identity
    from .store import Store

ACTIONS = ("sign-in", "sign-out", "run", "rerun", "cancel", "denied", "download", "export")
_LIMITS = {"user": 320, "auth": 16, "action": 16, "target": 500, "address": 64, "detail": 2000}
SCHEMA = 4  # the store schema that has the table


@dataclass(frozen=True)
class AccessEvent:
    """One event: ``at`` (UTC ISO time), who (``user``, ``auth``), ``action`` (one of :data:`ACTIONS`),
    ``target`` (a config name, run id or file), the request's ``address`` and a free ``detail``."""

    at: str
    user: str
    auth: str
    action: str
    target: str
    address: str | None
    detail: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _clean(name: str, value: str | None) -> str | None:
    """Bounded, valid Unicode text (a lone surrogate cannot be stored; a huge value is cut)."""
    if value is None:
        return None
    text = str(value).encode("utf-8", "replace").decode("utf-8")
    limit = _LIMITS[name]
    return text if len(text) <= limit else text[:limit - 3] + "..."


def append_access(store: Store, event: AccessEvent) -> None:
    """Append ``event`` to the store's access log (one short transaction)."""
    if event.action not in ACTIONS:
        raise InputError(f"unknown access-log action {event.action!r}.", hint=f"Use one of: {', '.join(ACTIONS)}.")
    if store.version < SCHEMA:
        raise StoreError(f"{store.db_path} has store schema version {store.version}, which has no access log, "
                         "and it is read-only here.", hint="Open it once with write access to upgrade it.")
    store._writable()
    values = [str(event.at), *(_clean(name, getattr(event, name)) or "" for name in ("user", "auth", "action", "target")),
              _clean("address", event.address) or None, _clean("detail", event.detail) or ""]
    with store._connect() as db:
        db.execute('INSERT INTO access_log (at, "user", auth, action, target, address, detail) VALUES (?, ?, ?, ?, ?, ?, ?)',
                   values)


def log_access(store: Store, who: Identity, action: str, target: str, *, address: str | None = None,
               detail: str = "") -> AccessEvent:
    """Build the event for ``who`` now and append it; returns it."""
    from .store import now

    event = AccessEvent(at=now(), user=who.name, auth=who.auth, action=action, target=target, address=address,
                        detail=detail)
    append_access(store, event)
    return event


def read_access(store: Store, *, user: str | None = None, action: str | None = None, since: str | None = None,
                until: str | None = None, limit: int | None = 500) -> list[AccessEvent]:
    """Events, newest first. ``since``/``until`` are ISO dates or times (UTC); a date ``until`` includes
    that whole day. A store older than schema 4 (read-only, not upgraded) has none."""
    if store.version < SCHEMA:
        return []
    where, args = [], []
    if user:
        where.append('"user" = ?')
        args.append(user)
    if action:
        where.append("action = ?")
        args.append(action)
    if since:
        where.append("at >= ?")
        args.append(since)
    if until:
        where.append("at < ?" if len(until) > 10 else "substr(at, 1, 10) <= ?")
        args.append(until)
    sql = ('SELECT at, "user", auth, action, target, address, detail FROM access_log'
           + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY seq DESC")
    if limit:
        sql += f" LIMIT {int(limit)}"
    with store._connect() as db:
        rows = db.execute(sql, args).fetchall()
    return [AccessEvent(at=r["at"], user=r["user"], auth=r["auth"], action=r["action"], target=r["target"],
                        address=r["address"], detail=r["detail"]) for r in rows]
