"""The run client's channels (livedocs_runner/_client.py) on real zmq sockets and a real Session: a waiting message
is taken without a poll, a later one by a plain receive, in order and each exactly once, also when a wait is
cancelled; the shell channel hands back a replayed reply first; run clients share one zmq context."""

from __future__ import annotations

import asyncio
import os
from itertools import count

import pytest
import zmq
import zmq.asyncio
from jupyter_client.session import Session

from livedocs_runner._client import QuickChannel, ReplayChannel, shared_context
from tests.conftest import in_forked_child

_names = count()


def pair(context: zmq.asyncio.Context) -> tuple[zmq.Socket, zmq.asyncio.Socket]:
    """(a sync sending socket, an async receiving socket) connected over inproc."""
    name = f"inproc://channels-{os.getpid()}-{next(_names)}"
    receiving = context.socket(zmq.PAIR)
    receiving.bind(name)
    sending = zmq.Context.shadow(context.underlying).socket(zmq.PAIR)
    sending.connect(name)
    return sending, receiving


def test_messages_come_in_order_each_once_waiting_or_not() -> None:
    session = Session(key=b"secret")

    async def scenario() -> list[int]:
        context = zmq.asyncio.Context()
        sending, receiving = pair(context)
        channel = QuickChannel(receiving, session, None)
        got = []
        for n in range(5):  # already waiting: taken without a poll
            session.send(sending, "stream", {"name": "stdout", "text": str(n)})
        for _ in range(5):
            got.append(int((await channel.get_msg())["content"]["text"]))

        async def later() -> None:
            for n in range(5, 10):
                await asyncio.sleep(0.01)
                session.send(sending, "stream", {"name": "stdout", "text": str(n)})

        sender = asyncio.ensure_future(later())
        for _ in range(5):  # not there yet: a plain receive, no time limit
            got.append(int((await channel.get_msg(timeout=None))["content"]["text"]))
        await sender
        # a wait with a time limit that ends empty, then a wait cancelled before its message: neither takes one
        with pytest.raises(Exception) as empty:
            await channel.get_msg(timeout=0.01)
        assert type(empty.value).__name__ == "Empty"
        waiting = asyncio.ensure_future(channel.get_msg())
        await asyncio.sleep(0.01)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        session.send(sending, "stream", {"name": "stdout", "text": "10"})
        got.append(int((await channel.get_msg(timeout=5))["content"]["text"]))
        sending.close(linger=0)
        receiving.close(linger=0)
        context.destroy(linger=0)
        return got

    assert asyncio.run(scenario()) == list(range(11))


def test_a_replayed_reply_comes_first_and_once() -> None:
    session = Session(key=b"secret")

    async def scenario() -> list[str]:
        context = zmq.asyncio.Context()
        sending, receiving = pair(context)
        channel = ReplayChannel(receiving, session, None)
        session.send(sending, "execute_reply", {"status": "ok"})
        channel.replay.append({"msg_type": "kernel_info_reply"})
        assert await channel.msg_ready()
        kinds = [(await channel.get_msg(timeout=5))["msg_type"] for _ in range(2)]
        sending.close(linger=0)
        receiving.close(linger=0)
        context.destroy(linger=0)
        return kinds

    assert asyncio.run(scenario()) == ["kernel_info_reply", "execute_reply"]


def test_run_clients_share_one_context_per_process() -> None:
    context = shared_context()
    assert shared_context() is context and not context.closed
    assert context.getsockopt(zmq.RECONNECT_IVL) == 5
    # a forked child never uses its parent's context
    said = in_forked_child(lambda: b"fresh" if shared_context() is not context else b"inherited")
    assert said == (b"fresh", 0)
