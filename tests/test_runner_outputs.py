"""The run client's outputs (livedocs_runner/_nbclient.py): nodes built and checked by the compiled schema check are
exactly nbformat's, an output nbformat refuses is refused with nbformat's own error, and the client's ``output`` does
what nbclient's does with the same messages (display ids, delayed clears)."""

from __future__ import annotations

from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import output_from_msg as nbformat_output_from_msg

from livedocs_runner._nbclient import RunClient, output_from_msg


def msg(msg_type: str, content: dict[str, Any], parent: str = "p1") -> dict[str, Any]:
    return {"msg_type": msg_type, "header": {"msg_type": msg_type}, "parent_header": {"msg_id": parent},
            "content": content, "metadata": {}}


BUNDLE = {"text/plain": "x", "text/html": ["<b>", "x</b>"], "application/json": {"a": [1, None]},
          "application/vnd.livedocs.record+json": {"name": "a", "kind": "value", "value": 1.5},
          "image/png": "iVBORw0KGgo="}

MESSAGES = [
    # valid
    msg("stream", {"name": "stdout", "text": "hello\n"}),
    msg("stream", {"name": "stderr", "text": ["a", "b"], "extra": 1}),
    msg("display_data", {"data": BUNDLE, "metadata": {"image/png": {"width": 10}}}),
    msg("display_data", {"data": {}, "metadata": {}, "transient": {"display_id": "d"}}),
    msg("execute_result", {"data": BUNDLE, "metadata": {}, "execution_count": 3}),
    msg("execute_result", {"data": {"text/plain": "x"}, "metadata": {}, "execution_count": None}),
    msg("error", {"ename": "ZeroDivisionError", "evalue": "division by zero", "traceback": ["a", "b"]}),
    # refused by nbformat's schema
    msg("stream", {"name": 5, "text": "x"}),
    msg("stream", {"name": "stdout", "text": 5}),
    msg("display_data", {"data": {"text/plain": 5}, "metadata": {}}),
    msg("display_data", {"data": {"text/plain": "x"}, "metadata": []}),
    msg("display_data", {"data": "not a bundle", "metadata": {}}),
    msg("execute_result", {"data": {"text/plain": "x"}, "metadata": {}, "execution_count": "3"}),
    msg("execute_result", {"data": {"text/plain": "x"}, "metadata": {}, "execution_count": -1}),
    msg("error", {"ename": "E", "evalue": "v", "traceback": "not a list"}),
    msg("error", {"ename": None, "evalue": "v", "traceback": []}),
    # not outputs, or incomplete
    msg("status", {"execution_state": "idle"}),
    msg("update_display_data", {"data": {}, "metadata": {}, "transient": {"display_id": "d"}}),
    msg("stream", {"name": "stdout"}),
]


def outcome(build: Any, message: dict[str, Any]) -> tuple[str, Any]:
    try:
        return "node", build(message)
    except Exception as exc:  # noqa: BLE001 - the error itself is what is compared
        return type(exc).__name__, str(exc)


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: f"{m['msg_type']}:{sorted(m['content'].items())!r}"[:60])
def test_outputs_are_nbformats_nodes_and_errors(message: dict[str, Any]) -> None:
    ours, theirs = outcome(output_from_msg, message), outcome(nbformat_output_from_msg, message)
    assert ours == theirs
    if ours[0] == "node":
        assert type(ours[1]) is nbformat.NotebookNode and type(ours[1].get("data", ours[1])) is nbformat.NotebookNode


def test_refused_outputs_are_refused() -> None:
    """The table holds outputs nbformat refuses (so the comparison above is not only of valid ones)."""
    refused = [m for m in MESSAGES if outcome(nbformat_output_from_msg, m)[0] == "NotebookValidationError"]
    assert len(refused) == 9


def test_the_client_outputs_what_nbclients_would() -> None:
    """Both clients get the same messages (a display with an id, a delayed clear, a widget-free output hook stack) and
    end with equal outputs and display-id maps."""
    sequence = [("output", msg("stream", {"name": "stdout", "text": "a\n"}), None),
                ("output", msg("display_data", {"data": {"text/plain": "d1"}, "metadata": {},
                                                "transient": {"display_id": "d"}}), "d"),
                ("clear", msg("clear_output", {"wait": True}), None),
                ("output", msg("execute_result", {"data": {"text/plain": "r"}, "metadata": {}, "execution_count": 1}),
                 None),
                ("output", msg("display_data", {"data": {"text/plain": "d2"}, "metadata": {}}), "e"),
                ("output", msg("comm_open", {}), None)]

    def run(client: NotebookClient) -> tuple[list[Any], dict[str, Any]]:
        client.reset_execution_trackers()  # as nbclient's execute, then execute_cell, do first
        client.clear_before_next_output = False
        outs: list[Any] = []
        for kind, message, display_id in sequence:
            if kind == "clear":
                client.clear_output(outs, message, 0)
            else:
                client.output(outs, message, display_id, 0)
        return outs, client._display_id_map

    nb = nbformat.v4.new_notebook()
    assert run(RunClient(nb)) == run(NotebookClient(nb))
