"""What a run depended on: input-file hashes and the software environment."""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import sys
from collections.abc import Mapping
from importlib import metadata
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
    seen = {}
    for dist in metadata.distributions():
        name = (dist.metadata.get("Name") or "").lower().replace("_", "-")
        if name:
            seen[name] = dist.version
    return tuple(sorted(seen.items()))


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
