"""The pages a forked kernel will write, copied in one go as it starts (private; Linux >= 5.14).

A forked kernel shares its template's memory copy-on-write: its first write to each shared page traps, and Linux
copies that page (~2.8 µs a page on the 2-core VM, measured). A kernel of the speed benchmark's notebook copies
~5 000 pages that way, ~2 900 while it starts and ~2 500 during its run, and nearly the same pages in every kernel
of a template (4 892 of 4 906 in common between two runs, measured): the reference counts, attributes and
allocator blocks of the objects every run uses. ``madvise(MADV_POPULATE_WRITE)`` makes the same private copies
without the traps (~1.9 µs a page). So the runner learns the set once per template from its first kernel, as that
kernel is released (:func:`written_pages`: the pages it holds privately where the template has one), tells the
template, and each later child copies those pages (:func:`populate`) as it starts: before its run, not during it.

What a kernel sees is unchanged: the copies hold the template's own bytes, and a page not mapped is skipped. The set
is addresses only, learned from one kernel's memory and applied to later kernels of the same template (the same
address space); a kernel that needs other pages copies them on first write, as before.

Loaded by the template by path (``_forktemplate.py``): it needs nothing from this package.
"""

from __future__ import annotations

import ctypes
import mmap
import os
from array import array

MADV_POPULATE_WRITE = 23  # Linux 5.14
SYS_PROCESS_MADVISE = 440  # the same number on every architecture
IOV_MAX = 1024
PAGE = mmap.PAGESIZE
MAX_PAGES = 1 << 16  # at most 256 MiB of copies a kernel
_PRESENT, _EXCLUSIVE = 1 << 63, 1 << 56  # /proc/PID/pagemap: the page is in memory; mapped by this process only


def _madvise() -> ctypes._CFuncPtr:
    function = ctypes.CDLL(None, use_errno=True).madvise
    function.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    function.restype = ctypes.c_int
    return function


def supported() -> bool:
    """Whether this Linux copies pages on ``MADV_POPULATE_WRITE`` (tried on a page of our own)."""
    try:
        probe = mmap.mmap(-1, PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    except (OSError, AttributeError):
        return False
    try:
        address = ctypes.addressof(ctypes.c_char.from_buffer(probe))
        return _madvise()(address, PAGE, MADV_POPULATE_WRITE) == 0
    except (OSError, AttributeError):
        return False
    finally:
        probe.close()  # (the buffer export above ended with its temporary)


def populate(ranges: list[tuple[int, int]]) -> int:
    """Copy the pages of ``ranges`` ((start, length) in bytes) now; the number of ranges that could not be (not
    mapped in this process: skipped). ``process_madvise`` takes up to ``IOV_MAX`` ranges a call (this advice, on
    the calling process: Linux >= 6.13), ~15 % faster than a call per range on scattered pages (measured)."""
    madvise = _madvise()
    failed = 0
    try:
        pidfd: int | None = os.pidfd_open(os.getpid())
    except (OSError, AttributeError):
        pidfd = None
    try:
        for index in range(0, len(ranges), IOV_MAX):
            chunk = ranges[index:index + IOV_MAX]
            done = _advise_all(pidfd, chunk) if pidfd is not None else 0
            for start, length in chunk[done:]:  # what that call left: one by one, skipping what is not mapped
                failed += madvise(start, length, MADV_POPULATE_WRITE) != 0
    finally:
        if pidfd is not None:
            os.close(pidfd)
    return failed


class _Range(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("length", ctypes.c_size_t)]  # struct iovec


def _advise_all(pidfd: int, chunk: list[tuple[int, int]]) -> int:
    """``MADV_POPULATE_WRITE`` on ``chunk`` in one ``process_madvise`` call; how many of its ranges were done
    completely (it stops at the first range not mapped; none where this Linux refuses the call)."""
    syscall = ctypes.CDLL(None, use_errno=True).syscall
    syscall.restype = ctypes.c_long
    advised = syscall(SYS_PROCESS_MADVISE, pidfd, (_Range * len(chunk))(*chunk), len(chunk), MADV_POPULATE_WRITE, 0)
    done = 0
    for _, length in chunk:
        if advised < length:
            break
        advised -= length
        done += 1
    return done


def written_pages(kernel_pid: int, template_pid: int) -> list[tuple[int, int]]:
    """The ranges ((start, length) in bytes) of pages ``kernel_pid`` holds privately where its template
    ``template_pid`` has a page: in the writable private mappings both have at the same place (the stack
    aside), pages the kernel copied. OSError when either process's memory cannot be read (it ended)."""
    kernel, template = _writable(kernel_pid), set(_writable(template_pid))
    ranges: list[tuple[int, int]] = []
    pages = 0
    with open(f"/proc/{kernel_pid}/pagemap", "rb") as mine, open(f"/proc/{template_pid}/pagemap", "rb") as theirs:
        for start, end in kernel:
            if (start, end) not in template:
                continue
            copied, shared = _entries(mine, start, end), _entries(theirs, start, end)
            for index, (entry, original) in enumerate(zip(copied, shared)):
                if entry & _EXCLUSIVE and entry & _PRESENT and original & _PRESENT:
                    address = start + index * PAGE
                    if ranges and ranges[-1][0] + ranges[-1][1] == address:
                        ranges[-1] = (ranges[-1][0], ranges[-1][1] + PAGE)
                    else:
                        ranges.append((address, PAGE))
                    pages += 1
                    if pages >= MAX_PAGES:
                        return ranges
    return ranges


def _writable(pid: int) -> list[tuple[int, int]]:
    """(start, end) of ``pid``'s private writable mappings, its stack aside."""
    found = []
    with open(f"/proc/{pid}/maps", encoding="ascii", errors="replace") as maps:
        for line in maps:
            fields = line.split()
            if fields[1].startswith("rw") and fields[1][3] == "p" and fields[-1] != "[stack]":
                start, _, end = fields[0].partition("-")
                found.append((int(start, 16), int(end, 16)))
    return found


def _entries(pagemap: object, start: int, end: int) -> array:
    entries = array("Q")
    pagemap.seek(start // PAGE * 8)  # type: ignore[attr-defined]
    entries.frombytes(pagemap.read((end - start) // PAGE * 8))  # type: ignore[attr-defined]
    return entries
