"""The run's notebook client (private): nbclient's, with each output checked by a compiled schema check first, and
the next cells' requests sent ahead to a kernel that chains them.

nbclient turns every output message into a notebook node with nbformat's ``output_from_msg``, which validates the
node against its nbformat v4 schema definition (``stream``, ``display_data``, ``execute_result``, ``error``) with
jsonschema, a validator built anew for each output: 180-290 µs an output (measured), more than receiving and
decoding its message. :func:`output_from_msg` builds the same node and checks it against the same definition of the
same schema file with a fastjsonschema check compiled once per output type (2-8 µs; the validator nbformat itself
uses by default for whole notebooks); only a node that check rejects goes to nbformat's own validation, which raises
exactly the error it always raised (a run whose output nbformat refuses fails in that cell, as before).

nbclient sends a cell's request, waits for its reply and its ``idle``, handles its outputs, then sends the next:
the kernel idles between cells for a round trip and the runner's work (~1.5 ms a cell, measured). With ``ahead``,
the next cell's request goes out the moment the current cell's reply and ``idle`` are received, before nbclient
handles them (the end of the cell, the start of the next); nbclient then reads each cell's reply and outputs
exactly as before. Not earlier: requests sent while a cell still ran let a kernel that died in the next cell
(``os._exit``, a crash, the OOM killer) take the running cell's last messages with it, still queued in its
sockets, and the run blamed the wrong cell (4 of 12 runs of a notebook whose second cell exits at once).
Only for a kernel that runs a request naming its predecessor only after that one succeeded (``_forkchain.py``).
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

from ._forkchain import AFTER_KEY

OUTPUT_TYPES = ("execute_result", "display_data", "stream", "error")
# the next cell's request is sent as soon as the current cell's reply and idle are received (to a kernel that
# chains requests; see RunClient): 1, or 0 for one request at a time after nbclient has handled the last
AHEAD = 1


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
    """nbclient's ``NotebookClient`` whose outputs come from :func:`output_from_msg` and which, with ``ahead``
    (only for a kernel that chains requests, ``_forkchain.py``), sends the next cell's request as soon as it has
    received the current cell's reply and ``idle``, before nbclient has handled them."""

    def __init__(self, *args: Any, ahead: int = 0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ahead = ahead
        self._asked: tuple[int, bool] | None = None  # (cell index, store_history) nbclient is executing
        self._early: tuple[int, tuple[str, bool, bool], str] | None = None  # sent early: (index, request, msg_id)
        self._current: tuple[int, str, bool] | None = None  # the last cell request sent: (index, msg_id, may fail)
        self._reply_status: str | None = None  # of that request, once its reply was received
        self._idle = False  # whether its idle was received
        self._last: str | None = None  # msg_id of the last request sent

    async def async_start_new_kernel_client(self) -> Any:
        kc = await super().async_start_new_kernel_client()
        if self.ahead > 0:
            kc.execute = self._execute_in_chain  # what async_execute_cell calls to send a cell's request
            for channel in (kc.shell_channel, kc.iopub_channel):
                channel.get_msg = self._watching(channel.get_msg)
        return kc

    async def async_execute_cell(self, cell: NotebookNode, cell_index: int, execution_count: int | None = None,
                                 store_history: bool = True) -> NotebookNode:
        self._asked = (cell_index, store_history)
        try:
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        finally:
            self._asked = None

    def _execute_in_chain(self, code: str, silent: bool = False, store_history: bool = True,
                          user_expressions: dict[str, Any] | None = None, allow_stdin: bool | None = None,
                          stop_on_error: bool = True) -> str:
        """``kc.execute`` for the cell nbclient executes: its request, already sent early or sent now."""
        asked, request = self._asked, (code, store_history, stop_on_error)
        if asked is None or silent or user_expressions or asked[1] != store_history:  # not a cell's own request
            return self._send(request, silent=silent, user_expressions=user_expressions)
        if self._early is not None:
            (index, sent, msg_id), self._early = self._early, None
            if (index, sent) != (asked[0], request):  # never: the same rules pick the cells nbclient executes
                raise RuntimeError(f"cell {asked[0] + 1} is not the request sent early for cell {index + 1}")
            return msg_id
        msg_id = self._send(request)
        self._follow(asked[0], msg_id, not stop_on_error)
        return msg_id

    def _watching(self, get_msg: Callable[..., Any]) -> Callable[..., Any]:
        async def get_msg_watched(timeout: float | None = None) -> dict[str, Any]:
            msg = await get_msg(timeout)
            self._received(msg)
            return msg

        return get_msg_watched

    def _received(self, msg: dict[str, Any]) -> None:
        """Note the current request's reply and idle; with both, send the next cell's request (if that cell runs).

        Only then: the kernel runs a cell only once this process has received everything of the cell before it
        (its outputs come before its idle), so a kernel that dies in a cell takes nothing of an earlier cell with
        it. Sent as soon as received, the kernel starts the next cell while nbclient still handles these."""
        current = self._current
        if current is None or msg["parent_header"].get("msg_id") != current[1]:
            return
        if msg["msg_type"] == "execute_reply":
            self._reply_status = msg["content"].get("status")
        elif msg["msg_type"] == "status" and msg["content"].get("execution_state") == "idle":
            self._idle = True
        status = self._reply_status
        if status is None or not self._idle:
            return
        self._current = None
        if status == "ok" or (status == "error" and current[2]):  # as nbclient goes on (raises-exception)
            for index in range(current[0] + 1, len(self.nb.cells)):
                cell = self.nb.cells[index]
                if self._executes(cell):
                    early = (cell.source, True, not self._allows_errors(cell))  # as async_execute asks for it
                    msg_id = self._send(early)
                    self._early = (index, early, msg_id)
                    self._follow(index, msg_id, not early[2])
                    return

    def _follow(self, index: int, msg_id: str, may_fail: bool) -> None:
        self._current, self._reply_status, self._idle = (index, msg_id, may_fail), None, False

    def _executes(self, cell: NotebookNode) -> bool:
        """Whether nbclient's ``async_execute_cell`` sends ``cell`` to the kernel (0.10/0.11, line for line)."""
        return (cell.cell_type == "code" and bool(cell.source.strip())
                and self.skip_cells_with_tag not in cell.metadata.get("tags", []))

    def _allows_errors(self, cell: NotebookNode) -> bool:
        return (not self.force_raise_errors) and (self.allow_errors or "raises-exception" in cell.metadata.get("tags", []))

    def _send(self, request: tuple[str, bool, bool], *, silent: bool = False,
              user_expressions: dict[str, Any] | None = None) -> str:
        """Send an execute request as ``KernelClient.execute`` does, naming the request sent before it."""
        code, store_history, stop_on_error = request
        content = {"code": code, "silent": silent, "store_history": store_history,
                   "user_expressions": user_expressions or {}, "allow_stdin": self.kc.allow_stdin,
                   "stop_on_error": stop_on_error}
        msg = self.kc.session.msg("execute_request", content,
                                  metadata={AFTER_KEY: self._last} if self._last is not None else None)
        self.kc.shell_channel.send(msg)
        self._last = msg["header"]["msg_id"]
        return self._last

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
