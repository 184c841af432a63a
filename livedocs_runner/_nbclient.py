"""The run's notebook client (private): nbclient's, with each output checked by a compiled schema check first.

nbclient turns every output message into a notebook node with nbformat's ``output_from_msg``, which validates the
node against its nbformat v4 schema definition (``stream``, ``display_data``, ``execute_result``, ``error``) with
jsonschema, a validator built anew for each output: 180-290 µs an output (measured), more than receiving and
decoding its message. :func:`output_from_msg` builds the same node and checks it against the same definition of the
same schema file with a fastjsonschema check compiled once per output type (2-8 µs; the validator nbformat itself
uses by default for whole notebooks); only a node that check rejects goes to nbformat's own validation, which raises
exactly the error it always raised (a run whose output nbformat refuses fails in that cell, as before).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nbclient import NotebookClient
from nbformat import NotebookNode
from nbformat.v4 import nbbase

OUTPUT_TYPES = ("execute_result", "display_data", "stream", "error")


@functools.cache
def _check(output_type: str) -> Callable[[Any], Any]:
    """The compiled check of ``output_type``'s definition in the schema nbformat validates v4 outputs against."""
    import fastjsonschema

    name = nbbase.nbformat_schema[(nbbase.nbformat, nbbase.nbformat_minor)]
    schema = json.loads(Path(nbbase.__file__).with_name(name).read_text(encoding="utf-8"))
    definition = {"$schema": schema["$schema"], "definitions": schema["definitions"],
                  "$ref": f"#/definitions/{output_type}"}
    return fastjsonschema.compile(definition, use_default=False)  # never fills anything into the node


def _new_output(output_type: str, data: Any = None, **kwargs: Any) -> NotebookNode:
    """``nbformat.v4.new_output`` without its validation (the caller checks the node)."""
    output = NotebookNode(output_type=output_type)
    if output_type == "stream":
        output.name = "stdout"
        output.text = ""
    elif output_type == "display_data":
        output.metadata = NotebookNode()
        output.data = NotebookNode()
    elif output_type == "execute_result":
        output.metadata = NotebookNode()
        output.data = NotebookNode()
        output.execution_count = None
    elif output_type == "error":
        output.ename = "NotImplementedError"
        output.evalue = ""
        output.traceback = []
    output.update(kwargs)
    if data is not None:
        output.data = data
    return output


def output_from_msg(msg: dict[str, Any]) -> NotebookNode:
    """``nbformat.v4.output_from_msg(msg)``: the same node, the same errors (``ValueError`` for a message that is not
    an output, nbformat's ``ValidationError`` for an output its schema refuses), checked by a compiled check."""
    import fastjsonschema

    msg_type = msg["header"]["msg_type"]
    if msg_type not in OUTPUT_TYPES:
        return nbbase.output_from_msg(msg)
    content = msg["content"]
    if msg_type == "execute_result":
        output = _new_output(msg_type, metadata=content["metadata"], data=content["data"],
                             execution_count=content["execution_count"])
    elif msg_type == "stream":
        output = _new_output(msg_type, name=content["name"], text=content["text"])
    elif msg_type == "display_data":
        output = _new_output(msg_type, metadata=content["metadata"], data=content["data"])
    else:
        output = _new_output(msg_type, ename=content["ename"], evalue=content["evalue"], traceback=content["traceback"])
    try:
        _check(msg_type)(output)
    except fastjsonschema.JsonSchemaException:
        nbbase.validate(output, msg_type)  # nbformat's own verdict and message
    return output


class RunClient(NotebookClient):
    """nbclient's ``NotebookClient`` whose outputs come from :func:`output_from_msg`."""

    def output(self, outs: list[NotebookNode], msg: dict[str, Any], display_id: str | None,
               cell_index: int) -> NotebookNode | None:
        """nbclient 0.10/0.11's ``output``, line for line, with :func:`output_from_msg` (tests/test_runner_outputs.py
        runs the same messages through both and compares)."""
        msg_type = msg["msg_type"]
        out: NotebookNode | None = None

        parent_msg_id = msg["parent_header"].get("msg_id")
        if self.output_hook_stack[parent_msg_id]:
            # a registered hook (an OutputWidget) overrides the default output behaviour
            hook = self.output_hook_stack[parent_msg_id][-1]
            hook.output(outs, msg, display_id, cell_index)
            return None

        try:
            out = output_from_msg(msg)
        except ValueError:
            self.log.error(f"unhandled iopub msg: {msg_type}")
            return None

        if self.clear_before_next_output:
            self.log.debug("Executing delayed clear_output")
            outs[:] = []
            self.clear_display_id_mapping(cell_index)
            self.clear_before_next_output = False

        if display_id:
            # record output index in _display_id_map[display_id][cell_idx]
            cell_map = self._display_id_map.setdefault(display_id, {})
            output_idx_list = cell_map.setdefault(cell_index, [])
            output_idx_list.append(len(outs))

        if out:
            outs.append(out)

        return out
