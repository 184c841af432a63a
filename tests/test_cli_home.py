"""One run store per project, found like git finds its repository: the nearest .livedocs/ upward, else a new
one next to configs/ or pyproject.toml (said once); --home before or after the command; $LIVEDOCS_HOME."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from livedocs_runner.errors import StoreError
from livedocs_runner.home import HomeLocation, create_home, discover_home, find_upward, search_dirs
from tests.conftest import CLI, CONFIGS, NOTEBOOKS, CliResult, run_records

NEW_STORE = "New run store: "


def project(root: Path, *markers: str) -> Path:
    """A project folder with ``notebooks/deep/`` and the given markers (``configs`` folder, ``pyproject.toml``)."""
    (root / "notebooks" / "deep").mkdir(parents=True)
    for marker in markers:
        if marker == "configs":
            (root / "configs").mkdir()
        else:
            (root / marker).write_text("[project]\nname = 'x'\n", encoding="utf-8")
    return root


# --- discovery (the core helper) ---------------------------------------------------------------

def test_the_nearest_store_upward_is_used(tmp_path: Path) -> None:
    root = project(tmp_path / "user" / "proj", "configs")
    (root / ".livedocs").mkdir()
    found = discover_home(root / "notebooks" / "deep", user_home=tmp_path / "user")
    assert found == HomeLocation(path=root / ".livedocs", exists=True, reason="found")
    (root / "notebooks" / ".livedocs").mkdir()  # a nearer one wins, as a nested git repository does
    assert discover_home(root / "notebooks" / "deep", user_home=tmp_path / "user").path == root / "notebooks" / ".livedocs"


@pytest.mark.parametrize(("markers", "where", "reason"), [
    (("configs",), "", "next to configs/"),
    (("pyproject.toml",), "", "next to pyproject.toml"),
    (("configs", "pyproject.toml"), "", "next to configs/"),
    ((), "notebooks/deep", "in the working directory"),
])
def test_a_new_store_goes_next_to_the_project_markers(tmp_path: Path, markers: tuple[str, ...], where: str,
                                                        reason: str) -> None:
    root = project(tmp_path / "user" / "proj", *markers)
    found = discover_home(root / "notebooks" / "deep", user_home=tmp_path / "user")
    assert found == HomeLocation(path=(root / where / ".livedocs").resolve(), exists=False, reason=reason)


def test_the_nearest_marker_wins_and_markers_of_the_wrong_kind_do_not_count(tmp_path: Path) -> None:
    root = project(tmp_path / "user" / "proj", "pyproject.toml")
    (root / "notebooks" / "configs").write_text("a file, not a folder", encoding="utf-8")
    (root / "notebooks" / "deep" / "pyproject.toml").mkdir()  # a folder, not a file
    assert discover_home(root / "notebooks" / "deep", user_home=tmp_path / "user").path == root / ".livedocs"
    (root / "notebooks" / "configs").unlink()
    (root / "notebooks" / "configs").mkdir()
    assert discover_home(root / "notebooks" / "deep", user_home=tmp_path / "user").path == root / "notebooks" / ".livedocs"


def test_a_livedocs_file_is_never_taken_for_a_store(tmp_path: Path) -> None:
    root = project(tmp_path / "user" / "proj", "configs")
    (root / ".livedocs").mkdir()
    (root / "notebooks" / ".livedocs").write_text("not a store", encoding="utf-8")
    assert discover_home(root / "notebooks", user_home=tmp_path / "user").path == root / ".livedocs"
    (root / ".livedocs").rmdir()
    (root / ".livedocs").write_text("not a store either", encoding="utf-8")
    location = discover_home(root / "notebooks", user_home=tmp_path / "user")
    assert location == HomeLocation(path=root / ".livedocs", exists=False, reason="next to configs/")
    with pytest.raises(StoreError) as caught:
        create_home(location)
    assert caught.value.message == f"{root / '.livedocs'} is a file, not a run store folder."
    assert "--home DIR" in (caught.value.hint or "")
    (root / ".livedocs").unlink()
    (root / ".livedocs").symlink_to(root / "gone")  # a broken link is not a store either
    assert not discover_home(root / "notebooks", user_home=tmp_path / "user").exists
    with pytest.raises(StoreError, match="is a broken link, not a run store folder"):
        create_home(location)


def test_the_search_stops_above_home_and_at_the_filesystem_root(tmp_path: Path) -> None:
    user = tmp_path / "user"
    (tmp_path / ".livedocs").mkdir()  # above $HOME: another user's or the machine's, never ours
    (tmp_path / "configs").mkdir()
    start = user / "scratch" / "sub"
    start.mkdir(parents=True)
    assert list(search_dirs(start, user)) == [start, user / "scratch", user]
    assert discover_home(start, user_home=user) == HomeLocation(path=start / ".livedocs", exists=False,
                                                              reason="in the working directory")
    (user / ".livedocs").mkdir()  # $HOME itself is searched
    assert discover_home(start, user_home=user).path == user / ".livedocs"
    outside = tmp_path / "elsewhere"  # a folder outside $HOME: searched up to (not including) the root
    outside.mkdir()
    dirs = list(search_dirs(outside, user))
    assert dirs[:2] == [outside, tmp_path] and Path("/") not in dirs
    assert discover_home(outside, user_home=user).path == tmp_path / ".livedocs"
    assert list(search_dirs(Path("/"), user)) == [Path("/")]


def test_a_read_only_parent_is_fine(tmp_path: Path) -> None:
    parent = tmp_path / "user" / "shared"
    root = project(parent / "proj", "configs")
    parent.chmod(0o555)
    try:
        location = discover_home(root / "notebooks", user_home=tmp_path / "user")
        assert location.path == root / ".livedocs" and create_home(location) is True
        assert create_home(location) is False  # made already (e.g. by another process meanwhile)
        assert discover_home(root / "notebooks", user_home=tmp_path / "user").exists
    finally:
        parent.chmod(0o755)


def test_a_store_above_the_project_root_is_not_the_projects(tmp_path: Path) -> None:
    user = tmp_path / "user"
    (user / ".livedocs").mkdir(parents=True)  # e.g. a stray store from a run in $HOME, or another project's
    root = project(user / "proj", "pyproject.toml")
    found = discover_home(root / "notebooks", user_home=user)
    assert found == HomeLocation(path=root / ".livedocs", exists=False, reason="next to pyproject.toml")
    (root / ".livedocs").mkdir()
    assert discover_home(root / "notebooks", user_home=user) == HomeLocation(path=root / ".livedocs", exists=True,
                                                                            reason="found")
    assert discover_home(user, user_home=user).path == user / ".livedocs"  # outside any project: still found


def test_find_upward_finds_the_configs_folder(tmp_path: Path) -> None:
    root = project(tmp_path / "user" / "proj", "configs")
    assert find_upward(root / "notebooks" / "deep", "configs", user_home=tmp_path / "user") == root / "configs"
    assert find_upward(root / "notebooks", "nothing", user_home=tmp_path / "user") is None


# --- the CLI, through the real entry point ---------------------------------------------------

def livedocs(*args: str | Path, cwd: Path, user_home: Path, env: dict[str, str] | None = None) -> CliResult:
    """``livedocs ARGS`` in ``cwd`` with no $LIVEDOCS_HOME, $HOME set to ``user_home``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("LIVEDOCS_")}
    base.update({"HOME": str(user_home), "LIVEDOCS_USER": "tester", "PYTHONUNBUFFERED": "1", **(env or {})})
    proc = subprocess.run([*CLI, *map(str, args)], cwd=cwd, env=base, capture_output=True, text=True, timeout=180)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def test_a_new_store_is_announced_once_and_found_from_a_subfolder(tmp_path: Path) -> None:
    user = tmp_path / "user"
    root = project(user / "proj", "configs")
    first = livedocs("runs", "--json", cwd=root / "notebooks" / "deep", user_home=user)
    assert first.code == 0, first.stderr
    assert first.stderr.splitlines() == [f"{NEW_STORE}{root / '.livedocs'} (next to configs/; livedocs finds it "
                                         f"from {root} and every folder below)."]
    assert (root / ".livedocs" / "runs.db").is_file()
    for cwd in (root, root / "notebooks", root / "configs"):
        again = livedocs("runs", cwd=cwd, user_home=user)
        assert again.code == 0 and NEW_STORE not in again.stderr
        assert again.stderr.strip().endswith(".livedocs.")  # "No runs in <the same store>."
    assert [p.name for p in root.rglob(".livedocs")] == [".livedocs"]  # no second history anywhere


