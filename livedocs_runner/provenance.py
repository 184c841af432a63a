"""What a run depended on: input-file hashes and the software environment."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import platform
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

KEY_PACKAGES = ("livedocs-runner", "papermill", "nbclient", "nbformat", "nbconvert", "jupyter-client",
                "ipykernel", "pandas", "numpy", "matplotlib", "pyyaml")


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def hash_inputs(params: Mapping[str, Any], path_params: list[str]) -> list[dict[str, Any]]:
    """``[{"parameter", "path", "size", "sha256"}]`` for every path parameter with a value."""
    out = []
    for name in path_params:
        value = params.get(name)
        if not value:
            continue
        path = Path(value)
        if path.is_file():
            out.append({"parameter": name, "path": str(path), "size": path.stat().st_size, "sha256": sha256_file(path)})
        else:
            out.append({"parameter": name, "path": str(path), "size": None, "sha256": None})
    return out


@functools.lru_cache(maxsize=None)
def _packages() -> tuple[tuple[str, str], ...]:
    """Every installed distribution as (normalised name, version), first on ``sys.path`` winning.

    Read from the ``*.dist-info`` / ``*.egg-info`` folder names (``name-version.dist-info``), not by
    parsing each METADATA file: that took ~0.25 s for 100 packages, on every CLI call.
    """
    seen: dict[str, str] = {}
    for entry in sys.path:
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


def environment(kernel_name: str) -> dict[str, Any]:
    """Python, platform, kernel, key package versions and a hash of the whole package set."""
    packages = dict(_packages())
    listing = "\n".join(f"{n}=={v}" for n, v in _packages())
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "executable": sys.executable,
        "kernel": kernel_name,
        "packages": {name: packages.get(name) for name in KEY_PACKAGES if name in packages},
        "packages_sha256": hashlib.sha256(listing.encode()).hexdigest(),
        "hostname": platform.node(),
        "pid": os.getpid(),
    }


def current_user() -> str:
    for var in ("LIVEDOCS_USER", "USER", "USERNAME", "LOGNAME"):
        if os.environ.get(var):
            return os.environ[var]
    try:
        import pwd
        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        return "unknown"
