"""Where a project's run store lives when no ``--home``/``$LIVEDOCS_HOME`` is given, found like git finds
its repository (UI-free: the CLI and the app ask it).

From the working directory upward: the nearest ``.livedocs/`` folder is the store, so a command run from
``notebooks/`` uses the project's history instead of starting a second one. The search ends at the
project's root, the nearest folder with ``configs/`` or ``pyproject.toml``: a store above it belongs to
another project (or is a stray one, e.g. in ``/tmp``) and is never used. With none, a new store goes into
the project's root, else into the working directory. The search never looks at the filesystem root,
nor above ``$HOME`` for a folder inside it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import StoreError

HOME_DIR = ".livedocs"
PROJECT_MARKERS = (("configs", "folder"), ("pyproject.toml", "file"))


@dataclass(frozen=True, kw_only=True)
class HomeLocation:
    """The run store folder for a working directory, and why it is there.

    Usage: ``location = discover_home(Path.cwd())``; when ``location.exists`` is False,
    ``create_home(location)`` makes it (the caller says where, once).
    """

    path: Path  # absolute
    exists: bool  # False: nothing was found and the store is to be made here
    reason: str  # "found", "next to configs/", "next to pyproject.toml" or "in the working directory"


def search_dirs(start: Path, user_home: Path | None = None) -> Iterator[Path]:
    """``start`` and its parents, nearest first; never the filesystem root (unless ``start`` is it), and
    for a ``start`` inside ``user_home`` ($HOME by default) nothing above ``user_home``."""
    start = Path(os.path.abspath(start))
    ceilings = _ceilings(start, user_home)
    yield start
    for parent in start.parents:
        if parent == parent.parent or parent in ceilings:
            return
        yield parent


def discover_home(start: Path, *, user_home: Path | None = None) -> HomeLocation:
    """The nearest existing ``.livedocs/`` folder from ``start`` up to the project's root, else where to make one."""
    dirs = list(search_dirs(start, user_home))
    root = next(((folder, name) for folder in dirs for name, kind in PROJECT_MARKERS if _is(folder / name, kind)), None)
    if root is not None:
        dirs = dirs[: dirs.index(root[0]) + 1]  # not above the project's root: another project's store
    for folder in dirs:
        if _is(folder / HOME_DIR, "folder"):  # a file of that name is not a store: passed by
            return HomeLocation(path=folder / HOME_DIR, exists=True, reason="found")
    if root is not None:
        folder, name = root
        return HomeLocation(path=folder / HOME_DIR, exists=False, reason=f"next to {name}"
                            + ("/" if _is(folder / name, "folder") else ""))
    return HomeLocation(path=dirs[0] / HOME_DIR, exists=False, reason="in the working directory")


def create_home(location: HomeLocation) -> bool:
    """Make the store folder of ``location``; True when this call made it (False: it exists already,
    e.g. made meanwhile by another process). Raises :class:`StoreError` when it cannot be made."""
    path = location.path
    try:
        path.mkdir()
        return True
    except FileExistsError:
        if path.is_dir():
            return False
        kind = "a broken link" if path.is_symlink() else "a file"
        raise StoreError(f"{path} is {kind}, not a run store folder.",
                         hint="Move it away, or pass a run store folder with --home DIR (or $LIVEDOCS_HOME).") from None
    except OSError as exc:
        raise StoreError(f"cannot make the run store folder {path} ({exc.strerror or exc}).",
                         hint="Pass a folder you can write with --home DIR (or $LIVEDOCS_HOME).") from exc


def find_upward(start: Path, name: str, *, user_home: Path | None = None) -> Path | None:
    """The nearest folder called ``name`` from ``start`` upward (same limits as the store search)."""
    for folder in search_dirs(start, user_home):
        if _is(folder / name, "folder"):
            return folder / name
    return None


def _ceilings(start: Path, user_home: Path | None) -> set[Path]:
    """The folders the search stops before: ``$HOME``'s parent, when ``start`` is inside ``$HOME``."""
    if user_home is None:
        value = os.environ.get("HOME")
        if not value:
            return set()
        user_home = Path(value)
    out = set()
    for home in {Path(os.path.abspath(user_home)), _real(user_home)}:
        if home != home.parent and start.is_relative_to(home):
            out.add(home.parent)
    return out


def _real(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return Path(os.path.abspath(path))


def _is(path: Path, kind: str) -> bool:
    """Whether ``path`` is a folder (or file); a folder we may not look into counts as nothing there."""
    try:
        return path.is_dir() if kind == "folder" else path.is_file()
    except OSError:
        return False