def test_a_store_above_the_project_is_left_alone(tmp_path: Path) -> None:
    user = tmp_path / "user"
    (user / ".livedocs").mkdir(parents=True)
    root = project(user / "proj", "configs")
    result = livedocs("runs", cwd=root / "notebooks", user_home=user)
    assert result.code == 0 and (root / ".livedocs" / "runs.db").is_file(), result.stderr
    assert result.stderr.splitlines()[0].startswith(f"New run store: {root / '.livedocs'} (next to configs/;")
    assert not (user / ".livedocs" / "runs.db").exists()  # the other store was not touched


def test_a_new_store_goes_next_to_pyproject_toml(tmp_path: Path) -> None:
    user = tmp_path / "user"
    root = project(user / "proj", "pyproject.toml")
    result = livedocs("runs", cwd=root / "notebooks", user_home=user)
    assert result.code == 0, result.stderr
    assert result.stderr.startswith(f"{NEW_STORE}{root / '.livedocs'} (next to pyproject.toml;")
    assert (root / ".livedocs").is_dir() and not (root / "notebooks" / ".livedocs").exists()


def test_a_livedocs_file_where_the_store_belongs_is_refused_with_the_fix(tmp_path: Path) -> None:
    user = tmp_path / "user"
    root = project(user / "proj", "configs")
    (root / ".livedocs").write_text("notes", encoding="utf-8")
    result = livedocs("runs", cwd=root / "notebooks", user_home=user)
    assert result.code == 2
    assert result.stderr.splitlines() == [f"Error: {root / '.livedocs'} is a file, not a run store folder.",
                                          "Move it away, or pass a run store folder with --home DIR (or $LIVEDOCS_HOME)."]


