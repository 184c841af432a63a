"""A stored environment is remembered within a process (so each run does not re-read every package's
``direct_url.json``), and never past a change: a package installed into a library folder, or the kept file
removed from the home, makes it be built and written again."""

from __future__ import annotations

import json
import os
from pathlib import Path

from livedocs_runner.provenance import KernelEnvironment, KernelSpecInfo
from livedocs_runner.records.environments import environments_dir, load_environment, store_environment


def kernel_in(site: Path) -> KernelEnvironment:
    """A kernel whose only library folder is ``site``, with two packages installed there."""
    summary = {"kernel": "python3", "executable": "/usr/bin/python3", "python": "3.11.7",
               "implementation": "CPython", "platform": "Linux", "packages_sha256": "0" * 64}
    return KernelEnvironment(summary, (("alpha", "1.0"), ("beta", "2.0")), (str(site),),
                             KernelSpecInfo(("python", "-m", "ipykernel_launcher"), "python"))


def site_folder(tmp_path: Path) -> Path:
    site = tmp_path / "site-packages"
    (site / "alpha-1.0.dist-info").mkdir(parents=True)
    (site / "beta-2.0.dist-info").mkdir()
    os.utime(site, ns=(10**18, 10**18))  # an install long ago: any later change moves its mtime
    return site


def test_the_same_environment_is_one_id_and_one_file(tmp_path: Path) -> None:
    site = site_folder(tmp_path)
    first = store_environment(tmp_path / "home", kernel_in(site))
    assert store_environment(tmp_path / "home", kernel_in(site)) == first
    assert [p.name for p in environments_dir(tmp_path / "home").iterdir()] == [f"{first}.json"]
    assert load_environment(tmp_path / "home", first)["installs"] == {}


def test_a_package_installed_from_a_folder_is_seen_by_the_next_run(tmp_path: Path) -> None:
    site = site_folder(tmp_path)
    first = store_environment(tmp_path / "home", kernel_in(site))
    # pip reinstalls beta from a local folder: a new dist-info folder with a direct_url.json
    os.rename(site / "beta-2.0.dist-info", site / "old-beta")
    (site / "beta-2.0.dist-info").mkdir()
    (site / "beta-2.0.dist-info" / "direct_url.json").write_text(
        json.dumps({"url": "file:///src/beta", "dir_info": {"editable": True}}), encoding="utf-8")
    again = store_environment(tmp_path / "home", kernel_in(site))
    assert again != first
    assert load_environment(tmp_path / "home", again)["installs"] == {
        "beta": {"kind": "editable", "url": "file:///src/beta"}}


def test_a_removed_environment_file_is_written_again(tmp_path: Path) -> None:
    site = site_folder(tmp_path)
    first = store_environment(tmp_path / "home", kernel_in(site))
    kept = environments_dir(tmp_path / "home") / f"{first}.json"
    kept.chmod(0o644)
    kept.unlink()
    assert store_environment(tmp_path / "home", kernel_in(site)) == first
    assert kept.is_file()


def test_each_home_keeps_its_own_copy(tmp_path: Path) -> None:
    site = site_folder(tmp_path)
    one = store_environment(tmp_path / "one", kernel_in(site))
    assert store_environment(tmp_path / "two", kernel_in(site)) == one
    assert (environments_dir(tmp_path / "two") / f"{one}.json").is_file()
