"""Kernelspecs for the kernel managers of runs (private): looked up as jupyter_client does, remembered while unchanged.

A kernel manager looks its kernelspec up when it starts a kernel: a ``KernelSpecManager`` built for it, the
Jupyter data folders worked out from the environment (user, environment, system: ownership checks, symlinks)
and listed, the spec read: 0.2-1 ms of the runner's CPU per run (py-spy, a 200-run batch), for the same
answer every time. :func:`kernel_spec` answers with a copy of the spec jupyter_client found, while the
environment variables are the same (the folders) and the folders it looked in, the spec's folder and its
``kernel.json`` are unchanged (their ``os.stat``: a spec installed, edited or removed is seen at the next run;
one written in the last two seconds is never remembered).
"""

from __future__ import annotations

import copy
import os
import threading
from typing import TYPE_CHECKING

from .provenance import file_stamp, settled

if TYPE_CHECKING:
    from jupyter_client.kernelspec import KernelSpec

_Stamps = tuple[tuple[str, tuple[int, ...] | None], ...]
_LOCK = threading.Lock()
_KNOWN: dict[tuple[str, tuple[str, ...]], tuple[_Stamps, KernelSpec]] = {}
_FOLDERS: tuple[tuple[tuple[str, str], ...], tuple[str, ...]] | None = None  # (the environment, its kernel folders)


def kernel_spec(kernel_name: str) -> KernelSpec:
    """``KernelSpecManager().get_kernel_spec(kernel_name)``, the same spec or the same error, as a copy the caller
    may keep; remembered while the files it came from are unchanged."""
    from jupyter_client.kernelspec import KernelSpecManager

    folders = _folders()
    key = (kernel_name, folders)
    with _LOCK:
        known = _KNOWN.get(key)
    if known is not None and _stamps(known[0]) == known[0]:
        return _copy(known[1])
    spec = KernelSpecManager(kernel_dirs=list(folders)).get_kernel_spec(kernel_name)  # or NoSuchKernel, as ever
    watched = [*folders, spec.resource_dir, os.path.join(spec.resource_dir, "kernel.json")]
    stamps = tuple((path, file_stamp(path)) for path in watched)
    if all(settled(stamp) for _, stamp in stamps):
        with _LOCK:
            _KNOWN[key] = (stamps, _copy(spec))
    return spec


def _folders() -> tuple[str, ...]:
    """``KernelSpecManager().kernel_dirs``, worked out again when an environment variable changed."""
    global _FOLDERS
    from jupyter_client.kernelspec import KernelSpecManager

    environ = tuple(sorted(os.environ.items()))
    with _LOCK:
        known = _FOLDERS
    if known is not None and known[0] == environ:
        return known[1]
    folders = tuple(KernelSpecManager().kernel_dirs)
    with _LOCK:
        _FOLDERS = (environ, folders)
    return folders


def _stamps(known: _Stamps) -> _Stamps:
    return tuple((path, file_stamp(path)) for path, _ in known)


def _copy(spec: KernelSpec) -> KernelSpec:
    return type(spec)(resource_dir=spec.resource_dir, **copy.deepcopy(spec.to_dict()))
