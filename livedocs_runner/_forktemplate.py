"""The fork-server template process (private; see ``forkserver.py``).

Started with the kernel's own Python as ``python -c BOOTSTRAP <this file> <config json>``, so it
needs nothing from this package on that interpreter's path. It imports ipykernel, IPython, every
module a kernel imports while it initialises (``KERNEL_IMPORTS``) and the warm imports once, then
forks one kernel per request. Before forking it also builds what every kernel would build the same
way (``_forkprebuilt.py``): the kernel application with its parsed configuration, profile folder and config
files, and the IPython shell (``ZMQInteractiveShell``, a singleton the kernel adopts in the child).
It never runs user code (the profile's startup files, ``exec_lines`` and extensions run in the
child), never creates a zmq context and starts no thread: each child builds its own sockets,
connection, session key, IOPub thread and event loop, so a forked kernel starts from the same state
as a fresh ``ipykernel_launcher``, minus IPython's SQLite history (``KERNEL_CONFIG``: a database
write per cell nobody reads; ``In``/``Out`` work). After the imports it fills their first-use caches
on made-up data, library code only (``_forkwarm.py``), and in each child sets pandas' kernel-dependent
option defaults as an import inside a kernel would. Its kernels skip work nobody reads (``_lighten``).

Protocol: one JSON object per line. The template first writes ``{"ready": ...}``; then for every
``{"op": "fork", "connection_file", "cwd", "env", "runner_pid"}`` it replies ``{"pid": N}``
(or ``{"error": "..."}``), and later ``{"bound": N, "ok": true}`` once that kernel has bound its
sockets and built its kernel (``"ok": false``: it ended before), so the runner needs no kernel_info
round trip to know it is up (``"chains": true``: it honours ``_forkchain.py``, so a run may send requests
ahead); ``{"op": "hot", "ranges": [[start, length], ...]}`` gives the pages each later child copies as it
starts (no reply; only if its ready message said ``"populates": true``, see ``_forkhot.py``);
``{"op": "exit"}`` ends it and leaves its kernels running; end of input (the runner closed the pipe or
died) ends it and kills its kernels.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import importlib
import importlib.util
import json
import os
import runpy
import select
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

# what every kernel imports while it initialises (measured: ~85 ms of a forked kernel's ~125 ms of
# start-up CPU, most of it debugpy via ipykernel.debugger); imported once here, before any fork.
# Not matplotlib_inline.backend_inline: it hooks itself into the running shell when imported, so the
# child must import it (inline figures would silently vanish otherwise; tests/test_isolation.py).
KERNEL_IMPORTS = ("ipykernel.ipkernel", "ipykernel.zmqshell", "ipykernel.debugger", "ipykernel.comm",
                  "ipykernel.iostream", "ipykernel.heartbeat", "ipykernel.eventloops", "ipykernel.displayhook",
                  "ipykernel.parentpoller", "IPython.core.completer", "IPython.core.history",
                  "IPython.core.completerlib", "IPython.core.debugger", "IPython.core.logger", "IPython.core.oinspect",
                  "IPython.extensions.storemagic", "IPython.utils.wildcard", "faulthandler", "ipykernel_launcher",
                  "tornado.ioloop", "tornado.platform.asyncio", "zmq.eventloop.zmqstream", "psutil")
# what a warm import's first use in a cell imports lazily (a DataFrame's HTML repr): imported with it
COMPANIONS = {"pandas": ("pandas.io.formats.html", "pandas.io.formats.string", "pyarrow.pandas_compat",
                      "pyarrow.vendored.version")}
# per-run work nobody reads: IPython's SQLite history (a database write and a saving thread per kernel)
KERNEL_CONFIG = {"HistoryManager": {"enabled": False}}
REAP_AFTER_S = 5.0  # a dead child stays a zombie this long, so the runner's pidfd_open never misses it
PR_SET_CHILD_SUBREAPER = 36
_FORKWARM = Path(__file__).with_name("_forkwarm.py")  # first-use caches and the kernel's module list
_LOADED: dict[str, Any] = {}  # _forkwarm.py's namespace, once loaded
# kill_tree, loaded by path as _forkwarm.py is (this file runs without the package; _launcher.py uses it too)
_PROCKILL: dict[str, Any] = runpy.run_path(str(Path(__file__).with_name("_prockill.py")))
# what a forked kernel skips that nobody reads (loaded by path too): see _forklean.py
_LEAN: dict[str, Any] = runpy.run_path(str(Path(__file__).with_name("_forklean.py")))
# message dates parsed without dateutil, as the runner's clients parse them (loaded by path too)
_WIRE: dict[str, Any] = runpy.run_path(str(Path(__file__).with_name("_wire.py")))
# requests a run sends ahead run only after the cell before them succeeded (loaded by path too): _forkchain.py
_CHAIN: dict[str, Any] = runpy.run_path(str(Path(__file__).with_name("_forkchain.py")))
# the pages its kernels will write, copied as each starts (loaded by path too): _forkhot.py
_HOT: dict[str, Any] = runpy.run_path(str(Path(__file__).with_name("_forkhot.py")))
# the kernel application and shell built once for every child (loaded by path too): _forkprebuilt.py
_PREBUILT: dict[str, Any] = runpy.run_path(str(Path(__file__).with_name("_forkprebuilt.py")))


def main(config: dict) -> None:
    proto_in, proto_out = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)  # a stray print while importing never corrupts the protocol
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    cwd = Path(config["cwd"])
    # like ipykernel_launcher: the working folder is not on sys.path while ipykernel loads
    if sys.path and (sys.path[0] == "" or Path(sys.path[0]) == Path.cwd()):
        del sys.path[0]
    os.environ.pop("JPY_PARENT_PID", None)  # kernelapp reads it at import time
    import IPython  # noqa: F401
    from ipykernel import kernelapp  # noqa: F401

    for name in KERNEL_IMPORTS:
        _kernel_import(name)
    skipped = [name for name in config["warm_imports"] if not _warm_import(name, cwd)]
    for name in config["warm_imports"]:
        if name not in skipped:
            for companion in COMPANIONS.get(name, ()):
                _kernel_import(companion)
    prebuilt, prebuild_error = _PREBUILT["prebuild"](KERNEL_CONFIG)
    if _FORKWARM.is_file():
        _forkwarm()  # loaded before the fork: every child calls into it
    # (not for a small batch: the runner says so, see forkserver.WARM_MIN_KERNELS)
    warm = [name for name in config["warm_imports"] if name not in skipped] if config.get("warm", True) else []
    warmed = _warm_first_use(warm, prebuilt)
    lightened = _lighten(prebuilt)
    if prebuilt is not None and _LOADED:
        prebuilt["modules"] = _forkwarm()["ModuleFiles"]()  # last: the modules as the children inherit them
    gc.collect()
    gc.freeze()  # imported modules stay shared (copy-on-write) and out of every child's collections
    populates = bool(config.get("populate", True)) and _HOT["supported"]()
    ready = {"ready": True, "pid": os.getpid(), "skipped": skipped, "threads": threading.active_count(),
             "populates": populates,
             "os_threads": _os_threads(),
             "prebuilt": sorted(prebuilt or ()), "prebuild_error": prebuild_error, "warmed": warmed,
             "lightened": lightened}
    _send(proto_out, ready)
    _serve(proto_in, proto_out, devnull, prebuilt, populates)


def _warm_import(name: str, cwd: Path) -> bool:
    """Import an installed module; False for one in the notebook's folder (user code) or that fails."""
    try:
        sys.path.insert(0, str(cwd))
        try:
            spec = importlib.util.find_spec(name.partition(".")[0])
        finally:
            sys.path.pop(0)
        locations = [spec.origin or ""] + list(spec.submodule_search_locations or []) if spec else []
        if spec is None or any(loc and Path(loc).resolve().is_relative_to(cwd.resolve()) for loc in locations):
            return False
        before = threading.active_count()
        importlib.import_module(name)
        if threading.active_count() != before:
            raise RuntimeError(f"importing {name} started a thread; forking after it is unsafe")
        return True
    except RuntimeError:
        raise
    except Exception:  # noqa: BLE001 - the notebook's own import fails again, visibly
        return False


