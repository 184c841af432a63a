"""A Streamlit session without a browser, for putting many sessions' load on one app server.

It speaks the app's websocket protocol the way Streamlit's own frontend does: the same protobuf
messages (``BackMsg.rerun_script`` with the address's query string, the page, widget triggers and
fragment ids; ``ForwardMsg`` deltas, page-info changes, ``auto_rerun`` timers for ``st.fragment(
run_every=...)``), so the server does exactly the work a browser session causes — script runs,
fragment redraws, serialised deltas — while nothing is rendered. ``benchmarks/app_speed.py`` uses it for
the other nine of ten sessions, so that the ten browsers' own rendering (which on a real team happens on
ten machines) does not share this machine's two cores with the server it measures.

Only what the benchmark needs: one page, buttons and sliders found by label, metric tiles counted per
script run. Widgets it does not touch keep the values the server holds for them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState


@dataclass
class Seen:
    """What the current script run has drawn so far."""

    buttons: dict[str, str] = field(default_factory=dict)  # label -> widget id
    sliders: dict[str, str] = field(default_factory=dict)  # label -> widget id (single-value sliders)
    metrics: int = 0
    texts: list[str] = field(default_factory=list)


class ProtocolSession:
    """One app session over ``ws://.../_stcore/stream``; ``await open(query)``, ``click(label)``,
    ``slide(label, value)``, ``until(check)``; ``close()`` at the end."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.stream = f"ws://{parts.netloc}/_stcore/stream"
        self.query = ""
        self.page_hash = ""
        self.seen = Seen()
        self.finished = 0  # script runs (whole or fragment) that ended
        self.tiles_at = 0.0  # when a run drew its fourth metric tile
        self.tiles = 4
        self._timers: dict[str, asyncio.Task[None]] = {}
        self._changed = asyncio.Event()
        self._socket: websockets.ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None

    async def open(self, query: str) -> None:
        self.query = query
        self._socket = await websockets.connect(self.stream, subprotocols=["streamlit"], origin=self.origin,
                                                max_size=None)
        self._reader = asyncio.create_task(self._read())
        await self._send(BackMsg())  # the first run, as a browser's page load asks for it

    async def click(self, label: str) -> float:
        """Press the button ``label`` drawn by the last run; returns when the click was sent."""
        await self.until(lambda: label in self.seen.buttons)
        msg = BackMsg()
        msg.rerun_script.widget_states.widgets.append(WidgetState(id=self.seen.buttons[label], trigger_value=True))
        self.tiles_at = 0.0
        clicked = time.time()
        await self._send(msg)
        return clicked

    async def slide(self, label: str, value: float) -> None:
        """Move the slider ``label`` drawn by the last run to ``value``, as a drag or an arrow key does."""
        await self.until(lambda: label in self.seen.sliders)
        msg = BackMsg()
        state = WidgetState(id=self.seen.sliders[label])
        state.double_array_value.data.append(value)
        msg.rerun_script.widget_states.widgets.append(state)
        await self._send(msg)

    async def until(self, check: Callable[[], bool], timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            self._changed.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"session on ?{self.query}: still waiting (last texts: {self.seen.texts[-3:]})")
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except TimeoutError:
                pass

    async def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        if self._socket is not None:
            await self._socket.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)

    async def _send(self, msg: BackMsg, fragment_id: str = "") -> None:
        state = msg.rerun_script
        state.SetInParent()
        state.query_string = self.query
        state.page_script_hash = self.page_hash
        if fragment_id:
            state.fragment_id = fragment_id
            state.is_auto_rerun = True
        assert self._socket is not None
        await self._socket.send(msg.SerializeToString())

    async def _read(self) -> None:
        assert self._socket is not None
        async for data in self._socket:
            msg = ForwardMsg()
            msg.ParseFromString(data)
            self._handle(msg)
            self._changed.set()

    def _handle(self, msg: ForwardMsg) -> None:
        kind = msg.WhichOneof("type")
        if kind == "new_session":
            self.page_hash = msg.new_session.page_script_hash
            if not msg.metadata.run.fragment_ids:  # a whole-page run: the browser drops its timers and elements
                for timer in self._timers.values():
                    timer.cancel()
                self._timers.clear()
                self.seen = Seen()
        elif kind == "page_info_changed":
            self.query = msg.page_info_changed.query_string
        elif kind == "auto_rerun":
            fragment = msg.auto_rerun.fragment_id
            if fragment not in self._timers:
                self._timers[fragment] = asyncio.create_task(self._every(msg.auto_rerun.interval, fragment))
        elif kind == "stop_auto_rerun":
            timer = self._timers.pop(msg.stop_auto_rerun.fragment_id, None)
            if timer is not None:
                timer.cancel()
        elif kind == "script_finished":
            self.finished += 1
        elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            self._element(msg.delta.new_element)

    def _element(self, element) -> None:  # noqa: ANN001 - streamlit.proto.Element
        kind = element.WhichOneof("type")
        if kind == "button":
            self.seen.buttons[element.button.label] = element.button.id
        elif kind == "slider":
            self.seen.sliders[element.slider.label] = element.slider.id
        elif kind == "metric":
            self.seen.metrics += 1
            if self.seen.metrics == self.tiles and not self.tiles_at:
                self.tiles_at = time.time()
        elif kind in ("alert", "markdown"):
            self.seen.texts.append(getattr(element, kind).body)

    async def _every(self, interval: float, fragment: str) -> None:
        while True:
            await asyncio.sleep(interval)
            await self._send(BackMsg(), fragment)
