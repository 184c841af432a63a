"""Stored kernel environments: kept once per distinct environment, shown, turned into requirements, compared.

The two environments compared are real: two venvs (``--without-pip``) that see this venv's packages
through a ``.pth`` file, each with a tiny wheel ``tinypkg`` installed by pip at another version, registered
as kernelspecs in a temporary ``JUPYTER_PATH``; a notebook is run in each by the real CLI.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from livedocs_runner.provenance import capture_environment
from livedocs_runner.records.environments import (diff_environments, is_secret, load_environment, requirements,
                                                  store_environment, variables)
from tests.conftest import DATA, cli_runner, write_notebook

SECRET = "s3cr3t-Value-91f0c2"


def _wheel(folder: Path, version: str) -> Path:
    """A minimal, valid wheel of the package ``tinypkg`` at ``version``."""
    path = folder / f"tinypkg-{version}-py3-none-any.whl"
    dist = f"tinypkg-{version}.dist-info"
    files = {"tinypkg.py": f"VERSION = {version!r}\n",
             f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: tinypkg\nVersion: {version}\n",
             f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    records = "".join(f"{name},,\n" for name in files) + f"{dist}/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in {**files, f"{dist}/RECORD": records}.items():
            archive.writestr(name, text)
    return path


def _venv(root: Path, version: str) -> Path:
    """A venv seeing this venv's packages, plus ``tinypkg==version`` in its own site-packages."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    parent = sysconfig.get_paths()["purelib"]  # addsitedir: its own .pth files (the editable install) count too
    (site / "parent.pth").write_text(f"import site; site.addsitedir({parent!r})\n", encoding="utf-8")
    wheel = _wheel(root.parent, version)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
                    "--target", str(site), str(wheel)], check=True)
    return python


