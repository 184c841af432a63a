"""The kernel manager every run uses (private): jupyter_client's, minus per-kernel work nobody reads.

Measured on a 200-run batch (py-spy, GIL samples of the runner), three things each manager did for one
kernel: build its own zmq context, whose first socket started zmq's I/O and reaper threads, which
``cleanup_resources`` then joined (as :func:`~livedocs_runner._client.shared_context` already saves for the
clients); connect a control socket as soon as the kernel started (used only to ask the kernel to shut down
politely or, for a kernelspec with ``interrupt_mode: message``, to interrupt it; runs kill and signal their
kernels); and look its kernelspec up again (see ``_kernelspecs.py``). Together ~1.5-2 ms of the runner's
CPU per run. The control socket still connects, on first use, where jupyter_client uses it: both places
connect it themselves. Its clients also skip the ``kernel_info`` round trip for a forked kernel whose
template's first kernel already answered it (``ReadyClient.ready_memo``).

A pool opens a waiting kernel's client ahead of its run (:meth:`RunKernelManager.open_client`): creating the
client and its sockets, connecting them and the kernel greeting the IOPub subscription took ~2 ms of a warm run's
~40 ms (measured), now spent while the kernel waits; the run's ``client()`` takes that client.

A forked kernel gets its connection (ports, key) in its fork request, not in a connection file
(:attr:`RunKernelManager.file_deferred`): writing the file took two file creations and two deletions per run
(jupyter_client's ``secure_write`` removes the ``mkstemp`` file and creates it again), and on ext4 without a
journal every file created later scans past the inodes deleted in the last one to six minutes: after a few
thousand runs, each file a run writes cost ~1 ms more (measured: 30 µs a file, 570 µs after 1000 deletions).
A kernel that cannot be forked gets its file written (:meth:`RunKernelManager.write_deferred_connection_file`)
before it starts, as always.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
import weakref
from typing import Any

import zmq.asyncio
from jupyter_client.connect import port_names
from jupyter_client.manager import AsyncKernelManager

from ._client import shared_context
from ._kernelspecs import kernel_spec
from .kernels import kernel_process


class RunKernelManager(AsyncKernelManager):  # type: ignore[misc]
    """``AsyncKernelManager`` on the process's shared zmq context, connecting its control socket on first use."""

    _starting = False
    _opened: Any = None  # a client whose channels open_client started, not yet taken by client()
    # the kernel gets its connection from its launcher (a fork request), not from a file: write_connection_file
    # only names the file (the launch command carries the name) until write_deferred_connection_file is called
    file_deferred = False

    def _context_default(self) -> zmq.asyncio.Context:
        return shared_context()  # not created here: cleanup_resources leaves it for the next kernel

    async def _async_post_start_kernel(self, **kw: Any) -> None:
        self._starting = True
        try:
            await super()._async_post_start_kernel(**kw)
        finally:
            self._starting = False

    def write_connection_file(self, **kwargs: Any) -> None:
        """jupyter_client's, or, while :attr:`file_deferred` (and the ports are chosen, as ``pre_launch`` does for
        TCP), only the file's name: an unguessable one, as the file is never written for a forked kernel."""
        if not self.file_deferred or self.transport != "tcp" or not all(getattr(self, name) for name in port_names):
            self.file_deferred = False
            super().write_connection_file(**kwargs)
        elif not self.connection_file:
            self.connection_file = os.path.join(tempfile.gettempdir(), f"kernel-{uuid.uuid4()}.json")

    def write_deferred_connection_file(self) -> None:
        """Write the connection file after all, for a kernel that starts from it (one that could not be forked)."""
        self.file_deferred = False
        self.write_connection_file()

    def _connect_control_socket(self) -> None:
        if not self._starting:  # request_shutdown and a message-mode interrupt connect it when they need it
            super()._connect_control_socket()

    def client(self, **kwargs: Any) -> Any:
        """A client that knows what an earlier kernel of the same fork template answered (``ready_memo``): the
        one :meth:`open_client` opened, if any and nothing else is asked of it, else a new one."""
        kc, self._opened = self._opened, None
        if kc is not None and not kwargs:
            return kc  # its channels are started: nbclient's start_channels finds them there
        if kc is not None:
            kc.stop_channels()
        kc = super().client(**kwargs)
        kc.ready_memo = ready_memo(self)
        return kc

    def open_client(self) -> None:
        """Start the next run's client now (shell and IOPub connected, subscribed): the kernel's greeting of the
        subscription waits in the socket, so the run's readiness check finds it at once. From any one thread
        at a time (a pool's warming thread); the run's thread takes the client with :meth:`client`."""
        if self._opened is None:
            kc = self.client()
            kc.start_channels()
            self._opened = kc

    def close_client(self) -> None:
        """Close the client :meth:`open_client` opened, if no run took it (its sockets would keep reconnecting
        to a dead kernel)."""
        kc, self._opened = self._opened, None
        if kc is not None:
            kc.stop_channels()


_READY_MEMOS: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()  # template -> memo


def ready_memo(km: Any) -> dict[str, Any] | None:
    """The ``ReadyClient.ready_memo`` shared by the kernels of ``km``'s fork template; None for another kernel."""
    template = getattr(kernel_process(km), "template", None)
    if template is None:
        return None
    return _READY_MEMOS.setdefault(template, {})


def run_manager(kernel_name: str) -> RunKernelManager:
    """An unstarted :class:`RunKernelManager` for ``kernel_name`` whose kernelspec is already looked up."""
    km = RunKernelManager(kernel_name=kernel_name, client_class="livedocs_runner._client.ReadyClient")
    with contextlib.suppress(Exception):  # an unknown kernel fails where it always did, when the manager looks
        km._kernel_spec = kernel_spec(km.kernel_name)  # (the name as normalised: "python" is python3)
    return km
