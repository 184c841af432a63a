"""Input snapshots: the bytes a run read are kept in HOME/blobs, deduplicated, read-only, capped,
switchable per parameter; folders as trees; a bare notebook's file-naming ``str`` default is an input."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from livedocs_runner.errors import ConfigError, InputError
from livedocs_runner.provenance import hash_inputs
from livedocs_runner.records.snapshots import Blobs, max_snapshot_mb, snapshot_inputs
from livedocs_runner.scenarios import load_config, load_target
from tests.conftest import CliResult, assert_nothing_ran, write_notebook


def snap(tmp_path: Path, value: Path, *, max_mb: float | None = 1024, skip: tuple[str, ...] = ()) -> dict:
    [item] = snapshot_inputs(hash_inputs({"data": str(value)}, ["data"]), tmp_path / "home", skip=skip, max_mb=max_mb)
    return item


def test_a_file_is_kept_read_only_and_survives_overwrite_and_delete(tmp_path: Path) -> None:
    data = tmp_path / "loans.csv"
    data.write_text("id,amount\n1,100\n")
    item = snap(tmp_path, data)
    assert item["snapshot"] == item["sha256"]
    blob = Blobs(tmp_path / "home").path(item["snapshot"])
    assert stat.S_IMODE(blob.stat().st_mode) & 0o222 == 0  # read-only
    data.write_text("id,amount\n1,999\n")
    data.unlink()
    assert blob.read_text() == "id,amount\n1,100\n"
    assert not any(p.name.endswith(".tmp") for p in blob.parent.iterdir())  # no temp file left behind


def test_the_same_bytes_are_kept_once(tmp_path: Path) -> None:
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text("x\n1\n")
    b.write_text("x\n1\n")
    assert snap(tmp_path, a)["snapshot"] == snap(tmp_path, b)["snapshot"]
    assert len(list((tmp_path / "home" / "blobs").iterdir())) == 1


def test_a_file_over_the_cap_keeps_only_its_hash(tmp_path: Path) -> None:
    data = tmp_path / "big.bin"
    data.write_bytes(b"x" * (2 << 20))
    item = snap(tmp_path, data, max_mb=1)
    assert item["snapshot"] is None and item["why"] == "over 1 MB" and item["sha256"]
    assert not (tmp_path / "home" / "blobs").exists()


def test_snapshot_false_keeps_only_the_hash(tmp_path: Path) -> None:
    data = tmp_path / "a.csv"
    data.write_text("x\n")
    item = snap(tmp_path, data, skip=("data",))
    assert item["snapshot"] is None and item["why"] == "snapshot: false in the config"


def test_a_folder_is_kept_as_a_tree_and_restored_exactly(tmp_path: Path) -> None:
    folder = tmp_path / "inputs"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.csv").write_text("a\n")
    (folder / "sub" / "b.csv").write_text("b\n")
    os.symlink("a.csv", folder / "link.csv")
    item = snap(tmp_path, folder)
    blobs = Blobs(tmp_path / "home")
    tree = blobs.read_tree(item["snapshot"])
    assert [e["path"] for e in tree["entries"]] == ["a.csv", "link.csv", "sub", "sub/b.csv"]
    (folder / "a.csv").write_text("changed\n")
    restored = tmp_path / "restored" / "inputs"
    blobs.restore(item["snapshot"], "folder", restored)
    assert (restored / "a.csv").read_text() == "a\n" and (restored / "sub" / "b.csv").read_text() == "b\n"
    assert (restored / "link.csv").read_text() == "a\n"
    assert blobs.missing(item["snapshot"], "folder") == []


@pytest.mark.parametrize("value", ["abc", "-1", "nan", "inf"])
def test_a_bad_cap_is_refused(value: str) -> None:
    with pytest.raises(InputError, match=f"LIVEDOCS_SNAPSHOT_MAX_MB='{value}' is not a number of megabytes"):
        max_snapshot_mb({"LIVEDOCS_SNAPSHOT_MAX_MB": value})


def test_the_cap_defaults_to_1024() -> None:
    assert max_snapshot_mb({}) == 1024 and max_snapshot_mb({"LIVEDOCS_SNAPSHOT_MAX_MB": "0.5"}) == 0.5


def project(tmp_path: Path, refinement: str) -> Path:
    (tmp_path / "data.csv").write_text("x\n1\n")
    write_notebook(tmp_path / "nb.ipynb", [('data_file = "data.csv"\nlabel = "q1"', ["parameters"]), "print(1)"])
    config = tmp_path / "c.yaml"
    config.write_text(f"notebook: nb.ipynb\nparameters:\n  label: {{}}\n  data_file: {refinement}\nscenarios:\n  a: {{}}\n")
    return config


def test_snapshot_false_is_a_refinement_of_a_path_parameter(tmp_path: Path) -> None:
    config = load_config(project(tmp_path, "{type: path, snapshot: false}"))
    assert [p.snapshot for p in config.schema.params] == [False, True]


@pytest.mark.parametrize(("refinement", "message"), [
    ("{type: path, snapshot: 'no'}", "c.yaml, line 4: parameter 'data_file': 'snapshot' must be true or false, got 'no'."),
    ("{type: str, snapshot: false}", "c.yaml, line 4: parameter 'data_file': 'snapshot' only applies to type: path."),
])
def test_a_bad_snapshot_refinement_names_the_line(tmp_path: Path, refinement: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(project(tmp_path, refinement))
    assert caught.value.message.endswith(message)


def test_a_bare_notebook_str_naming_a_file_is_a_path_input(tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_text("x\n1\n")
    write_notebook(tmp_path / "nb.ipynb", [('data_file = "data.csv"\nlabel = "data.csv.bak"', ["parameters"])])
    schema = load_target(tmp_path / "nb.ipynb").schema
    data, label = schema.params
    assert (data.type, data.inferred_path, label.type) == ("path", True, "str")
    assert schema.resolve()["data_file"] == str(tmp_path / "data.csv")


def test_inspect_shows_the_inference(run_cli: Callable[..., CliResult], tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_text("x\n1\n")
    nb = write_notebook(tmp_path / "nb.ipynb", [('data_file = "data.csv"', ["parameters"])])
    result = run_cli("inspect", nb)
    assert result.code == 0, result.stderr
    assert "path (inferred)" in result.stdout
    assert "input file: hashed and snapshotted by runs" in result.stdout
    assert json.loads(run_cli("inspect", nb, "--json").stdout)["parameters"][0]["inferred_path"] is True


@pytest.mark.kernel
def test_runs_snapshot_their_inputs_once_and_cache_hits_take_none(run_cli: Callable[..., CliResult],
                                                                    path_project: Path, home: Path) -> None:
    [first] = run_cli("run", path_project, "--json", "--no-report", "--no-cache").json()
    [second] = run_cli("run", path_project, "--json", "--no-report", "--no-cache").json()
    [hit] = run_cli("run", path_project, "--json", "--no-report").json()
    assert first["inputs"][0]["snapshot"] == second["inputs"][0]["snapshot"] == first["inputs"][0]["sha256"]
    assert len(list((home / "blobs").iterdir())) == 1
    assert hit["cache_of"] and "snapshot" not in hit["inputs"][0]
    Path(first["inputs"][0]["path"]).write_text("x\n")
    [rerun] = run_cli("rerun", hit["id"], "--json").json()  # the hit's snapshot is the run it answered from
    assert rerun["metrics"] == first["metrics"] == {"rows": 3}


@pytest.mark.kernel
def test_a_bare_notebook_run_snapshots_its_inferred_input(run_cli: Callable[..., CliResult], tmp_path: Path,
                                                          home: Path) -> None:
    (tmp_path / "data.csv").write_text("x\n1\n2\n")
    nb = write_notebook(tmp_path / "nb.ipynb", [
        ('data_file = "data.csv"', ["parameters"]),
        "from livedocs_runner import record\nrecord('rows', len(open(data_file).read().splitlines()) - 1)"])
    [record] = run_cli("run", nb, "--json", "--no-report").json()
    assert record["metrics"] == {"rows": 2}
    [item] = record["inputs"]
    assert item["parameter"] == "data_file" and item["snapshot"]
    assert (home / "blobs" / item["snapshot"]).read_text() == "x\n1\n2\n"


@pytest.mark.kernel
def test_a_bad_cap_refuses_the_run(run_cli: Callable[..., CliResult], path_project: Path, home: Path) -> None:
    result = run_cli("run", path_project, env={"LIVEDOCS_SNAPSHOT_MAX_MB": "lots"})
    assert result.code == 2
    assert "Error: LIVEDOCS_SNAPSHOT_MAX_MB='lots' is not a number of megabytes." in result.stderr
    assert_nothing_ran(home)
