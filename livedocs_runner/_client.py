"""The kernel client every run uses (private): jupyter_client's, with a faster readiness check."""

from __future__ import annotations

import contextlib
import copy
import os
import threading
import time
from queue import Empty
from typing import Any

import zmq
import zmq.asyncio
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.channels import AsyncZMQSocketChannel
from traitlets import Type

from ._wire import fast_dates

# IOPub subscriptions take a moment to reach the kernel: an ``idle`` published before ours arrived is
# lost, and waiting 0.2 s for it before asking again was most of a forked kernel's start (measured
# with ``livedocs run --profile``). Ask again soon, then less eagerly.
FIRST_DRAIN_S = 0.01
LAST_DRAIN_S = 0.2
# A client usually connects before a just-started kernel has bound its ports; zmq then retries after
# its default 100 ms, which was most of a forked kernel's ~150 ms from fork to ready (measured).
RECONNECT_MS = 5
# A kernel known to greet IOPub subscriptions (see ReadyClient.ready_memo) is waited for this long before the
# client asks kernel_info after all; the greeting comes within a few ms of connecting.
WELCOME_WAIT_S = 0.5


_CONTEXT_LOCK = threading.Lock()
_CONTEXT: tuple[int, zmq.asyncio.Context] | None = None  # (pid, context): never used by a forked child


def shared_context() -> zmq.asyncio.Context:
    """The zmq context every run's client in this process shares, whose sockets retry a refused connection after
    5 ms, not 100. A context per client started and joined zmq's I/O thread for every run (its first socket and
    its ``destroy``: ~8 % of the runner's CPU on a batch, measured with py-spy); contexts are thread-safe, and each
    client still has sockets of its own. Left open at exit (pyzmq does not terminate contexts then)."""
    global _CONTEXT
    with _CONTEXT_LOCK:
        if _CONTEXT is None or _CONTEXT[0] != os.getpid() or _CONTEXT[1].closed:
            context = zmq.asyncio.Context()
            context.setsockopt(zmq.RECONNECT_IVL, RECONNECT_MS)
            _CONTEXT = (os.getpid(), context)
        return _CONTEXT[1]


def _after_fork_in_child() -> None:
    global _CONTEXT_LOCK
    _CONTEXT_LOCK = threading.Lock()  # another thread may have held it at the fork


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class QuickChannel(AsyncZMQSocketChannel):
    """A channel that takes a message already waiting without pyzmq's asyncio poll.

    jupyter_client's ``get_msg`` polls before each receive: with pyzmq's asyncio sockets that is a new
    ``Poller``, two futures and their callbacks per message, even when the message is already there (most
    IOPub messages arrive in bursts: ``busy``, the input, outputs, ``idle``). A non-blocking receive first
    returns a waiting message at once, through the same deserialisation (81 -> 31 µs of CPU a message); when
    none is waiting it waits with a plain receive (no time limit) or polls (a time limit), as before: pyzmq
    checks the socket's state before waiting, so nothing is missed, and a wait cancelled before its message
    came takes none. Messages are received in the same order, each exactly once: nbclient never waits on one
    channel from two tasks.
    """

    async def get_msg(self, timeout: float | None = None) -> dict[str, Any]:  # type: ignore[override]
        try:
            return await self._recv(flags=zmq.NOBLOCK)
        except zmq.Again:
            if timeout is None:  # no time limit (nbclient's waits for a run's messages): one receive, no poll
                return await self._recv()
            return await super().get_msg(timeout)


