"""Message dates for the runner's kernel clients, parsed without dateutil.

jupyter_client parses every message's header date and its parent's with dateutil (``extract_dates``: two
parses of ~20 µs per message, about 2 % of the runner's CPU on a batch). :func:`fast_dates` makes a session
parse a header's timezone-aware ISO 8601 ``date`` with ``datetime.fromisoformat`` first, to an equal datetime
(same instant and UTC offset: nbclient's recorded timings are the same text); ``extract_dates`` then leaves it
alone. Anything else (a naive date, another format, the content) is left to jupyter_client as before.

The fork template (``_forktemplate.py``) loads this file by path for its kernels' own sessions: it imports nothing
from this package.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

# jupyter_client's ISO8601_PAT, with the UTC offset required: a naive date keeps jupyter_client's handling
_AWARE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+\-]\d{2}:?\d{2})")


# the keys of a message header (and a parent header): what no message's content or metadata has at its top level
_HEADER = frozenset({"msg_id", "msg_type", "session", "username", "date", "version"})


def parse_aware(text: str) -> datetime | None:
    """``text`` as a timezone-aware datetime when it is one in ISO 8601, else None."""
    if not _AWARE.fullmatch(text):
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def fast_dates(session: Any) -> None:
    """Make ``session`` (a ``jupyter_client.session.Session``) unpack message headers with their dates parsed."""
    unpack: Callable[[Any], Any] = session.unpack
    if getattr(unpack, "livedocs_fast_dates", False):
        return

    def unpack_with_dates(data: Any) -> Any:
        obj = unpack(data)
        if isinstance(obj, dict) and _HEADER <= obj.keys() and isinstance(obj["date"], str):
            parsed = parse_aware(obj["date"])
            if parsed is not None:
                obj["date"] = parsed
        return obj

    unpack_with_dates.livedocs_fast_dates = True  # type: ignore[attr-defined]
    session.unpack = unpack_with_dates
