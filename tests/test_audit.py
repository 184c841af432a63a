"""``livedocs audit export`` / ``audit verify``: a real project's runs bundled, unzipped elsewhere, checked with
``sha256sum -c`` and ``audit verify``, one changed byte named; index.html in Chromium; a full destination."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from tests.conftest import CLI, cli_env, cli_runner
from tests.test_journal import pristine  # noqa: F401  (the module's runs: a real run and its cache hit)

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def bundle(pristine, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:  # noqa: F811
    home, record = pristine
    out = tmp_path_factory.mktemp("bundle") / "evidence.zip"
    result = cli_runner(home)("audit", "export", "-o", out)
    assert result.code == 0, result.stderr
    assert result.stdout.startswith("Exported 2 runs")
    return out, record


def test_the_bundle_unzipped_elsewhere_passes_sha256sum_and_audit_verify(bundle, tmp_path: Path) -> None:
    out, record = bundle
    unpacked = tmp_path / "elsewhere"
    with zipfile.ZipFile(out) as archive:
        archive.extractall(unpacked)
        names = set(archive.namelist())
    run_id = record["id"]
    assert {"index.html", "runs.csv", "runs.jsonl", "journal.jsonl", "MANIFEST.sha256",
            f"runs/{run_id}/output.ipynb", f"runs/{run_id}/report.html"} <= names
    assert any(n.startswith("blobs/") for n in names) and any(n.startswith("environments/") for n in names)
    check = subprocess.run(["sha256sum", "-c", "MANIFEST.sha256"], cwd=unpacked, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert len(check.stdout.splitlines()) == len(names) - 1
    runs = [json.loads(line) for line in (unpacked / "runs.jsonl").read_text().splitlines()]
    assert [r["id"] for r in runs][0] == run_id and runs[1]["cache_of"] == run_id
    result = cli_runner(tmp_path / "nohome")("audit", "verify", out)
    assert result.code == 0, result.stdout
    assert result.stdout.strip().endswith("every file matches MANIFEST.sha256 and the journal entries.")


@pytest.mark.parametrize("member, with_manifest, expected", [
    ("runs/{id}/report.html", False, "runs/{id}/report.html was changed: its SHA-256 differs from MANIFEST.sha256."),
    ("runs/{id}/report.html", True, "run {id}: runs/{id}/report.html differs from its journal entry 1."),
    ("runs.jsonl", True, "run {id}: runs.jsonl no longer matches its journal entry 1 (metrics)."),
])
def test_one_changed_byte_is_named(bundle, tmp_path: Path, member: str, with_manifest: bool, expected: str) -> None:
    """A byte changed in a file (and, the harder case, its manifest line rewritten to match)."""
    out, record = bundle
    member = member.format(id=record["id"])
    changed = tmp_path / "changed.zip"
    with zipfile.ZipFile(out) as source, zipfile.ZipFile(changed, "w") as target:
        contents = {name: source.read(name) for name in source.namelist()}
        if member == "runs.jsonl":
            contents[member] = contents[member].replace(b'"rows": 3', b'"rows": 4', 1)
        else:
            data = bytearray(contents[member])
            data[20] ^= 0x01
            contents[member] = bytes(data)
        if with_manifest:
            import hashlib
            lines = [f"{hashlib.sha256(contents[n]).hexdigest()}  {n}" for n in sorted(contents) if n != "MANIFEST.sha256"]
            contents["MANIFEST.sha256"] = ("\n".join(lines) + "\n").encode()
        for name, data in contents.items():
            target.writestr(name, data)
    result = cli_runner(tmp_path / "nohome")("audit", "verify", changed)
    assert result.code == 1
    assert expected.format(id=record["id"]) in result.stdout.splitlines(), result.stdout


def test_index_opens_in_chromium_and_its_links_work(bundle, tmp_path: Path) -> None:
    if not os.path.exists("/usr/bin/chromium"):
        pytest.skip("needs Debian's chromium")
    from playwright.sync_api import sync_playwright

    from tests.test_browser import CHROMIUM, CHROMIUM_ARGS

    out, record = bundle
    unpacked = tmp_path / "opened"
    with zipfile.ZipFile(out) as archive:
        archive.extractall(unpacked)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto((unpacked / "index.html").as_uri())
            assert page.locator("#runs tbody tr").count() == 2
            page.screenshot(path=str(tmp_path / "index.png"))
            page.get_by_role("link", name="report.html").first.click()
            page.wait_for_load_state()
            assert page.url == (unpacked / "runs" / record["id"] / "report.html").as_uri()
            assert record["id"] in page.content()
        finally:
            browser.close()


def test_bad_input_and_no_match(pristine, tmp_path: Path) -> None:  # noqa: F811
    home, _ = pristine
    run = cli_runner(home)
    bad = run("audit", "export", "-o", tmp_path / "e.zip", "--from", "soon")
    assert bad.code == 2 and bad.stderr.splitlines()[0] == "Error: --from 'soon' is not a date."
    none = run("audit", "export", "-o", tmp_path / "e.zip", "--status", "cancelled")
    assert none.code == 2 and "no run matches the selection" in none.stderr
    notzip = tmp_path / "n.zip"
    notzip.write_text("hello")
    assert run("audit", "verify", notzip).code == 2
    assert not (tmp_path / "e.zip").exists()


def test_a_full_destination_leaves_no_half_written_zip(pristine, tmp_path: Path) -> None:  # noqa: F811
    home, _ = pristine
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True, text=True)
    if os.geteuid() != 0 or probe.returncode != 0 or not shutil.which("unshare"):
        if os.environ.get("CI"):
            pytest.fail(f"CI needs root and `unshare -m` for this test: {probe.stderr.strip()}")
        pytest.skip("needs root and `unshare -m` (a private mount namespace)")
    dest = tmp_path / "full"
    dest.mkdir()
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in cli_env(home).items() if k.startswith(("LIVEDOCS", "PYTHON")))
    cli = " ".join(shlex.quote(str(a)) for a in CLI)
    script = (f"mount -t tmpfs -o size=16k tmpfs {dest} && cd {shlex.quote(str(Path.cwd()))} && "
              f"env {env} {cli} audit export -o {dest}/evidence.zip > {tmp_path}/out 2> {tmp_path}/err; "
              f"echo $? > {tmp_path}/code; ls -A {dest} > {tmp_path}/left")
    done = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "code").read_text().strip() == "1"
    assert (tmp_path / "left").read_text() == ""  # no zip, no temp file
    err = (tmp_path / "err").read_text()
    assert err.startswith(f"Error: cannot write {dest}/evidence.zip (No space left on device); nothing was written."), err


def test_text_from_records_stays_text_in_the_index(tmp_path: Path) -> None:
    from livedocs_runner.records.store import RunRecord, Store

    store = Store(tmp_path / "home")
    record = store.add(RunRecord(id="bbbb00000001", notebook="/w/<img src=x onerror=alert(1)>.ipynb",
                                 notebook_sha256="0" * 64, scenario="<script>alert(2)</script>"))
    store.update(record, status="succeeded", metrics={"<b>m</b>": "<i>v</i>"})
    out = tmp_path / "e.zip"
    assert cli_runner(tmp_path / "home")("audit", "export", "-o", out).code == 0
    with zipfile.ZipFile(out) as archive:
        index = archive.read("index.html").decode()
    assert "<script>alert" not in index and "<img" not in index and "<b>m" not in index
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in index and "&lt;img src=x onerror=alert(1)&gt;.ipynb" in index
