"""Kernel environments kept once in the home, so a past run's software can be shown, compared and restored.

Layout: ``environments/<sha256>.json`` (read-only), named by the SHA-256 of its own canonical JSON, so
each distinct environment (package set, Python, platform, kernelspec, declared variables) is one file
shared by every run that used it. A run's record keeps its name as ``environment.environment_id``.

A declared variable whose name looks secret (``*KEY*``, ``*TOKEN*``, ``*SECRET*``, ``*PASSWORD*``) is
kept as set/unset only: its value is never written anywhere.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError
from .store import atomic_write

if TYPE_CHECKING:
    from ..provenance import KernelEnvironment
    from .store import RunRecord

FORMAT = 1
_SECRET = re.compile(r"KEY|TOKEN|SECRET|PASSWORD", re.IGNORECASE)
_ID = re.compile(r"[0-9a-f]{64}")


def is_secret(name: str) -> bool:
    """A variable name that looks like it holds a credential: only whether it is set is ever kept."""
    return bool(_SECRET.search(name))


def variables(names: Iterable[str], environ: Mapping[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """``{name: {"set": bool, "value": str | None}}``; a secret-looking name gets ``{"set", "secret": True}``."""
    environ = os.environ if environ is None else environ
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        present = name in environ
        out[name] = {"set": present, "secret": True} if is_secret(name) else \
            {"set": present, "value": environ[name] if present else None}
    return out


def environments_dir(home: str | Path) -> Path:
    return Path(home) / "environments"


def environment_document(kernel: KernelEnvironment, declared: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """What is stored for one environment (without the runner's host and process details)."""
    summary = kernel.summary
    spec = kernel.kernelspec
    return {
        "format": FORMAT,
        "kernel": summary.get("kernel"),
        "kernelspec": {"argv": list(spec.argv), "language": spec.language} if spec else None,
        "executable": summary.get("executable"),
        "python": summary.get("python"),
        "implementation": summary.get("implementation"),
        "platform": summary.get("platform"),
        "packages_sha256": summary.get("packages_sha256"),
        "packages": {name: version for name, version in kernel.packages},
        "installs": _direct_installs(kernel.path, {name for name, _ in kernel.packages}),
        "variables": {name: dict(value) for name, value in sorted(declared.items())},
    }


def store_environment(home: str | Path, kernel: KernelEnvironment,
                      declared: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    """Keep the environment ``kernel`` (plus the ``declared`` variables) once; return its id (a SHA-256).

    Remembered in this process while the kernel's library folders and the kept file are unchanged (building the
    document reads every package's ``direct_url.json``: ~1.5 ms a run)."""
    key = _memo_key(home, kernel, declared or {})
    remembered = _KEPT.get(key)
    if remembered is not None and remembered[0] == _folder_stamps(kernel.path) \
            and (environments_dir(home) / f"{remembered[1]}.json").is_file():
        return remembered[1]
    stamps = _folder_stamps(kernel.path)
    document = environment_document(kernel, declared or {})
    text = json.dumps(document, sort_keys=True, indent=1, ensure_ascii=False)
    env_id = hashlib.sha256(text.encode("utf-8")).hexdigest()
    path = environments_dir(home) / f"{env_id}.json"
    if not path.is_file():
        atomic_write(path, text)
        with contextlib.suppress(OSError):
            os.chmod(path, 0o444)
    if len(_KEPT) >= _KEPT_MAX:
        _KEPT.clear()
    _KEPT[key] = (stamps, env_id)
    return env_id


# (home, what the document is built from) -> (the library folders' stamps when it was built, its id)
_KEPT: dict[tuple[Any, ...], tuple[tuple[tuple[int, ...], ...], str]] = {}
_KEPT_MAX = 64


def _memo_key(home: str | Path, kernel: KernelEnvironment, declared: Mapping[str, Mapping[str, Any]]) -> tuple[Any, ...]:
    summary = kernel.summary
    fields = tuple(str(summary.get(name)) for name in ("kernel", "executable", "python", "implementation", "platform",
                                                      "packages_sha256"))
    variables = tuple(sorted((name, tuple(sorted((k, str(v)) for k, v in value.items())))
                             for name, value in declared.items()))
    return (str(Path(home).resolve()), fields, kernel.packages, kernel.path, kernel.kernelspec, variables)


def _folder_stamps(path: Iterable[str]) -> tuple[tuple[int, ...], ...]:
    """Each library folder's (mtime, inode): installing or removing a package changes its folder's mtime."""
    out = []
    for entry in path:
        try:
            st = os.stat(entry or ".")
            out.append((st.st_mtime_ns, st.st_ino))
        except OSError:
            out.append(())
    return tuple(out)


def read_json(path: Path, *, missing: str, hint: str, unreadable: str, valid: Callable[[Any], bool],
              damaged: str) -> dict[str, Any]:
    """The JSON object in a file the home keeps. InputError ``missing`` (and ``hint``) when it is not there,
    ``unreadable (reason).`` when it cannot be read or parsed, ``damaged`` unless ``valid(data)``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(missing, hint=hint) from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{unreadable} ({exc}).") from None
    if not isinstance(data, dict) or not valid(data):
        raise InputError(damaged)
    return data


def load_environment(home: str | Path, env_id: str) -> dict[str, Any]:
    """The stored environment ``env_id`` (InputError when it is not in this home or is damaged)."""
    if not _ID.fullmatch(env_id):
        raise InputError(f"{env_id!r} is not an environment id (64 hex digits).")
    path = environments_dir(home) / f"{env_id}.json"
    return read_json(path, missing=f"the environment file {path} is missing from the home.",
                     hint="Copy it back from a backup of the home; without it only the package hash is known.",
                     unreadable=f"the environment file {path} cannot be read",
                     valid=lambda data: isinstance(data.get("packages"), dict),
                     damaged=f"the environment file {path} is damaged (no package listing).")


def environment_of(home: str | Path, record: RunRecord) -> dict[str, Any]:
    """The stored environment of ``record``; a clear InputError for a run recorded before environments were kept."""
    env_id = record.environment.get("environment_id")
    if not isinstance(env_id, str):
        known = record.environment.get("packages_sha256")
        what = f"only the hash of its package set ({known[:12]}) is known" if isinstance(known, str) else \
            "its environment was never captured (it did not start)"
        raise InputError(f"run {record.id} was recorded without a stored environment: {what}.",
                         hint=f"Runs recorded by this release keep theirs; `livedocs rerun {record.id}` records a new run with it.")
    return load_environment(home, env_id)


@dataclass(frozen=True)
class EnvDiff:
    """The difference between two stored environments; empty fields mean the same."""

    added: dict[str, str] = field(default_factory=dict)  # packages only in the second
    removed: dict[str, str] = field(default_factory=dict)  # packages only in the first
    changed: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (first, second) versions
    other: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # python, implementation, platform, kernelspec ...
    variables: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (first, second), as shown

    @property
    def same(self) -> bool:
        return not (self.added or self.removed or self.changed or self.other or self.variables)

    @property
    def packages_same(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def to_json(self) -> dict[str, Any]:
        return {"added": self.added, "removed": self.removed,
                "changed": {k: {"old": a, "new": b} for k, (a, b) in self.changed.items()},
                "other": {k: {"old": a, "new": b} for k, (a, b) in self.other.items()},
                "variables": {k: {"old": a, "new": b} for k, (a, b) in self.variables.items()}}


def diff_environments(first: Mapping[str, Any], second: Mapping[str, Any]) -> EnvDiff:
    """What changed from the environment ``first`` to ``second``."""
    a, b = dict(first.get("packages") or {}), dict(second.get("packages") or {})
    other = {key: (first.get(key), second.get(key))
             for key in ("python", "implementation", "platform", "kernel", "kernelspec", "executable")
             if first.get(key) != second.get(key)}
    va, vb = first.get("variables") or {}, second.get("variables") or {}
    changed_vars = {name: (shown_variable(va.get(name)), shown_variable(vb.get(name)))
                    for name in sorted({*va, *vb}) if va.get(name) != vb.get(name)}
    return EnvDiff(added={n: b[n] for n in sorted(b.keys() - a.keys())},
                   removed={n: a[n] for n in sorted(a.keys() - b.keys())},
                   changed={n: (a[n], b[n]) for n in sorted(a.keys() & b.keys()) if a[n] != b[n]},
                   other=other, variables=changed_vars)


def shown_variable(value: Mapping[str, Any] | None) -> str:
    """How a recorded variable is shown: ``unset``, ``set (secret: value not kept)`` or its value quoted."""
    if value is None:
        return "not declared"
    if not value.get("set"):
        return "unset"
    if value.get("secret"):
        return "set (secret: value not kept)"
    return json.dumps(value.get("value"), ensure_ascii=False)


def requirements(document: Mapping[str, Any], title: str = "") -> str:
    """A pip requirements file with exact pins that recreates ``document``'s package set.

    Packages installed from a local folder or in editable mode cannot be pinned from an index: they are
    listed as comments that say where they came from.
    """
    lines = [f"# {title}" if title else "# Requirements of a livedocs kernel environment",
             f"# Python {document.get('python') or '?'} ({document.get('implementation') or '?'}) "
             f"on {document.get('platform') or '?'}",
             "# Recreate: python -m venv env && env/bin/pip install -r requirements.txt"]
    installs = document.get("installs") or {}
    for name, version in sorted((document.get("packages") or {}).items()):
        how = installs.get(name)
        if how and how.get("kind") in ("editable", "local"):
            lines.append(f"# {name}=={version}  ({how['kind']} install from {how.get('url')}: not on an index; "
                         f"install that source with pip install {'-e ' if how['kind'] == 'editable' else ''}PATH)")
        elif how and how.get("kind") == "vcs":
            lines.append(f"{name} @ {how.get('url')}")
        elif version:
            lines.append(f"{name}=={version}")
        else:
            lines.append(f"# {name}  (no version recorded: pin it by hand)")
    return "\n".join(lines) + "\n"


def _direct_installs(path: Iterable[str], names: set[str]) -> dict[str, dict[str, str]]:
    """Packages pip installed from a folder, a file or version control (PEP 610 ``direct_url.json``)."""
    out: dict[str, dict[str, str]] = {}
    for entry in path:
        try:
            folders = os.listdir(entry or ".")
        except OSError:
            continue
        for folder in folders:
            if not folder.endswith(".dist-info"):
                continue
            name = re.sub(r"[-_.]+", "-", folder[: -len(".dist-info")].partition("-")[0]).lower()
            if name not in names or name in out:
                continue
            try:
                data = json.loads(Path(entry, folder, "direct_url.json").read_text(encoding="utf-8"))
                url = str(data["url"])
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if isinstance(data.get("vcs_info"), dict):
                vcs = data["vcs_info"]
                out[name] = {"kind": "vcs", "url": f"{vcs.get('vcs', 'git')}+{url}@{vcs.get('commit_id', '')}"}
            elif isinstance(data.get("dir_info"), dict) and data["dir_info"].get("editable"):
                out[name] = {"kind": "editable", "url": url}
            elif url.startswith("file:"):
                out[name] = {"kind": "local", "url": url}
    return out