class ReplayChannel(QuickChannel):
    """The shell channel, which can hand out a reply already received again (see :meth:`ReadyClient.kernel_info`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.replay: list[dict[str, Any]] = []

    async def get_msg(self, timeout: float | None = None) -> dict[str, Any]:  # type: ignore[override]
        if self.replay:
            return self.replay.pop(0)
        return await super().get_msg(timeout)

    async def msg_ready(self) -> bool:  # type: ignore[override]
        return bool(self.replay) or await super().msg_ready()


class ReadyClient(AsyncKernelClient):
    """A kernel client whose readiness check ends as soon as the kernel_info round trip is seen.

    jupyter_client's ``wait_for_ready`` drains IOPub until it has been silent for 200 ms, which is
    most of a warm run's overhead (nbclient calls it for every run). Seeing our own request's
    ``idle`` status on IOPub proves the subscription is live and everything before it drained; so
    does the kernel's ``iopub_welcome`` (ipykernel >= 7 greets each new IOPub subscription): the
    ``idle`` of a request that arrived before the subscription was lost, and without the welcome
    ``kernel_info`` had to be asked again after 10, 20, 40 ... (at most 200) ms, a round trip and a
    wait per kernel and per run.
    """

    shell_channel_class = Type(ReplayChannel)
    iopub_channel_class = Type(QuickChannel)
    _ready_reply: dict[str, Any] | None = None  # the readiness check's kernel_info reply, not yet asked for
    # What an earlier kernel of the same kind answered, shared by every client of that kind (a forked kernel's
    # template: same interpreter, ipykernel, configuration): {"reply": its kernel_info reply, "welcomes": True
    # once one was seen greeting the IOPub subscription}. With both, the readiness check waits for the greeting
    # alone and hands out a copy of that reply: the kernel_info round trip (the kernel's busy, reply and idle,
    # ~1 ms of its CPU and the runner's) told nothing new. Set by the run's kernel manager (_manager.py); None:
    # always asked.
    ready_memo: dict[str, Any] | None = None

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        fast_dates(self.session)  # its own session (a manager's clients get clones): every message's dates

    def kernel_info(self) -> str:  # type: ignore[override]
        """Ask for kernel_info; right after :meth:`wait_for_ready`, answer with the reply it just received instead.

        nbclient asks for ``kernel_info`` (the notebook's ``language_info``) right after its readiness check,
        which has just asked the same kernel the same question: the second round trip (a request, its reply
        and two IOPub status messages, ~1 ms of the kernel's time and the runner's) told nothing new. The
        readiness check's reply is handed back through the shell channel, as if just received.
        """
        reply, self._ready_reply = self._ready_reply, None
        if reply is not None and self.shell_channel.is_alive():
            self.shell_channel.replay.append(reply)
            return str(reply["parent_header"]["msg_id"])
        return super().kernel_info()

    def start_channels(self, shell: bool = True, iopub: bool = True, stdin: bool = False, hb: bool = False,
                       control: bool = False) -> None:
        """Shell and IOPub only, unless asked: a run never reads stdin (``input()`` fails in the notebook),
        interrupts and liveness go through the kernel manager (signals, the process), so a heartbeat
        thread and three more sockets per client and run would be work nobody reads."""
        super().start_channels(shell=shell, iopub=iopub, stdin=stdin, hb=hb, control=control)

    def stop_channels(self) -> None:
        """Stop the channels that were started (the base class creates the others just to stop them); each
        closes its socket at once (``linger=0``), as before, and the shared context stays for the next client."""
        for name in ("_shell_channel", "_iopub_channel", "_stdin_channel", "_hb_channel", "_control_channel"):
            channel = getattr(self, name, None)
            if channel is not None and channel.is_alive():
                channel.stop()
        if self._created_context and not self.context.closed:
            self.context.destroy(linger=100)

    def _context_default(self) -> zmq.asyncio.Context:
        """This process's zmq context for run clients (see :func:`shared_context`)."""
        return shared_context()

    async def _async_wait_for_ready(self, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (timeout if timeout is not None else float("inf"))
        drain = FIRST_DRAIN_S
        self._ready_reply = None
        memo = self.ready_memo
        if memo is not None and memo.get("welcomes") and memo.get("reply") is not None:
            if await self._iopub_live(None, WELCOME_WAIT_S) == "welcome":  # subscribed: nothing published is lost
                self._ready_reply = copy.deepcopy(memo["reply"])
                self._handle_kernel_info_reply(self._ready_reply)
                return
        while True:
            msg_id = super().kernel_info()
            reply = None
            with contextlib.suppress(Empty):
                while reply is None or reply["parent_header"].get("msg_id") != msg_id:
                    reply = await self.shell_channel.get_msg(timeout=1)
            live = await self._iopub_live(msg_id, drain) if reply is not None else None
            if live is not None:
                self._handle_kernel_info_reply(reply)
                self._ready_reply = reply
                if memo is not None and "reply" not in memo:
                    memo["reply"] = copy.deepcopy(reply)
                if memo is not None and live == "welcome":  # its idle may come first when subscribing raced the
                    memo["welcomes"] = True  # request (a kernel connected at once): the next kernel tells
                return
            drain = min(2 * drain, LAST_DRAIN_S)
            if not await self._async_is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout:g} seconds")

    wait_for_ready = _async_wait_for_ready  # the base class binds its own at class creation

    async def _iopub_live(self, msg_id: str | None, timeout: float) -> str | None:
        """Drain IOPub up to the kernel's ``iopub_welcome`` ("welcome") or the ``idle`` status of ``msg_id``
        ("idle"); None if neither came within ``timeout`` (IOPub not connected yet)."""
        with contextlib.suppress(Empty):
            while True:
                msg = await self.iopub_channel.get_msg(timeout=timeout)
                if msg["msg_type"] == "iopub_welcome":
                    return "welcome"
                if (msg_id is not None and msg["msg_type"] == "status"
                        and msg["parent_header"].get("msg_id") == msg_id
                        and msg["content"].get("execution_state") == "idle"):
                    return "idle"
        return None