def test_a_bad_input_makes_no_store(tmp_path: Path) -> None:
    user = tmp_path / "user"
    root = project(user / "proj", "configs")
    result = livedocs("run", CONFIGS / "unknown_param.yaml", cwd=root / "notebooks", user_home=user)
    assert result.code == 2 and NEW_STORE not in result.stderr
    assert not (root / ".livedocs").exists()


@pytest.mark.parametrize("args", [
    ("--home", "{X}", "runs", "--json"),
    ("runs", "--home", "{X}", "--json"),
    ("runs", "--json", "--home={X}"),
    ("--home", "{Y}", "runs", "--home", "{X}", "--json"),  # the one nearer the command wins
    ("audit", "--home", "{X}", "export", "-o", "{OUT}"),
    ("audit", "export", "-o", "{OUT}", "--home", "{X}"),
])
def test_home_is_taken_before_and_after_the_command(tmp_path: Path, args: tuple[str, ...]) -> None:
    user = tmp_path / "user"
    root = project(user / "proj", "configs")
    given = {"X": tmp_path / "x", "Y": tmp_path / "y", "OUT": tmp_path / "bundle.zip"}
    result = livedocs(*(a.format(**given) for a in args), cwd=root / "notebooks", user_home=user,
                      env={"LIVEDOCS_HOME": str(tmp_path / "env")})
    if args[0] == "audit":  # an empty store: nothing to export, from the store given
        assert result.code == 2 and result.stderr.startswith("Error: no run matches the selection"), result.stderr
    else:
        assert result.code == 0 and result.stdout.strip() == "[]", result.stderr
    assert (tmp_path / "x" / "runs.db").is_file()
    assert not (tmp_path / "y").exists() and not (tmp_path / "env").exists() and not (root / ".livedocs").exists()
    assert NEW_STORE not in result.stderr


