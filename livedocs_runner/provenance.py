"""What a run depended on: input-file and folder hashes, and the kernel's software environment.

The environment describes the kernel that runs the notebook, not the runner: its interpreter
(from the kernelspec), that interpreter's Python version and its installed packages. Asking an
interpreter costs a process start, so the answer is kept in the home
(``cache/interpreters/*.json``) and reused while the interpreter and the folders on its
``sys.path`` are unchanged (``pip install`` changes their modification times).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import platform
import re
import shutil
import stat
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

KEY_PACKAGES = ("livedocs-runner", "papermill", "nbclient", "nbformat", "nbconvert", "jupyter-client",
                "ipykernel", "pandas", "numpy", "matplotlib", "pyyaml")
MAX_TREE_FILES = 20_000  # a folder input bigger than this is not hashed: its runs are never answered from the cache
MAX_TREE_BYTES = 4 << 30
PROBE_TIMEOUT_S = 60.0
# (interpreter, PYTHONPATH) -> (stamps, info): a long-lived app or batch asks each interpreter once
_MEMO: dict[tuple[str, str], tuple[dict[str, list[int]], dict[str, Any]]] = {}
# run by the kernel's interpreter: its version and the folders it imports from ('' for -c's folder excluded)
_PROBE = ("import json, platform, sys; print(json.dumps({'python': platform.python_version(), "
          "'implementation': platform.python_implementation(), 'platform': platform.platform(), "
          "'path': [p for p in sys.path if p]}))")


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


# an input file's hash, kept in this process while a stat shows the same file (device, inode, size, mtime,
# ctime): a sweep of many scenarios over one data file, and a cache hit's second look, hash it once
_HASHED: dict[str, tuple[tuple[int, ...], str]] = {}
_HASHED_MAX = 4096
# a file modified this recently is never kept: a second change within the same timestamp tick (coarse on
# some file systems) could leave its stat unchanged (git's "racily clean" files)
RECENT_NS = 2_000_000_000


def file_stamp(path: str | Path) -> tuple[int, int, int, int, int] | None:
    """What ``os.stat`` says of a file for a cache kept while it is unchanged (device, inode, size, modification
    and change times), or None when it cannot be read."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def settled(stamp: tuple[int, ...] | None) -> bool:
    """Whether a file with this stamp may be remembered: missing, or not modified within ``RECENT_NS``."""
    return stamp is None or time.time_ns() - max(stamp[3], stamp[4]) > RECENT_NS


def input_sha256(path: str | Path) -> str:
    """:func:`sha256_file` of an input, remembered while ``os.stat`` shows the same, not recently modified, file."""
    key = os.path.abspath(path)
    stamp = file_stamp(key)
    if stamp is None:
        return sha256_file(path)  # raises as it always did
    kept = _HASHED.get(key)
    if kept is not None and kept[0] == stamp:
        return kept[1]
    sha = sha256_file(key)
    if file_stamp(key) == stamp and settled(stamp):
        if len(_HASHED) >= _HASHED_MAX:
            _HASHED.clear()
        _HASHED[key] = (stamp, sha)
    return sha


def hash_inputs(params: Mapping[str, Any], path_params: list[str]) -> list[dict[str, Any]]:
    """What every path parameter with a value named, hashed: ``{"parameter", "path", "type", "size", "sha256"}``.

    ``type`` is ``file``, ``folder`` (hashed as a tree, with its ``files`` count), ``missing`` or
    ``other`` (a FIFO, a device: never opened). ``sha256`` is None for a missing path, and for a
    folder too big to hash or anything else whose contents are unknown: those set ``"cacheable": False``.
    """
    out = []
    for name in path_params:
        value = params.get(name)
        if not value:
            continue
        path = Path(value)
        item: dict[str, Any] = {"parameter": name, "path": str(path)}
        if path.is_file():
            item.update(type="file", size=path.stat().st_size, sha256=input_sha256(path))
        elif path.is_dir():
            tree = hash_tree(path)
            item.update(type="folder", size=tree.size, files=tree.files, sha256=tree.sha256)
            if tree.sha256 is None:
                item.update(cacheable=False, note=tree.note)
        elif path.exists():
            item.update(type="other", size=None, sha256=None, cacheable=False)
        else:
            item.update(type="missing", size=None, sha256=None)
        out.append(item)
    return out


