"""What a run depended on, without kernels: folder inputs hashed as trees, the kernel's interpreter
found from its kernelspec, and that interpreter's package listing kept on disk while it is unchanged."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from livedocs_runner import provenance
from livedocs_runner.execute import cache_key, plan_cache_key
from livedocs_runner.plan import plan_runs
from livedocs_runner.provenance import KernelSpecInfo, environment, hash_inputs, hash_tree, interpreter_info
from tests.conftest import NOTEBOOKS


def tree(root: Path) -> Path:
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "a.csv").write_text("x\n1\n", encoding="utf-8")
    (root / "sub" / "b.csv").write_text("x\n2\n", encoding="utf-8")
    (root / "sub" / "deeper" / "c.bin").write_bytes(b"\0\1\2")
    return root


def test_a_folder_hash_changes_with_any_content_name_or_file(tmp_path: Path) -> None:
    root = tree(tmp_path / "data")
    first = hash_tree(root)
    assert first.sha256 and (first.files, first.size) == (5, 11)
    assert hash_tree(root).sha256 == first.sha256
    (root / "sub" / "b.csv").write_text("x\n3\n", encoding="utf-8")  # same size, other content
    changed = hash_tree(root).sha256
    assert changed != first.sha256
    (root / "sub" / "b.csv").rename(root / "sub" / "b2.csv")
    renamed = hash_tree(root).sha256
    assert renamed not in (first.sha256, changed)
    (root / "sub" / "deeper" / "new.txt").write_text("", encoding="utf-8")
    assert hash_tree(root).sha256 not in (first.sha256, changed, renamed)
    (root / "sub" / "deeper" / "new.txt").unlink()
    assert hash_tree(root).sha256 == renamed


def test_a_folder_hash_does_not_depend_on_where_the_folder_is(tmp_path: Path) -> None:
    assert hash_tree(tree(tmp_path / "one")).sha256 == hash_tree(tree(tmp_path / "two")).sha256


def test_symlinks_are_followed_once_and_loops_end(tmp_path: Path) -> None:
    root = tree(tmp_path / "data")
    outside = tmp_path / "outside.csv"
    outside.write_text("v1", encoding="utf-8")
    (root / "link.csv").symlink_to(outside)
    (root / "sub" / "loop").symlink_to(root)  # a cycle back up
    (root / "dangling").symlink_to(tmp_path / "nowhere")
    first = hash_tree(root)
    assert first.sha256 is not None
    outside.write_text("v2", encoding="utf-8")  # what a link points to is part of the input
    assert hash_tree(root).sha256 != first.sha256


def test_fifos_are_named_never_opened(tmp_path: Path) -> None:
    root = tree(tmp_path / "data")
    os.mkfifo(root / "pipe")  # opening it would block forever
    assert hash_tree(root).sha256 is not None


def test_a_folder_too_big_is_not_hashed_and_its_runs_are_never_cached(tmp_path: Path) -> None:
    root = tree(tmp_path / "data")
    assert hash_tree(root, max_files=3).sha256 is None
    assert hash_tree(root, max_bytes=5).sha256 is None
    [plan] = plan_runs(NOTEBOOKS / "simple.ipynb")
    inputs = [{"parameter": "data", "path": str(root), "type": "folder", "sha256": None, "cacheable": False}]
    assert cache_key(plan, inputs, {}) is None


def test_path_inputs_record_their_type(tmp_path: Path) -> None:
    root = tree(tmp_path / "data")
    params = {"folder": str(root), "file": str(root / "a.csv"), "gone": str(tmp_path / "nope")}
    items = {i["parameter"]: i for i in hash_inputs(params, ["folder", "file", "gone"])}
    assert items["folder"]["type"] == "folder" and items["folder"]["files"] == 5
    assert items["folder"]["sha256"] == hash_tree(root).sha256
    assert items["file"]["type"] == "file" and items["file"]["size"] == 4
    assert (items["gone"]["type"], items["gone"]["sha256"]) == ("missing", None)


def kernelspec(folder: Path, name: str, argv: list[str], language: str = "python") -> Path:
    spec = folder / "kernels" / name
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "language": language, "display_name": name}))
    return folder


def test_the_environment_describes_the_kernels_interpreter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wrapper = tmp_path / "bin" / "kernel-python"  # another interpreter path: another kernel environment
    wrapper.parent.mkdir()
    wrapper.write_text(f"#!/bin/sh\nexec {sys.executable} \"$@\"\n", encoding="utf-8")
    wrapper.chmod(0o755)
    monkeypatch.setenv("JUPYTER_PATH", str(kernelspec(tmp_path / "jupyter", "other", [str(wrapper), "-m",
                                                                                      "ipykernel_launcher"])))
    env = environment("other", tmp_path / "cache")
    assert env["executable"] == str(wrapper)
    assert env["python"] == "%d.%d.%d" % sys.version_info[:3]
    assert env["runner"]["executable"] == sys.executable
    assert env["packages"]["livedocs-runner"]
    default = environment("python3", tmp_path / "cache")
    assert default["executable"] == sys.executable  # "python" in a kernelspec is the runner's Python
    [plan] = plan_runs(NOTEBOOKS / "simple.ipynb")
    assert cache_key(plan, [], env) != cache_key(plan, [], default)


def test_a_kernel_that_is_not_python_is_identified_by_its_command(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTER_PATH", str(kernelspec(tmp_path / "jupyter", "ir", ["/bin/true", "--", "{connection_file}"],
                                                      language="R")))
    env = environment("ir", tmp_path / "cache")
    assert (env["executable"], env["python"], env["packages"]) == ("/bin/true", None, {})
    assert len(env["packages_sha256"]) == 64


def test_the_package_listing_is_kept_until_a_package_is_installed(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    extra = tmp_path / "extra"
    (extra / "alpha-1.0.dist-info").mkdir(parents=True)
    monkeypatch.setenv("PYTHONPATH", str(extra))
    provenance._MEMO.clear()
    cache = tmp_path / "cache"
    info = interpreter_info(sys.executable, cache)
    assert info is not None and ["alpha", "1.0"] in info["packages"] and str(extra) in info["path"]
    [cached] = cache.glob("*.json")
    # the kept listing is what answers next time (mark it to see it come back)
    entry = json.loads(cached.read_text())
    entry["info"]["python"] = "marked"
    cached.write_text(json.dumps(entry))
    provenance._MEMO.clear()
    assert interpreter_info(sys.executable, cache)["python"] == "marked"
    (extra / "beta-2.0.dist-info").mkdir()  # "pip install beta": the folder changed, the listing is redone
    provenance._MEMO.clear()
    again = interpreter_info(sys.executable, cache)
    assert again["python"] != "marked" and ["beta", "2.0"] in again["packages"]


def test_the_platform_is_the_kernel_interpreters_and_an_older_listing_is_asked_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import platform

    monkeypatch.delenv("PYTHONPATH", raising=False)
    provenance._MEMO.clear()
    cache = tmp_path / "cache"
    info = interpreter_info(sys.executable, cache)
    assert info is not None and info["platform"] == platform.platform()
    [cached] = cache.glob("*.json")
    entry = json.loads(cached.read_text())
    del entry["info"]["platform"]  # what a listing kept before the platform was asked for looks like
    entry["info"]["python"] = "marked"
    cached.write_text(json.dumps(entry))
    provenance._MEMO.clear()
    again = interpreter_info(sys.executable, cache)
    assert again["python"] != "marked" and again["platform"] == platform.platform()  # asked again, once


def test_a_config_with_cache_false_has_no_cache_key(tmp_path: Path) -> None:
    config = tmp_path / "nocache.yaml"
    config.write_text(f"notebook: {NOTEBOOKS / 'simple.ipynb'}\ncache: false\n", encoding="utf-8")
    [plan] = plan_runs(config)
    assert plan.cache is False and plan_cache_key(plan) is None
    [cached] = plan_runs(NOTEBOOKS / "simple.ipynb")
    assert cached.cache and plan_cache_key(cached)


def test_kernelspec_is_found_without_jupyter_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTER_PATH", str(kernelspec(tmp_path / "jupyter", "mine", ["python", "-m", "x"])))
    assert provenance.find_kernelspec("mine") == KernelSpecInfo(("python", "-m", "x"), "python")
    assert provenance.find_kernelspec("no-such-kernel") is None
    for name in ("../jupyter/kernels/mine", "..", "a/b", ""):
        assert provenance.find_kernelspec(name) is None


def test_the_apps_cache_lookup_honours_cache_false(tmp_path: Path) -> None:
    from livedocs_runner.jobs import cached_result
    from livedocs_runner.records.store import Store

    config = tmp_path / "nocache.yaml"
    config.write_text(f"notebook: {NOTEBOOKS / 'simple.ipynb'}\ncache: false\n", encoding="utf-8")
    [plan] = plan_runs(config)
    assert cached_result(plan, Store(tmp_path / "home")) is None


names = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\\\0"),
                min_size=1, max_size=12).filter(lambda n: n not in (".", ".."))
trees = st.dictionaries(st.lists(names, min_size=1, max_size=3).map(tuple), st.binary(max_size=64),
                        min_size=1, max_size=8)


def build(root: Path, files: dict[tuple[str, ...], bytes]) -> Path | None:
    """Write ``files`` under ``root``; None when two paths collide (a file where a folder must be)."""
    try:
        for parts, content in files.items():
            path = root.joinpath(*parts)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
    except (OSError, UnicodeEncodeError):
        return None
    return root


@settings(max_examples=40, deadline=None)
@given(trees, st.data())
def test_a_tree_hash_is_its_content(files: dict[tuple[str, ...], bytes], data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        one, two = build(Path(tmp, "one"), files), build(Path(tmp, "two"), files)
        assume(one is not None and two is not None)
        assert hash_tree(one).sha256 == hash_tree(two).sha256  # same names and bytes: same hash
        written = sorted(p for p in one.rglob("*") if p.is_file())
        assume(written)
        target = data.draw(st.sampled_from(written))
        target.write_bytes(target.read_bytes() + b"!")
        assert hash_tree(one).sha256 != hash_tree(two).sha256