def test_livedocs_home_wins_over_discovery(tmp_path: Path) -> None:
    user = tmp_path / "user"
    root = project(user / "proj", "configs")
    (root / ".livedocs").mkdir()
    result = livedocs("runs", "--json", cwd=root / "notebooks", user_home=user, env={"LIVEDOCS_HOME": str(tmp_path / "env")})
    assert result.code == 0 and result.stdout.strip() == "[]"
    assert (tmp_path / "env" / "runs.db").is_file() and not (root / ".livedocs" / "runs.db").exists()


def test_home_that_is_a_file_is_refused_after_the_command_too(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x", encoding="utf-8")
    result = livedocs("runs", "--home", tmp_path / "file", cwd=tmp_path, user_home=tmp_path)
    assert result.code == 2
    assert f"Invalid value for '--home': Directory '{tmp_path / 'file'}' is a file." in result.stderr


def test_every_command_documents_home(tmp_path: Path) -> None:
    for command in (["runs"], ["run"], ["show"], ["rerun"], ["app"], ["audit", "export"], ["verify"], ["env"]):
        result = livedocs(*command, "--help", cwd=tmp_path, user_home=tmp_path)
        assert result.code == 0 and "--home DIR" in result.stdout, command


def test_the_app_finds_the_project_store_and_configs_from_a_subfolder(tmp_path: Path) -> None:
    """``livedocs app`` from notebooks/ serves the project's configs/ into the project's store (stopped once it
    says so: the server itself is tested in test_browser.py)."""
    user = tmp_path / "user"
    root = project(user / "proj", "configs")
    (root / ".livedocs").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEDOCS_")}
    env["HOME"] = str(user)
    proc = subprocess.Popen([*CLI, "app", "--port", "1"], cwd=root / "notebooks", env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
    finally:
        proc.kill()
        proc.wait(timeout=60)
    assert line.startswith(f"Serving {root / 'configs'} on http://127.0.0.1:1  (runs in {root / '.livedocs'};"), line


# --- runs and their history, with real kernels -------------------------------------------------

@pytest.mark.kernel
def test_a_run_from_notebooks_joins_the_project_history(tmp_path: Path) -> None:
    user = tmp_path / "user"
    root = project(user / "proj", "configs")
    (root / "notebooks" / "simple.ipynb").write_bytes((NOTEBOOKS / "simple.ipynb").read_bytes())
    (root / "configs" / "simple.yaml").write_text(
        "notebook: ../notebooks/simple.ipynb\nscenarios:\n  one: {a: 1}\n", encoding="utf-8")
    at_root = livedocs("run", "configs/simple.yaml", "--json", "--no-report", cwd=root, user_home=user)
    assert at_root.code == 0, at_root.stderr
    assert NEW_STORE in at_root.stderr
    # from notebooks/, a relative config path and a notebook: the same store, relative paths as ever
    below = livedocs("run", "simple.ipynb", "-p", "a=2", "--json", "--no-report", cwd=root / "notebooks", user_home=user)
    assert below.code == 0, below.stderr
    assert NEW_STORE not in below.stderr
    listed = livedocs("runs", "--json", cwd=root / "notebooks" / "deep", user_home=user)
    ids = [r["id"] for r in json.loads(listed.stdout)]
    assert sorted(ids) == sorted([at_root.json()[0]["id"], below.json()[0]["id"]])
    assert [r["id"] for r in run_records(root / ".livedocs")] == [at_root.json()[0]["id"], below.json()[0]["id"]]