class Tree:
    """A folder's hash: ``sha256`` over sorted relative paths, link targets and file hashes (None if too big)."""

    def __init__(self, sha256: str | None, files: int, size: int, note: str = "") -> None:
        self.sha256, self.files, self.size, self.note = sha256, files, size, note


def hash_tree(root: Path, *, max_files: int = MAX_TREE_FILES, max_bytes: int = MAX_TREE_BYTES) -> Tree:
    """Hash the folder ``root``: every entry's relative path and kind, each file's content, each symlink's
    target (and what it points to, followed once: a link cycle or a link back up is hashed by name only).

    FIFOs, sockets and devices are named but never opened. Stops (``sha256`` None) past ``max_files``
    entries or ``max_bytes`` of content, so a huge folder costs a bounded time.
    """
    digest = hashlib.sha256()
    files = size = 0
    seen: set[tuple[int, int]] = set()
    stack: list[tuple[Path, str]] = [(root, "")]
    with contextlib.suppress(OSError):
        st = root.stat()
        seen.add((st.st_dev, st.st_ino))
    while stack:
        folder, prefix = stack.pop()
        try:
            names = sorted(os.listdir(folder))
        except OSError as exc:
            digest.update(f"unreadable\0{prefix}\0{exc.strerror}\n".encode("utf-8", "surrogateescape"))
            continue
        subfolders = []
        for name in names:
            files += 1
            if files > max_files:
                return Tree(None, files, size, f"more than {max_files} entries: not hashed")
            rel = f"{prefix}{name}"
            full = folder / name
            entry = rel.encode("utf-8", "surrogateescape")
            try:
                lst = full.lstat()
                if stat.S_ISLNK(lst.st_mode):
                    digest.update(b"link\0" + entry + b"\0" + os.fsencode(os.readlink(full)) + b"\n")
                    try:
                        lst = full.stat()  # what it points to
                    except OSError:
                        continue  # a dangling link: its target name is all there is
                if stat.S_ISDIR(lst.st_mode):
                    if (lst.st_dev, lst.st_ino) not in seen:
                        seen.add((lst.st_dev, lst.st_ino))
                        digest.update(b"dir\0" + entry + b"\n")
                        subfolders.append((full, rel + "/"))
                    else:
                        digest.update(b"dir-seen\0" + entry + b"\n")
                elif stat.S_ISREG(lst.st_mode):
                    size += lst.st_size
                    if size > max_bytes:
                        return Tree(None, files, size, f"more than {max_bytes} bytes: not hashed")
                    digest.update(b"file\0" + entry + b"\0" + input_sha256(full).encode() + b"\n")
                else:
                    digest.update(b"other\0" + entry + b"\n")
            except OSError as exc:
                digest.update(b"unreadable\0" + entry + b"\0" + str(exc.strerror).encode() + b"\n")
        stack.extend(reversed(subfolders))
    return Tree(digest.hexdigest(), files, size)