@pytest.fixture(scope="module")
def two_kernels(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """Kernelspecs ``tiny1`` and ``tiny2`` (tinypkg 1.0 / 2.0) in a temporary JUPYTER_PATH."""
    root = tmp_path_factory.mktemp("envs")
    jupyter = root / "jupyter"
    for name, version in (("tiny1", "1.0"), ("tiny2", "2.0")):
        python = _venv(root / name, version)
        spec = jupyter / "kernels" / name
        spec.mkdir(parents=True)
        (spec / "kernel.json").write_text(json.dumps({
            "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": name, "language": "python"}), encoding="utf-8")
    return jupyter, {"JUPYTER_PATH": str(jupyter)}


def _project(root: Path, kernel: str, env_line: str = "env: [RISK_MODE, API_TOKEN]\n") -> Path:
    if (root / "nb.ipynb").exists():  # the same notebook bytes for every kernel
        config = root / f"{kernel}.yaml"
        config.write_text(f"notebook: nb.ipynb\nkernel: {kernel}\n{env_line}", encoding="utf-8")
        return config
    write_notebook(root / "nb.ipynb", [
        ("x = 1", ["parameters"]),
        "import os\nfrom livedocs_runner import record\nrecord('mode', os.environ.get('RISK_MODE', ''))",
    ])
    config = root / f"{kernel}.yaml"
    config.write_text(f"notebook: nb.ipynb\nkernel: {kernel}\n{env_line}", encoding="utf-8")
    return config


@pytest.mark.kernel
def test_two_environments_differing_in_one_package(two_kernels, tmp_path: Path) -> None:
    _, extra = two_kernels
    home = tmp_path / "home"
    run = cli_runner(home)
    ids = []
    for kernel in ("tiny1", "tiny2"):
        config = _project(tmp_path / "p", kernel)
        done = run("run", config, "--json", cwd=tmp_path, env={**extra, "RISK_MODE": "strict"})
        assert done.code == 0, done.stderr
        ids.append(done.json()[0]["id"])
    envs = sorted((home / "environments").iterdir())
    assert len(envs) == 2 and all(not (p.stat().st_mode & 0o222) for p in envs)  # read-only files

    result = run("env", ids[0], ids[1], "--json", env=extra)
    assert result.code == 0, result.stderr
    diff = result.json()
    assert diff["changed"] == {"tinypkg": {"old": "1.0", "new": "2.0"}}
    assert diff["added"] == {} and diff["removed"] == {} and diff["variables"] == {}
    assert set(diff["other"]) == {"kernel", "kernelspec", "executable"}

    text = run("env", ids[0], ids[1], env=extra).stdout
    assert "changed  tinypkg 1.0 -> 2.0" in text
    assert sum(line.startswith(("  changed", "  added", "  removed")) for line in text.splitlines()) == 1

    shown = run("env", ids[0], env=extra)
    assert shown.code == 0 and "  tinypkg==1.0" in shown.stdout and 'RISK_MODE = "strict"' in shown.stdout
    assert "API_TOKEN = unset" in shown.stdout
    pins = run("env", ids[1], "--requirements", env=extra).stdout.splitlines()
    assert pins[0].startswith("#") and f"nbformat=={json.loads(shown_json(run, ids[1], extra))['packages']['nbformat']}" in pins
    tiny = [line for line in pins if "tinypkg" in line]  # pip installed it from a wheel file: not on an index
    assert len(tiny) == 1 and tiny[0].startswith("# tinypkg==2.0  (local install from file://")

    both = run("env", ids[0], ids[1], "--requirements", env=extra)
    assert both.code == 2 and "--requirements takes one run." in both.stderr

    same = run("diff", ids[0], ids[1], env=extra)  # same notebook, parameters, metrics; packages differ
    assert same.code == 0, same.stdout + same.stderr
    assert same.stdout.splitlines()[0] == "REPRODUCED, ENVIRONMENT CHANGED"
    assert "changed  tinypkg 1.0 -> 2.0" in same.stdout


def shown_json(run, run_id: str, extra: dict[str, str]) -> str:
    return run("env", run_id, "--json", env=extra).stdout


@pytest.mark.kernel
def test_secret_values_never_reach_the_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    run = cli_runner(home)
    config = _project(tmp_path / "p", "python3")
    done = run("run", config, "--json", cwd=tmp_path, env={"API_TOKEN": SECRET, "RISK_MODE": "lenient"})
    assert done.code == 0, done.stderr
    run_id = done.json()[0]["id"]
    for path in home.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    shown = run("env", run_id)
    assert "API_TOKEN = set (secret: value not kept)" in shown.stdout and SECRET not in shown.stdout
    assert 'RISK_MODE = "lenient"' in shown.stdout
    assert done.json()[0]["environment"]["variables"]["API_TOKEN"] == {"set": True, "secret": True}


@pytest.mark.parametrize("name, secret", [("API_KEY", True), ("github_token", True), ("DB_Password", True),
                                          ("MY_SECRET_X", True), ("KEYRING", True), ("RISK_MODE", False),
                                          ("PATH", False)])
def test_secret_names(name: str, secret: bool) -> None:
    assert is_secret(name) is secret
    shown = variables([name], {name: "v"})[name]
    assert ("value" not in shown) is secret


def test_stored_once_and_requirements_comment_local_installs(tmp_path: Path) -> None:
    kernel = capture_environment("python3")
    first = store_environment(tmp_path, kernel, variables(["RISK_MODE"], {"RISK_MODE": "a"}))
    again = store_environment(tmp_path, kernel, variables(["RISK_MODE"], {"RISK_MODE": "a"}))
    other = store_environment(tmp_path, kernel, variables(["RISK_MODE"], {"RISK_MODE": "b"}))
    assert first == again != other
    assert len(list((tmp_path / "environments").iterdir())) == 2
    doc = load_environment(tmp_path, first)
    assert doc["packages"]["nbformat"] and doc["kernelspec"]["language"] == "python"
    assert diff_environments(doc, load_environment(tmp_path, other)).variables == {"RISK_MODE": ('"a"', '"b"')}
    pins = requirements(doc).splitlines()
    assert f"nbformat=={doc['packages']['nbformat']}" in pins
    # this checkout is installed editable (make setup): commented with where it came from, never pinned
    assert not any(line.startswith("livedocs-runner==") for line in pins)
    assert any(line.startswith("# livedocs-runner==") and "editable install" in line for line in pins)


@pytest.mark.parametrize("value, message", [
    ("RISK_MODE", "'env:' must be a list of variable names"),
    ("[1BAD]", "'env:' '1BAD' is not an environment variable name"),
    ("[RISK-MODE]", "is not an environment variable name"),
])
def test_env_key_validated_with_its_line(tmp_path: Path, value: str, message: str) -> None:
    write_notebook(tmp_path / "nb.ipynb", [("x = 1", ["parameters"])])
    config = tmp_path / "c.yaml"
    config.write_text(f"notebook: nb.ipynb\nenv: {value}\n", encoding="utf-8")
    result = cli_runner(tmp_path / "home")("validate", config, cwd=tmp_path)
    assert result.code == 2
    assert "c.yaml, line 2:" in result.stderr and message in result.stderr


def test_run_recorded_before_environments_were_stored(tmp_path: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(DATA / "stores" / "v0_demo", home)
    run = cli_runner(home)
    run_id = run("runs", "--json").json()[0]["id"]
    result = run("env", run_id)
    assert result.code == 2
    assert result.stderr.startswith(f"Error: run {run_id} was recorded without a stored environment")
    assert "Traceback" not in result.stderr


@pytest.mark.kernel
def test_a_declared_variable_is_part_of_the_cache_identity(tmp_path: Path) -> None:
    """A run with another RISK_MODE is not answered from the cache of the first: the notebook may read it."""
    run = cli_runner(tmp_path / "home")
    config = _project(tmp_path / "p", "python3")
    first = run("run", config, "--json", "--no-report", cwd=tmp_path, env={"RISK_MODE": "a"}).json()[0]
    same = run("run", config, "--json", "--no-report", cwd=tmp_path, env={"RISK_MODE": "a"}).json()[0]
    other = run("run", config, "--json", "--no-report", cwd=tmp_path, env={"RISK_MODE": "b"}).json()[0]
    assert same["cache_of"] == first["id"]
    assert other["cache_of"] is None and other["metrics"] == {"mode": "b"}
    result = run("diff", first["id"], other["id"])
    assert result.code == 1 and "  variable RISK_MODE: \"a\" -> \"b\"" in result.stdout
    assert "  mode: a -> b" in result.stdout
