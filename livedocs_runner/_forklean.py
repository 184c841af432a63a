"""Per-request work a forked kernel skips because nobody reads it (private).

Loaded by path by the fork template (``_forktemplate.py``), which runs without this package; each function is
called in the child, before its kernel is built. The kernel's outputs, their order and what a notebook sees stay
as in a kernel started by ``ipykernel_launcher`` (tests/test_kernel_prebuilt.py, tests/test_kernel_lean.py).
"""

from __future__ import annotations

import array
import contextlib
import fcntl
import functools
import os
import sys
import termios
import threading
from typing import Any

# the longest a cell's reply waits for its watcher (a cell that flooded its pipe): the reply then goes, and the
# next cell drains again (dropped from draining: only a stream whose watcher thread has ended)
DRAIN_TIMEOUT_S = 2.0


def flush_only_when_pending() -> None:
    """Skip the IOPub-thread round trip of ``sys.stdout.flush()`` (and stderr's) when nothing was written.

    ipykernel flushes both streams ~6 times per cell (before a display, before and after the result,
    at the reply), and each flush hands two callbacks to the IOPub thread and waits for them even
    with empty buffers: a thread hand-off each, with nothing to send. With an empty buffer and no
    flush pending the wait only orders sends already queued, which the IOPub thread sends first in
    any case (one FIFO queue), so the order of the messages is unchanged.
    """
    from ipykernel.iostream import OutStream

    flush = OutStream.flush
    if not all(hasattr(OutStream, name) for name in ("_flush", "write")):
        return

    def flush_if_pending(self: Any) -> None:
        try:
            idle = (not self._flush_pending and not self._subprocess_flush_pending and not self._buffers
                    and self.echo is None)
        except AttributeError:  # another ipykernel's stream: flush as it does
            idle = False
        if not idle:
            flush(self)

    OutStream.flush = flush_if_pending


def without_shell_channel_thread(app: Any) -> None:
    """Make ``app`` (an unstarted ``IPKernelApp``) build a kernel whose main thread receives shell requests itself.

    ipykernel 7 receives every shell request on a *shell-channel thread*, which reads its header and hands it to the
    main thread over an in-process socket; the reply goes back out through that thread. The thread exists for
    subshells (a client may ask for extra shells that run requests concurrently). A run's client never asks for one
    (its requests, even those sent ahead, run one after the other), so for a run the thread is two hand-offs per
    request and a third thread taking the GIL while the cell runs (measured: a cell's round trip 2.1 → 1.4 ms,
    ~3 ms less kernel CPU per run). Without it the kernel takes ipykernel's own path for kernels without subshells
    (the shell stream on the main event loop, as in ipykernel 6); it then does not list "kernel subshells" in
    ``kernel_info``'s supported features. An ipykernel without the thread is left as it is.
    """
    from ipykernel.kernelbase import Kernel

    init_sockets = app.init_sockets

    def init_sockets_without_thread() -> None:
        init_sockets()
        thread = getattr(app, "shell_channel_thread", None)
        if thread is not None and not thread.is_alive():
            app.shell_channel_thread = NoShellChannelThread()
            thread.io_loop.close()  # made, never started: its event loop is all it holds

    if isinstance(vars(Kernel).get("_supports_kernel_subshells"), property):
        # ipykernel asks "is not None"; the stand-in says no by being false, as a missing thread is
        Kernel._supports_kernel_subshells = property(lambda kernel: bool(kernel.shell_channel_thread))
        app.init_sockets = init_sockets_without_thread


class NoShellChannelThread:
    """Where ipykernel 7 keeps its shell-channel thread, for a kernel without one: false, as ipykernel tests the
    thread before using it, and naming the thread that reads shell requests (this one, the main thread), which
    ipykernel's path for a cell with top-level ``await`` asks for without testing (``shell_channel_thread.
    parent_thread``: with None there, such a cell's request failed inside the kernel and got no reply at all)."""

    def __init__(self) -> None:
        self.parent_thread = threading.current_thread()

    def __bool__(self) -> bool:
        return False