def _packages(path: list[str] | tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """Every distribution installed in the folders ``path`` as (normalised name, version), first one winning.

    Read from the ``*.dist-info`` / ``*.egg-info`` folder names (``name-version.dist-info``), not by
    parsing each METADATA file: that took ~0.25 s for 100 packages, on every CLI call.
    """
    seen: dict[str, str] = {}
    for entry in path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for folder in names:
            stem, dot, kind = folder.rpartition(".")
            if not dot or kind not in ("dist-info", "egg-info"):
                continue
            name, _, version = stem.partition("-")
            name = re.sub(r"[-_.]+", "-", name).lower()
            if name and name not in seen:
                seen[name] = version.partition("-")[0] or _version_of(Path(entry or ".", folder))
    return tuple(sorted(seen.items()))


def _version_of(folder: Path) -> str:
    """The ``Version:`` header of a metadata folder whose name carries no version (old egg-info)."""
    for meta in ("METADATA", "PKG-INFO"):
        with contextlib.suppress(OSError), open(folder / meta, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith("Version:"):
                    return line.split(":", 1)[1].strip()
                if not line.strip():
                    break
    return ""


@dataclasses.dataclass(frozen=True)
class KernelSpecInfo:
    """What a kernelspec says about the kernel's process: its command and language."""

    argv: tuple[str, ...]
    language: str


def find_kernelspec(kernel_name: str) -> KernelSpecInfo | None:
    """The kernelspec ``kernel_name`` as jupyter_client would find it (its folders, then ipykernel's
    built-in ``python3``), read without importing jupyter_client (a cache hit never does)."""
    if not re.fullmatch(r"[a-z0-9._\-]+", kernel_name, re.IGNORECASE) or set(kernel_name) == {"."}:
        return None  # what jupyter_client accepts as a kernel name: never a path
    from jupyter_core.paths import jupyter_path

    folders = tuple(jupyter_path("kernels"))
    specs = [Path(folder, kernel_name.lower(), "kernel.json") for folder in folders]
    stamps = tuple(file_stamp(spec) for spec in specs)
    known = _SPECS.get((kernel_name, folders))
    if known is not None and known[0] == stamps:  # no spec file appeared, changed or went since it was read
        return known[1]
    found = _read_kernelspec(kernel_name, specs)
    recent = time.time_ns() - RECENT_NS  # never one written (its mtime) in the last 2 s
    if all(stamp is None or stamp[3] < recent for stamp in stamps):
        _SPECS[(kernel_name, folders)] = (stamps, found)
    return found


# kernelspecs read in this process, kept while their files' stat is unchanged (a run looks its kernelspec up three
# times: checking it, capturing the environment, its language); (name, folders) -> (stamps, what was found)
_SPECS: dict[tuple[str, tuple[str, ...]], tuple[tuple[Any, ...], KernelSpecInfo | None]] = {}


def _read_kernelspec(kernel_name: str, specs: list[Path]) -> KernelSpecInfo | None:
    for spec in specs:
        with contextlib.suppress(OSError, ValueError, TypeError, AttributeError):
            data = json.loads(spec.read_text(encoding="utf-8"))
            return KernelSpecInfo(tuple(str(a) for a in data["argv"]), str(data.get("language", "")))
    if kernel_name == "python3":
        import importlib.util

        if importlib.util.find_spec("ipykernel") is not None:  # jupyter_client's native kernel: this Python
            return KernelSpecInfo((sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"), "python")
    return None


def kernel_interpreter(spec: KernelSpecInfo) -> str | None:
    """The executable a kernelspec starts, resolved as jupyter_client resolves it (``python`` is this Python)."""
    if not spec.argv:
        return None
    exe = spec.argv[0]
    if exe in ("python", f"python{sys.version_info[0]}", "python%i.%i" % sys.version_info[:2]):
        return sys.executable
    if not os.path.isabs(exe):
        exe = shutil.which(exe) or exe
    return exe


def interpreter_info(exe: str, cache_dir: Path | None = None) -> dict[str, Any] | None:
    """``{"python", "implementation", "platform", "path", "packages"}`` of the Python ``exe``; None if it cannot tell.

    Asks ``exe`` once for its version and ``sys.path`` and lists the packages there; kept in
    ``cache_dir`` while ``exe`` and those folders are unchanged.
    """
    return _kept(exe, os.environ.get("PYTHONPATH", ""), cache_dir, lambda: _ask_python(exe))


def _ask_python(exe: str) -> dict[str, Any] | None:
    import subprocess  # here: only when an interpreter's listing is not kept yet (a cache hit never asks)

    try:
        done = subprocess.run([exe, "-c", _PROBE], capture_output=True, text=True, timeout=PROBE_TIMEOUT_S,
                              cwd=os.path.dirname(exe) or None, stdin=subprocess.DEVNULL)
        probe = json.loads(done.stdout) if done.returncode == 0 else None
    except (OSError, ValueError, subprocess.SubprocessError):
        probe = None
    if not isinstance(probe, dict) or not isinstance(probe.get("path"), list):
        return None
    path = [str(p) for p in probe["path"]]
    return {"python": str(probe.get("python")), "implementation": str(probe.get("implementation")),
            "platform": str(probe.get("platform")), "path": path, "packages": [list(p) for p in _packages(path)]}


def _kept(exe: str, tag: str, cache_dir: Path | None, ask: Callable[[], dict[str, Any] | None]) -> dict[str, Any] | None:
    """``ask()``'s answer about ``exe`` (with a ``path`` list of its library folders), remembered in this process
    and in ``cache_dir`` while ``exe`` and those folders are unchanged. ``tag`` tells answers apart (PYTHONPATH)."""
    memo = _MEMO.get((exe, tag))
    if memo is not None and _stamps(list(memo[0])) == memo[0]:
        return memo[1]
    cache_file = None
    if cache_dir is not None:
        name = hashlib.sha256(f"{exe}\0{tag}".encode("utf-8", "surrogateescape")).hexdigest()[:32]
        cache_file = cache_dir / f"{name}.json"
        cached = _read_cached(cache_file, exe, tag)
        if cached is not None:
            _MEMO[(exe, tag)] = (_stamps([exe, *cached["path"]]), cached)
            return cached
    info = ask()
    if info is None:
        return None
    stamps = _stamps([exe, *info["path"]])
    _MEMO[(exe, tag)] = (stamps, info)
    if cache_file is not None:
        with contextlib.suppress(OSError):
            from .records.store import atomic_write

            atomic_write(cache_file, json.dumps({"exe": exe, "pythonpath": tag, "stamps": stamps, "info": info}))
    return info


def _stamps(paths: list[str]) -> dict[str, list[int]]:
    out = {}
    for path in paths:
        try:
            st = os.stat(path)
            out[path] = [st.st_mtime_ns, st.st_size, st.st_ino]
        except OSError:
            out[path] = []
    return out


def _read_cached(cache_file: Path, exe: str, pythonpath: str) -> dict[str, Any] | None:
    try:
        entry = json.loads(cache_file.read_text(encoding="utf-8"))
        if entry["exe"] != exe or entry["pythonpath"] != pythonpath:
            return None
        stamps = entry["stamps"]
        if _stamps(list(stamps)) != stamps:
            return None  # a package was installed or removed, or the interpreter changed
        if "platform" not in entry["info"]:
            return None  # written by 0.2.0 before the platform was asked of the interpreter: ask again once
        return dict(entry["info"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


R_KEY_PACKAGES = ("IRkernel", "IRdisplay", "jsonlite")
# run by an R kernel's interpreter: its version, library folders and installed packages, one per line
_R_PROBE = ('cat("version", paste(R.version$major, R.version$minor, sep = "."), R.version$platform, sep = "\\t"); '
            'cat("\\n"); for (p in .libPaths()) cat("path\\t", p, "\\n", sep = ""); '
            'ip <- installed.packages(fields = character(0))[, c("Package", "Version"), drop = FALSE]; '
            'for (i in seq_len(nrow(ip))) cat("package\\t", ip[i, 1], "\\t", ip[i, 2], "\\n", sep = "")')


def r_interpreter_info(exe: str, cache_dir: Path | None = None) -> dict[str, Any] | None:
    """``{"r", "platform", "path", "packages"}`` of the R ``exe``; None if it cannot tell. Kept like
    :func:`interpreter_info`'s answers, while ``exe`` and its library folders are unchanged."""
    return _kept(exe, "\0R", cache_dir, lambda: _ask_r(exe))  # "\0R" in place of PYTHONPATH: its own entry


def _ask_r(exe: str) -> dict[str, Any] | None:
    import subprocess  # here: only when an interpreter's listing is not kept yet (a cache hit never asks)

    try:
        done = subprocess.run([exe, "--vanilla", "--slave", "-e", _R_PROBE], capture_output=True, text=True,
                              timeout=PROBE_TIMEOUT_S, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    info: dict[str, Any] = {"r": None, "platform": None, "path": [], "packages": []}
    for line in done.stdout.splitlines() if done.returncode == 0 else []:
        fields = line.split("\t")
        if fields[0] == "version" and len(fields) == 3:
            info["r"], info["platform"] = fields[1], fields[2]
        elif fields[0] == "path" and len(fields) == 2:
            info["path"].append(fields[1])
        elif fields[0] == "package" and len(fields) == 3:
            info["packages"].append([fields[1], fields[2]])
    if not info["r"]:
        return None
    info["packages"].sort()
    return info


@dataclasses.dataclass(frozen=True)
class KernelEnvironment:
    """What :func:`capture_environment` found: the record's summary plus the whole package listing
    (``packages``: (name, version) pairs; ``path``: the interpreter's ``sys.path``) and the kernelspec,
    which :mod:`livedocs_runner.records.environments` stores once per distinct environment."""

    summary: dict[str, Any]
    packages: tuple[tuple[str, str], ...]
    path: tuple[str, ...]
    kernelspec: KernelSpecInfo | None


def environment(kernel_name: str, cache_dir: Path | None = None) -> dict[str, Any]:
    """The kernel's Python, interpreter, key package versions and a hash of its whole package set.

    Also the runner's own Python and interpreter under ``runner``. For a kernel that is not
    Python (or cannot be asked), ``packages_sha256`` hashes its command and executable instead.
    """
    return capture_environment(kernel_name, cache_dir).summary


def capture_environment(kernel_name: str, cache_dir: Path | None = None) -> KernelEnvironment:
    """:func:`environment`, keeping the full package listing and the kernelspec too."""
    spec = find_kernelspec(kernel_name)
    exe = kernel_interpreter(spec) if spec else None
    info = interpreter_info(exe, cache_dir) if exe and (spec and spec.language.lower() in ("python", "")) else None
    # the kernel interpreter's own platform, asked with its package listing (platform.platform() here costs
    # ~7 ms: it reads the interpreter binary, on every CLI call)
    env: dict[str, Any] = {"kernel": kernel_name, "executable": exe,
                           "platform": info["platform"] if info is not None and info.get("platform") else platform.platform()}
    if info is not None:
        packages = dict(tuple(p) for p in info["packages"])
        listing = "\n".join(f"{n}=={v}" for n, v in info["packages"])
        env.update(python=info["python"], implementation=info["implementation"],
                   packages={name: packages.get(name) for name in KEY_PACKAGES if name in packages},
                   packages_sha256=hashlib.sha256(listing.encode()).hexdigest())
    else:
        identity: dict[str, Any] = {"argv": list(spec.argv) if spec else None, "executable": exe,
                                    "stamp": _stamps([exe]).get(exe) if exe else None}
        r_info = r_interpreter_info(exe, cache_dir) if exe and spec and spec.language.lower() == "r" else None
        if r_info is not None:  # an R kernel: its version and installed packages (not kept as a pip listing)
            identity.update(r=r_info["r"], packages=r_info["packages"])
            installed = dict(tuple(p) for p in r_info["packages"])
        env.update(python=None, implementation=f"R {r_info['r']}" if r_info else None,
                   packages={n: installed[n] for n in R_KEY_PACKAGES if n in installed} if r_info else {},
                   packages_sha256=hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest())
    env.update(runner={"python": platform.python_version(), "executable": sys.executable},
               hostname=platform.node(), pid=os.getpid())
    if info is None:
        return KernelEnvironment(env, (), (), spec)
    return KernelEnvironment(env, tuple((str(n), str(v)) for n, v in info["packages"]),
                             tuple(info["path"]), spec)


def current_user() -> str:
    for var in ("LIVEDOCS_USER", "USER", "USERNAME", "LOGNAME"):
        if os.environ.get(var):
            return os.environ[var]
    try:
        import pwd
        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        return "unknown"
