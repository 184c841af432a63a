"""Per-request work a forked kernel skips because nobody reads it (private).

Loaded by path by the fork template (``_forktemplate.py``), which runs without this package; each function is
called in the child, before its kernel is built. The kernel's outputs, their order and what a notebook sees stay
as in a kernel started by ``ipykernel_launcher`` (tests/test_kernel_prebuilt.py, tests/test_kernel_lean.py).
"""

from __future__ import annotations

from typing import Any


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