def _kernel_import(name: str) -> None:
    """Import one of the kernel's own modules; one that is missing (an older ipykernel) is left to the child."""
    before = threading.active_count()
    with contextlib.suppress(ImportError):
        importlib.import_module(name)
    if threading.active_count() != before:
        raise RuntimeError(f"importing {name} started a thread; forking after it is unsafe")


def _forkwarm() -> dict[str, Any]:
    """``_forkwarm.py``'s namespace, loaded once by path (this file runs without the package)."""
    if not _LOADED:
        _LOADED.update(runpy.run_path(str(_FORKWARM)))
    return _LOADED


def _warm_first_use(imported: list[str], prebuilt: dict[str, Any] | None) -> list[str]:
    """Fill the warm imports' first-use caches (``_forkwarm.py``); the libraries warmed."""
    if not imported or not _LOADED:
        return []
    threads, tasks = threading.active_count(), _os_threads()
    warmed = _forkwarm()["warm_first_use"](imported, (prebuilt or {}).get("shell"))
    if threading.active_count() != threads or _os_threads() != tasks:
        raise RuntimeError(f"warming {', '.join(warmed)} started a thread; forking after it is unsafe")
    return warmed


def _lighten(prebuilt: dict[str, Any] | None) -> list[str]:
    """Skip per-kernel work nobody reads (``_forkwarm.py``: log records no handler writes, a signature
    check per request, two glob patterns compiled per kernel, a cell's second transform); the names of what was
    skipped."""
    if not _LOADED:
        return []
    loaded = _forkwarm()
    done = []
    with contextlib.suppress(Exception):  # an optimisation: never a reason for a template to fail
        loaded["warm_startup_globs"]()
        done.append("startup_globs")
    with contextlib.suppress(Exception):
        if loaded["cache_signature_checks"]():
            done.append("signature_checks")
    with contextlib.suppress(Exception):
        if prebuilt is not None and loaded["skip_unread_log_records"](prebuilt["app"].log):
            done.append("log_records")
    with contextlib.suppress(Exception):
        if loaded["transform_each_cell_once"]():
            done.append("transform_once")
    return done


