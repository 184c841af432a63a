"""What every page shares: settings from the environment, the store, the job queue, the catalog, links."""

from __future__ import annotations

import atexit
import dataclasses
import functools
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import streamlit as st

from livedocs_runner.errors import LivedocsError
from livedocs_runner.forkserver import warm_kernels
from livedocs_runner.jobs import JobQueue
from livedocs_runner.pool import PoolOptions
from livedocs_runner.provenance import current_user
from livedocs_runner.scenarios import Config, load_config
from livedocs_runner.records.store import Store, open_store

from . import timing
from .safe import public, report_unexpected


@dataclass(frozen=True)
class Settings:
    """``LIVEDOCS_CONFIGS``, ``LIVEDOCS_HOME``, ``LIVEDOCS_WORKERS`` and ``LIVEDOCS_APP_WORKER`` (set by
    ``livedocs app``; ``0`` for ``--no-worker``: runs are left to ``livedocs worker`` processes)."""

    configs: Path
    home: Path
    workers: int
    worker: bool = True

    @classmethod
    def from_env(cls) -> Settings:
        try:
            workers = max(1, int(os.environ.get("LIVEDOCS_WORKERS", "2")))
        except ValueError:
            workers = 2
        return cls(Path(os.environ.get("LIVEDOCS_CONFIGS", "configs")).resolve(),
                   Path(os.environ.get("LIVEDOCS_HOME", ".livedocs")).resolve(), workers,
                   os.environ.get("LIVEDOCS_APP_WORKER", "1").strip() != "0")


@dataclass(frozen=True)
class Entry:
    """One catalog entry: a loaded config, or the error that kept it from loading."""

    name: str
    path: Path
    config: Config | None = None
    error: str | None = None


@dataclass(frozen=True)
class Services:
    settings: Settings
    store: Store
    queue: JobQueue
    kernels: Any = None  # the in-process worker's warm kernels (None with --no-worker)


_STARTED: dict[Settings, Services] = {}  # built by apps/livedocs_serve.py when the server starts
_BUILT: list[Services] = []  # every one built in this process, for stop_all()


def start(settings: Settings) -> Services:
    """Build the services before the server starts (``livedocs app``): the worker resumes queued runs at once."""
    built = _STARTED[settings] = _build(settings)
    return built


@st.cache_resource(show_spinner=False)
def _services(settings: Settings) -> Services:
    return _STARTED.get(settings) or _build(settings)


def stop_all() -> None:
    """Stop every worker and kernel pool this process built and forget them (tests: no idle worker polling
    the store of a finished test)."""
    _services.clear()
    _FOUND.clear()
    _STARTED.clear()
    while _BUILT:
        built = _BUILT.pop()
        built.queue.shutdown()
        if built.kernels is not None:
            built.kernels.close()


def _build(settings: Settings) -> Services:
    built = _make(settings)
    _BUILT.append(built)
    return built


def _make(settings: Settings) -> Services:
    store = open_store(settings.home, os.environ.get("LIVEDOCS_DB"))  # --db / $LIVEDOCS_DB: see `livedocs app`
    # no abandon_stale here: the store's queue knows which runs are lost (the worker's recover_lost), and runs of
    # other live workers (another app, `livedocs worker`) must never be marked abandoned by this app starting
    if not settings.worker:  # --no-worker: submissions wait in the store for `livedocs worker` processes
        queue = JobQueue(store, worker=False)
        return Services(settings, store, queue)
    # kernels started ahead of demand (forked from a pre-imported template on Linux), one run each
    kernels = warm_kernels(PoolOptions(size=settings.workers))
    atexit.register(kernels.close)
    queue = JobQueue(store, workers=settings.workers, kernels=kernels)  # its worker resumes queued runs at once
    atexit.register(queue.shutdown)  # stop running kernels when the server stops (runs before kernels.close)
    return Services(settings, store, queue, kernels)


CATALOG_TTL_S = 10
_ENV = ("LIVEDOCS_CONFIGS", "LIVEDOCS_HOME", "LIVEDOCS_WORKERS", "LIVEDOCS_APP_WORKER", "LIVEDOCS_DB")
_FOUND: dict[tuple[str | None, ...], Services] = {}  # the environment as text -> its services


def services() -> Services:
    """The services for this environment. Pages ask many times per script run: after the first, a plain
    dictionary answers (Streamlit's cache hashes its argument, a dataclass, on every call: ~0.2 ms)."""
    key = (os.getcwd(), *(os.environ.get(name) for name in _ENV))
    found = _FOUND.get(key)
    if found is None:
        found = _FOUND[key] = _services(Settings.from_env())
    if timing.enabled():  # LIVEDOCS_DEBUG: every store query the pages make is timed
        return dataclasses.replace(found, store=timing.TimedStore(found.store))  # type: ignore[arg-type]
    return found


