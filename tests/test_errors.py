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
    ({"cell": 6, "source_cell": 5, "code_cell": 3, "code_cells": 4, "step": "Score applications",  # 0.3.0 on
      "first_line": "total = sum(values)", "ename": "ZeroDivisionError", "evalue": "division by zero"},
     "ZeroDivisionError: division by zero", "in code cell 3 of 4"),
    ({"cell": 6, "code_cell": True, "code_cells": -1, "ename": "E"}, "E", "in cell 6"),  # bad numbers ignored
])
def test_from_json_reads_every_stored_shape(stored, summary, where):
    error = RunError.from_json(stored)
    assert error is not None
    assert error.summary() == summary
    assert error.where == where


@pytest.mark.parametrize(("error", "described"), [
    (RunError(ename="ZeroDivisionError", evalue="division by zero", cell=6, code_cell=3, code_cells=4,
              step="Score applications"),
     'in code cell 3 of 4 ("Score applications"): ZeroDivisionError: division by zero'),
    (RunError(ename="Timeout", evalue="too long", cell=4), "in cell 4: Timeout: too long"),  # an older record
    (RunError(ename="Cancelled", cell=2, step="the injected parameters"), 'in cell 2 ("the injected parameters"): Cancelled'),
    (RunError(ename="DiskFull", evalue="no space"), "DiskFull: no space"),  # not in a cell
])
def test_describe_says_where_then_what(error, described):
    assert error.describe() == described


def test_no_error_is_none():
    assert RunError.from_json(None) is None
    assert RunError.from_json({}) is None


def test_round_trip_and_pickle_and_bounded_traceback():
    error = RunError(ename="ValueError", evalue="bad", cell=2, traceback="x" * (TRACEBACK_CHARS + 10) + "END")
    assert len(error.traceback) == TRACEBACK_CHARS and error.traceback.endswith("END")
    assert RunError.from_json(error.to_json()) == error
    assert pickle.loads(pickle.dumps(error)) == error