def _os_threads() -> int | None:
    return len(os.listdir("/proc/self/task")) if os.path.isdir("/proc/self/task") else None


def _serve(proto_in: int, proto_out: int, devnull: int, prebuilt: dict[str, Any] | None, populates: bool) -> None:
    runner = os.getppid()
    hot: list[tuple[int, int]] = []  # the pages each child copies as it starts (see _forkhot.py)
    children: dict[int, float] = {}
    starting: dict[int, int] = {}  # the read end of a starting kernel's "bound" pipe -> its pid
    buffer = b""
    while True:
        readable, _, _ = select.select([proto_in, *starting], [], [], 1.0)
        _reap(children)
        if os.getppid() != runner:
            _kill_all(children)
            return
        for fd in readable:
            if fd in starting:
                pid, said = starting.pop(fd), b""
                with contextlib.suppress(OSError):
                    said = os.read(fd, 1)  # end of file: the kernel ended before binding its sockets
                os.close(fd)
                _send(proto_out, {"bound": pid, "ok": said in (b"1", b"2"), "chains": said == b"2"})
        if proto_in not in readable:
            continue
        data = os.read(proto_in, 1 << 16)
        if not data:
            _kill_all(children)
            return
        buffer += data
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            request = json.loads(line)
            if request.get("op") == "exit":
                return
            if request.get("op") == "hot":
                hot[:] = [(int(start), int(length)) for start, length in request["ranges"]] if populates else []
                continue
            try:
                pid, bound = _fork(request, (proto_in, proto_out, *starting), devnull, prebuilt, hot)
            except Exception as exc:  # noqa: BLE001 - reported to the runner, which falls back
                _send(proto_out, {"error": f"{type(exc).__name__}: {exc}"})
                continue
            children[pid] = time.monotonic()
            starting[bound] = pid
            _send(proto_out, {"pid": pid})


