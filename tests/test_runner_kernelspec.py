"""A kernelspec read once is kept in the process while its file is unchanged (a run looks it up three times), and
read again as soon as a spec file appears, changes or goes; one written in the last 2 s is never kept."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from livedocs_runner import provenance
from livedocs_runner.provenance import KernelSpecInfo, find_kernelspec


def write_spec(root: Path, name: str, argv: list[str], *, age: float = 10.0) -> Path:
    spec = root / "kernels" / name / "kernel.json"
    spec.parent.mkdir(parents=True, exist_ok=True)
    spec.write_text(json.dumps({"argv": argv, "display_name": name, "language": "python"}), encoding="utf-8")
    past = time.time() - age
    os.utime(spec, (past, past))
    return spec


def test_kept_while_unchanged_read_again_when_changed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    monkeypatch.setenv("JUPYTER_PATH", f"{first}{os.pathsep}{second}")
    write_spec(second, "mine", ["python", "-m", "second"])
    assert find_kernelspec("mine") == KernelSpecInfo(("python", "-m", "second"), "python")
    assert any(key[0] == "mine" for key in provenance._SPECS)  # kept
    assert find_kernelspec("mine") == KernelSpecInfo(("python", "-m", "second"), "python")
    spec = write_spec(first, "mine", ["python", "-m", "first"])  # a folder searched before appears
    assert find_kernelspec("mine") == KernelSpecInfo(("python", "-m", "first"), "python")
    write_spec(first, "mine", ["python", "-m", "edited"], age=20.0)  # rewritten in place, even with an older mtime
    assert find_kernelspec("mine") == KernelSpecInfo(("python", "-m", "edited"), "python")
    spec.unlink()
    assert find_kernelspec("mine") == KernelSpecInfo(("python", "-m", "second"), "python")
    (second / "kernels" / "mine" / "kernel.json").unlink()
    assert find_kernelspec("mine") is None


def test_a_spec_written_just_now_is_not_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    write_spec(tmp_path, "fresh", ["python", "-m", "a"], age=0.0)
    assert find_kernelspec("fresh") == KernelSpecInfo(("python", "-m", "a"), "python")
    assert not any(key[0] == "fresh" for key in provenance._SPECS)
