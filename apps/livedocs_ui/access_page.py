"""``?access=1``: the access log for admins (sign-ins, sign-outs, runs, cancels, refusals), read-only, and
the access rules in effect (the access file's and the configs' ``access:`` blocks).

Every value in the log came from a token, a header or a URL: it is shown on a plain-text surface
(``st.dataframe`` of strings), server paths removed. Nothing here writes to the log but the visit itself.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import streamlit as st

from livedocs_runner.access import AccessDenied

from . import identity
from .safe import callback, public, roots
from .services import go, services

LIMIT = 500


def access_page() -> None:
    if not identity.site_admin():
        identity.record_denied_once("access log", "view the access log: needs the admin role on every notebook")
        raise AccessDenied("You do not have access to the access log: it needs the admin role.",
                           hint="Ask an admin of this app.")
    from livedocs_runner.records.access_log import ACTIONS, read_access

    st.button("← Catalog", key="back-catalog", on_click=callback(go))
    st.title("Access log")
    st.caption("Who signed in and out, started or cancelled runs, and every refused attempt. Read-only.")
    cols = st.columns(3)
    user = cols[0].text_input("User", key="access-user", help="Exactly as recorded, e.g. alice@example.com.").strip()
    action = cols[1].selectbox("Action", ["all", *ACTIONS], key="access-action")
    today = datetime.now(UTC).date()
    chosen = cols[2].date_input("Dates (UTC)", value=(today - timedelta(days=30), today), key="access-dates")
    first, last = (tuple(chosen) + (None, None))[:2] if isinstance(chosen, tuple | list) else (chosen, chosen)
    events = read_access(services().store, user=user or None, action=None if action == "all" else action,
                         since=first.isoformat() if first else None,
                         until=last.isoformat() if last else None, limit=LIMIT)  # a date: that whole day
    rows = [{"when (UTC)": _plain(e.at)[:19].replace("T", " "), "user": _plain(e.user), "sign-in": _plain(e.auth),
             "action": _plain(e.action), "what": _plain(e.target), "from": _plain(e.address or ""),
             "detail": _plain(e.detail)} for e in events]
    if rows:
        st.dataframe(pd.DataFrame(rows, dtype=str), hide_index=True)
    else:
        st.info("No entries match these filters.")
    st.caption(f"{len(rows)} entries" + (f" (the latest {LIMIT}; narrow the filters for older ones)"
                                         if len(rows) >= LIMIT else "") + ".")
    _rules()


def _rules() -> None:
    """The rules in effect: the access file's and every config's ``access:`` block (the highest role wins)."""
    st.subheader("Who may do what")
    st.caption("The access file's rules and the configs' own access: blocks add up: a user gets the highest role "
               "any rule gives them on a notebook; no rule, no access.")
    rows = [{"notebooks": _plain(", ".join(rule.configs)), "users": _plain(", ".join(sorted(rule.users))),
             "groups": _plain(", ".join(sorted(rule.groups))), "role": rule.role.label, "written in": _plain(rule.origin)}
            for rule in identity.policy().rules]
    if rows:
        st.table(pd.DataFrame(rows, dtype=str).set_index("notebooks"))  # a plain-text table, apart from the log
    else:
        st.info("No rules: nobody has a role on any notebook.")


def _plain(value: object) -> str:
    """A log value for a plain-text table cell: one line, no control characters, no server paths."""
    line = "".join(ch for ch in " ".join(str(value).split()) if ch.isprintable())
    return public(line, roots())[:500]
