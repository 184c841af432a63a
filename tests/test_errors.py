"""RunError: the one shape of a run's failure, read back from old and new records alike."""

from __future__ import annotations

import pickle

import pytest

from livedocs_runner.errors import TRACEBACK_CHARS, RunError


@pytest.mark.parametrize(("stored", "summary", "where"), [
    ({"cell": 7, "ename": "ZeroDivisionError", "evalue": "division by zero", "traceback": "..."},
     "ZeroDivisionError: division by zero", "in cell 7"),
    ({"cell": None, "ename": "Cancelled", "evalue": "cancelled before it started"},  # 0.1.0 omitted traceback
     "Cancelled: cancelled before it started", ""),
    ({"ename": "Timeout"}, "Timeout", ""),
    ({"cell": "3", "ename": None, "evalue": 5}, "Error: 5", ""),  # garbage types never crash a reader
])
def test_from_json_reads_every_stored_shape(stored, summary, where):
    error = RunError.from_json(stored)
    assert error is not None
    assert error.summary() == summary
    assert error.where == where


def test_no_error_is_none():
    assert RunError.from_json(None) is None
    assert RunError.from_json({}) is None


def test_round_trip_and_pickle_and_bounded_traceback():
    error = RunError(ename="ValueError", evalue="bad", cell=2, traceback="x" * (TRACEBACK_CHARS + 10) + "END")
    assert len(error.traceback) == TRACEBACK_CHARS and error.traceback.endswith("END")
    assert RunError.from_json(error.to_json()) == error
    assert pickle.loads(pickle.dumps(error)) == error
