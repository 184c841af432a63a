"""Message dates parsed without dateutil (livedocs_runner/_wire.py) are the datetimes jupyter_client's own
parsing gives, through a real Session's serialise/deserialise; what it does not recognise is left to it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from jupyter_client.jsonutil import parse_date
from jupyter_client.session import Session

from livedocs_runner._wire import fast_dates, parse_aware


@pytest.mark.parametrize("text", ["2026-11-24T13:00:00.123456Z", "2026-11-24T13:00:00Z", "2026-11-24T13:00:00.1Z",
                                  "2026-11-24T13:00:00.12345+05:30", "2026-11-24T13:00:00.123-0800",
                                  "2026-11-24T13:00:00+00:00", "1999-12-31T23:59:59.999999-12:00"])
def test_an_aware_date_is_the_datetime_jupyter_client_makes(text: str) -> None:
    ours, theirs = parse_aware(text), parse_date(text)
    assert isinstance(ours, datetime) and ours == theirs and ours.utcoffset() == theirs.utcoffset()
    assert ours.strftime("%Y-%m-%dT%H:%M:%S.%fZ") == theirs.strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # nbclient's timings


@pytest.mark.parametrize("text", ["2026-11-24T13:00:00.123456", "2026-11-24", "not a date", "2026-11-24T25:00:00Z",
                                  "2026-11-24T13:00:00.1234567Z"])
def test_anything_else_is_left_to_jupyter_client(text: str) -> None:
    assert parse_aware(text) is None


def test_a_session_deserialises_the_same_messages() -> None:
    plain, fast = Session(key=b"k"), Session(key=b"k")
    fast_dates(fast)
    fast_dates(fast)  # once is enough: not wrapped twice
    assert getattr(fast.unpack, "livedocs_fast_dates", False)
    assert not getattr(fast.unpack.__closure__[0].cell_contents, "livedocs_fast_dates", False)
    parent = plain.msg_header("execute_request")
    parent["date"] = datetime(2026, 11, 24, 13, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    content = {"data": {"text/plain": "2026-11-24T13:00:00Z"}, "date": "2026-11-24T13:00:00Z", "msg_id": "x",
               "msg_type": "y"}  # header-like, but not a header: left as it is
    msg = plain.msg("display_data", content=content, parent=parent)
    wire = plain.serialize(msg)
    ours, theirs = fast.deserialize(fast.feed_identities(wire)[1]), plain.deserialize(plain.feed_identities(wire)[1])
    assert ours["header"] == theirs["header"] and isinstance(ours["header"]["date"], datetime)
    assert ours["parent_header"] == theirs["parent_header"] and ours["parent_header"]["date"] == parent["date"]
    assert ours["content"] == theirs["content"] == content  # content is never date-parsed