def _fork(request: dict, server_fds: tuple[int, ...], devnull: int,
          prebuilt: dict[str, Any] | None, hot: list[tuple[int, int]]) -> tuple[int, int]:
    """Fork a kernel: (its pid, the read end of its "bound" pipe)."""
    sync_r, sync_w = os.pipe()
    bound_r, bound_w = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        for fd in (sync_r, sync_w, bound_r, bound_w):
            os.close(fd)
        raise
    if pid == 0:
        os.close(sync_r)
        os.close(bound_r)
        _child(request, server_fds, devnull, sync_w, bound_w, prebuilt, hot)  # never returns
    os.close(sync_w)
    os.close(bound_w)
    os.read(sync_r, 1)  # EOF once the child has its own session: killpg(pid) works from now on
    os.close(sync_r)
    return pid, bound_r


def _child(request: dict, server_fds: tuple[int, ...], devnull: int, sync_w: int, bound_w: int,
           prebuilt: dict[str, Any] | None, hot: list[tuple[int, int]]) -> None:
    code = 1
    try:
        os.setsid()
        # a process the notebook double-forks is re-parented to the kernel, not init: the runner finds it
        ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        os.close(sync_w)
        if hot:  # now, not trap by trap as it starts and runs (the template went on once it had our session)
            _HOT["populate"](hot)
        for fd in server_fds:  # the template's pipes, and the "bound" pipes of kernels starting alongside
            os.close(fd)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        os.chdir(request["cwd"])
        _set_environ(request["env"])
        os.environ.pop("JPY_PARENT_PID", None)  # our parent is the template; _watch_runner replaces the poller
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)  # as the runner starts fresh kernels: stdout/stderr to /dev/null
        os.close(devnull)
        _watch_runner(int(request["runner_pid"]))
        if "numpy.random" in sys.modules:  # every kernel gets its own unseeded random state, as a fresh one
            sys.modules["numpy.random"].seed()
        import ipykernel_launcher

        sys.argv = [ipykernel_launcher.__file__, "-f", request["connection_file"]]
        _LEAN["flush_only_when_pending"]()
        drain = _LEAN["CellEndDrain"]()
        if prebuilt is None:  # IPKernelApp.launch_instance, telling the template when it is bound
            from ipykernel.kernelapp import IPKernelApp
            from traitlets.config import Config

            app = IPKernelApp.instance(config=Config(KERNEL_CONFIG))
            _LEAN["without_shell_channel_thread"](app)
            _connect_as_requested(app, request.get("connection"))
            app.initialize(None)
        else:
            app = _initialize_prebuilt(prebuilt, request["connection_file"], request.get("connection"))
        drain.install(app.kernel)
        chained = _CHAIN["RequestChain"]().install(app.kernel)
        if _LOADED:  # pandas imported before there was a kernel: its kernel-dependent defaults, as in a kernel
            _LOADED["as_imported_in_a_kernel"]()
            _LOADED["skip_unread_log_records"](app.log)  # (the kernel's own start may have configured logging)
        with contextlib.suppress(OSError):  # a template that is gone has no one to tell
            # sockets bound, kernel built: messages sent to it now wait in its queues ("2": it honours the chain)
            os.write(bound_w, b"2" if chained else b"1")
        os.close(bound_w)
        app.start()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # noqa: BLE001 - the child must never return into the template's loop
        traceback.print_exc()
    finally:
        try:
            import atexit

            atexit._run_exitfuncs()  # the kernel's own clean-up (history), as at a normal exit
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _set_environ(env: dict[str, str]) -> None:
    """``os.environ`` becomes ``env``, changing only what differs: the template's is that environment plus
    what its imports and prebuilt shell set (a handful), so most of ~100 putenv calls are saved."""
    for key in [key for key in os.environ if key not in env]:
        del os.environ[key]
    for key, value in env.items():
        if os.environ.get(key) != value:
            os.environ[key] = value