def load_entry(path: Path, roots: list[Path]) -> Entry:
    """One catalog entry; a config that cannot be loaded, for whatever reason, is one broken entry.

    ``error`` is safe to show a web user: the message without server paths, or for an unexpected
    failure only a reference id (the traceback goes to the server log).
    """
    try:
        return Entry(path.stem, path, config=load_config(path))
    except LivedocsError as exc:
        return Entry(path.stem, path, error=public(str(exc), roots))
    except Exception as exc:  # noqa: BLE001 - a bug or an odd file must not take the catalog down
        ref = report_unexpected(exc, f"cannot load config {path}")
        return Entry(path.stem, path, error=f"This config could not be loaded (reference {ref}). "
                                            "The details are in the server log.")


@functools.lru_cache(maxsize=16)  # not st.cache_resource: hashing the stamp costs more than the lookup saves
def _catalog(folder: str, stamp: tuple, period: int) -> list[Entry]:
    root = Path(folder)
    return [load_entry(root / name, [root.parent, root, Path.cwd()]) for name, _ in stamp]


def _stamp(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:  # a dangling link, a file removed meanwhile: loading it reports the problem
        return -1


def catalog() -> list[Entry]:
    """Every config in the configs folder (reloaded when a YAML file changes)."""
    folder = services().settings.configs
    try:
        paths = sorted(folder.glob("*.y*ml")) if folder.is_dir() else []
    except OSError:
        paths = []
    # reloaded when a config file changes, and every CATALOG_TTL_S (a config's schema also comes from its notebook)
    return _catalog(str(folder), tuple((p.name, _stamp(p)) for p in paths), int(time.monotonic() // CATALOG_TTL_S))


def broken(name: str) -> Entry | None:
    """The catalog entry called ``name`` when its config could not be loaded."""
    return next((e for e in catalog() if e.name == name and e.config is None), None)


def find_config(name: str | None = None, *, path: str | None = None) -> Config | None:
    for entry in catalog():
        if entry.config is None:
            continue
        if name is not None and entry.name == name:
            return entry.config
        if path is not None and entry.config.path is not None and str(entry.config.path.resolve()) == path:
            return entry.config
    return None


def store_stamp(home: Path) -> tuple[int, ...] | None:
    """Changes whenever the SQLite store does (a write touches ``runs.db`` or its ``-wal``); None when
    there is no such file to watch, and then nothing is answered from memory."""
    db = home / "runs.db"
    try:
        stamps = [db.stat()]
        wal = db.with_name(db.name + "-wal")
        if wal.exists():
            stamps.append(wal.stat())
    except OSError:
        return None
    return tuple(v for st_ in stamps for v in (st_.st_mtime_ns, st_.st_size, st_.st_ino))


@st.cache_resource(show_spinner=False, max_entries=32)
def _runs(home: str, stamp: tuple[int, ...], notebook: str | None, status: str | None, limit: int) -> tuple[Any, ...]:
    return tuple(services().store.list(notebook=notebook, status=status, limit=limit))


def runs(*, notebook: str | None = None, status: str | None = None, limit: int = 50) -> list[Any]:
    """``store.list``, answered from memory until the store changes (a new run, any update): what the
    catalog and the results page ask on every rerun."""
    home = services().settings.home
    stamp = store_stamp(home)
    if stamp is None:
        return services().store.list(notebook=notebook, status=status, limit=limit)
    return list(_runs(str(home), stamp, notebook, status, limit))


def capacity() -> str:
    """How many runs run at once, as the sidebar and a waiting run say it: this app's own slots, or (``--no-worker``)
    that separate ``livedocs worker`` processes run them (their number is not known here)."""
    slots = services().queue.workers
    return f"{slots} at a time" if slots else "run by separate workers"


def user() -> str:
    """The name recorded with runs: the sidebar field, else ``LIVEDOCS_USER`` or the OS user."""
    return (st.session_state.get("user") or "").strip() or current_user()


def go(**params: Any) -> None:
    """Navigate: replace the query string (works in callbacks; the rerun follows)."""
    st.query_params.from_dict({k: v for k, v in params.items() if v is not None})  # one message, no empty address between


def link(**params: Any) -> str:
    """The full URL of a page of this app, for sharing."""
    base = urlsplit((st.context.url or "").split("?")[0] or "http://localhost:8501/")
    page = urlunsplit((base.scheme, base.netloc, base.path or "/", "", ""))
    return page + "?" + urlencode({k: v for k, v in params.items() if v is not None}, safe=",")