class CellEndDrain:
    """Every byte a cell wrote to file descriptor 1 or 2 reaches that cell's output, without ipykernel's sleep.

    ipykernel captures what subprocesses and C code write to fds 1 and 2 through a pipe that a thread per stream
    reads and forwards. Nothing ties that thread to the end of a cell: ipykernel sleeps 0.5 ms before each
    execute_reply and hopes the thread has forwarded everything by then (measured: ``os.write(1, ...)`` as a cell's
    last statement still went missing from 2 of 300 cells; with the sleep removed, from 58). Here, when the cell has
    run, the kernel writes a mark into each pipe and waits until its thread has read up to the mark: the pipe is
    first in, first out, so everything the cell wrote before it has then been forwarded, and the flushes before the
    reply and the idle status send it with the cell's output. The mark is never forwarded. When a stream's thread
    sleeps on an empty pipe there is nothing to wait for and no mark is written (two reads, ~15 µs, not 0.5 ms). A
    cell that pointed fd 1 or 2 somewhere else (``os.dup2``) gets no mark there.

    Usage in the child: ``drain = CellEndDrain()`` before the kernel is built (the streams' threads read through
    it), ``drain.install(app.kernel)`` after.
    """

    def __init__(self) -> None:
        from ipykernel import iostream

        self.mark = b"\0livedocs-cell-end-" + os.urandom(8).hex().encode() + b"\0"
        self.size = getattr(iostream, "PIPE_BUFFER_SIZE", 1000)
        self.passed: dict[int, threading.Event] = {}  # a pipe's read end -> its thread has passed the mark on
        self.holding: set[int] = set()  # pipes whose thread holds back what may be the start of a mark
        self.enabled = all(hasattr(iostream.OutStream, name) for name in ("_watch_pipe_fd", "_setup_stream_redirects"))
        if self.enabled:
            def watch_pipe_fd(stream: Any) -> None:  # the thread target each stream starts with
                self._watch(stream)

            iostream.OutStream._watch_pipe_fd = watch_pipe_fd

    def _watch(self, stream: Any) -> None:
        """ipykernel's ``OutStream._watch_pipe_fd`` (7.x), which also takes the marks out and says when one passed."""
        fid = stream._fid
        if fid is None:
            return
        passed = self.passed.setdefault(fid, threading.Event())
        mark, held = self.mark, b""
        try:
            data = os.read(fid, self.size)
            while data and stream._should_watch:
                data, held = held + data, b""
                while (at := data.find(mark)) >= 0:
                    _forward(stream, data[:at])
                    data = data[at + len(mark):]
                    passed.set()
                keep = _mark_prefix(data, mark)  # the start of a mark the next read completes
                if keep:
                    data, held = data[:-keep], data[-keep:]
                    self.holding.add(fid)
                else:
                    self.holding.discard(fid)
                _forward(stream, data)
                data = os.read(fid, self.size)
            _forward(stream, held)
        except Exception:  # noqa: BLE001 - as ipykernel's own watcher: kept for the stream to report
            stream._exc = sys.exc_info()

    def install(self, kernel: Any) -> bool:
        """Drain after every cell of ``kernel`` and drop ipykernel's sleep; False (nothing changed) when its streams
        do not capture fds through this drain's watcher."""
        streams = [stream for stream in (sys.stdout, sys.stderr)
                   if getattr(stream, "_fid", None) is not None and hasattr(stream, "_original_stdstream_fd")]
        if not self.enabled or not streams or not hasattr(kernel, "_execute_sleep"):
            return False
        do_execute = kernel.do_execute

        @functools.wraps(do_execute)
        async def do_execute_then_drain(*args: Any, **kwargs: Any) -> Any:
            try:
                return await do_execute(*args, **kwargs)
            finally:
                with contextlib.suppress(KeyboardInterrupt):  # the cell is over: a late interrupt must not cost its reply
                    self._drain(streams)

        kernel.do_execute = do_execute_then_drain
        kernel._execute_sleep = 0.0
        return True

    def _drain(self, streams: list[Any]) -> None:
        """Wait (at most ``DRAIN_TIMEOUT_S``) until each stream's thread has passed on what the cell wrote; a
        stream whose thread has ended is dropped from ``streams``."""
        marked = [(stream, self._mark(stream)) for stream in streams]  # both pipes at once, then wait
        for stream, passed in marked:
            if passed is False:
                streams.remove(stream)
            elif passed is not True:
                passed.wait(DRAIN_TIMEOUT_S)

    def _mark(self, stream: Any) -> threading.Event | bool:
        """Write a mark into ``stream``'s pipe: the event set once its thread has passed the mark on; True when there
        is nothing to wait for, False when the stream cannot be drained."""
        fid, fd = stream._fid, stream._original_stdstream_fd
        thread = getattr(stream, "watch_fd_thread", None)
        try:
            if thread is None or not thread.is_alive():
                return False
            if _asleep_on_empty_pipe(thread, fid) and fid not in self.holding:  # (asleep: done updating holding)
                return True  # it holds nothing it has not passed on, and nothing waits in the pipe
            pipe, now = os.fstat(fid), os.fstat(fd)
            if (now.st_dev, now.st_ino) != (pipe.st_dev, pipe.st_ino):
                return True  # the cell pointed the fd elsewhere: no mark there (it may point it back later)
            passed = self.passed.setdefault(fid, threading.Event())
            passed.clear()
            os.write(fd, self.mark)  # shorter than PIPE_BUF: written whole, never mixed into others' writes
        except OSError:  # a cell closed the fd
            return True
        return passed