def _connect_as_requested(app: Any, connection: dict[str, Any] | None) -> None:
    """With ``connection`` (the runner's ports and key, from the fork request), ``app`` binds to those and neither
    reads nor writes its connection file (never written: see _manager.py); without, it reads the file, as ever."""
    if connection is not None:
        app.init_connection_file = lambda: app.load_connection_info(connection)  # where initialize reads the file
        app.write_connection_file = lambda **kwargs: None
        app.log_connection_info = lambda: _note_ports(app)


def _note_ports(app: Any) -> None:
    """``log_connection_info`` without the lines it logs and prints ("--existing FILE", a file not written here):
    only what it stores, the ports a ``connect_request`` is answered with."""
    app._ports = {name: getattr(app, f"{name}_port") for name in ("shell", "iopub", "stdin", "hb", "control")}


def _initialize_prebuilt(prebuilt: dict[str, Any], connection_file: str, connection: dict[str, Any] | None) -> Any:
    """``IPKernelApp.initialize`` on the template's application: everything it does after the
    configuration (connection file, sockets, IO, the kernel, extensions, startup files). Only the
    configuration step, already done, is skipped. Returns the application, to ``start()``."""
    from IPython.core.application import BaseIPythonApplication

    from jupyter_client.session import new_id

    app = prebuilt["app"]
    app.connection_file = connection_file  # what `-f CONNECTION_FILE` sets
    app.session.session = new_id()  # this kernel's own session id (message ids include it) and pid; the key and
    app.session.pid = os.getpid()  # the signature scheme come from the fork request (or the connection file)
    _WIRE["fast_dates"](app.session)
    _LEAN["without_shell_channel_thread"](app)
    _connect_as_requested(app, connection)
    if "shell" in prebuilt:
        _PREBUILT["adopt_shell"](prebuilt["shell"])
    undo = prebuilt["modules"].install() if "modules" in prebuilt else None  # see _forkwarm.ModuleFiles
    configure = BaseIPythonApplication.initialize
    BaseIPythonApplication.initialize = lambda self, argv=None: None  # IPKernelApp.initialize's super() call
    try:
        app.initialize([])
    finally:
        BaseIPythonApplication.initialize = configure
        if undo is not None:
            undo()
    return app


def _watch_runner(runner_pid: int) -> None:
    """Kill this kernel and its descendants when the runner process ends (a fresh kernel's parent poller)."""
    try:
        pidfd = os.pidfd_open(runner_pid)
    except OSError:
        _PROCKILL["kill_tree"]()
        os.killpg(0, signal.SIGKILL)
        return

    def watch() -> None:
        select.select([pidfd], [], [])
        _PROCKILL["kill_tree"]()
        os.killpg(0, signal.SIGKILL)

    threading.Thread(target=watch, name="livedocs-runner-watch", daemon=True).start()


def _reap(children: dict[int, float]) -> None:
    now = time.monotonic()
    for pid, forked in list(children.items()):
        if now - forked < REAP_AFTER_S:
            continue
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            done = pid
        if done:
            del children[pid]


def _kill_all(children: dict[int, float]) -> None:
    """The runner is gone: kill every kernel and everything they started (they are all our descendants)."""
    _PROCKILL["kill_tree"]()
    for pid in children:
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass


def _send(fd: int, message: dict) -> None:
    data = (json.dumps(message) + "\n").encode()
    while data:
        data = data[os.write(fd, data):]


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