def _asleep_on_empty_pipe(thread: threading.Thread, fid: int) -> bool:
    """Whether the watcher ``thread`` sleeps in a read of its pipe ``fid`` and that pipe is empty: then all that was
    written to it has been passed on (a write wakes the sleeping reader before it returns, and the kernel shows no
    wait channel for a woken thread). False whenever this cannot be told (no /proc, another kernel's names)."""
    try:
        if not _wait_channel(thread.native_id).endswith(b"pipe_read"):  # Linux 6.x: anon_pipe_read; before: pipe_read
            return False
        pending = array.array("i", [0])
        fcntl.ioctl(fid, termios.FIONREAD, pending)
    except (OSError, ValueError, TypeError):
        return False
    return pending[0] == 0


_WCHAN_FDS: dict[int, tuple[int, int, int]] = {}  # thread id -> (fd, device, inode) of its open wchan file


def _wait_channel(native_id: int) -> bytes:
    """What thread ``native_id`` of this process waits in, read from its ``wchan`` file, kept open: opening it for
    every check (twice a cell) was most of the check's ~10-60 µs (measured; a read of the open file: ~1 µs). A
    descriptor a cell closed (or whose number now names another file) raises OSError: the caller falls back."""
    known = _WCHAN_FDS.get(native_id)
    if known is None:
        fd = os.open(f"/proc/self/task/{native_id}/wchan", os.O_RDONLY | os.O_CLOEXEC)
        status = os.fstat(fd)
        known = _WCHAN_FDS[native_id] = (fd, status.st_dev, status.st_ino)
    fd, device, inode = known
    try:
        status = os.fstat(fd)
        if (status.st_dev, status.st_ino) != (device, inode):
            raise OSError(f"descriptor {fd} is no longer the wait channel of thread {native_id}")
        return os.pread(fd, 64, 0)
    except OSError:
        del _WCHAN_FDS[native_id]  # (not closed: the number may be a cell's own file by now)
        raise


def _forward(stream: Any, data: bytes) -> None:
    """What ipykernel's watcher does with what it read: to the cell's output, and to the original fd."""
    if data:
        stream.write(data.decode(errors="replace"))
        os.write(stream._original_stdstream_copy, data)


def _mark_prefix(data: bytes, mark: bytes) -> int:
    """The length of the longest end of ``data`` that is a beginning of ``mark`` (0: none)."""
    for size in range(min(len(data), len(mark) - 1), 0, -1):
        if data.endswith(mark[:size]):
            return size
    return 0
