"""Reproducing a past run from the web (issue 8, item 5): the Reproduce panel, the verdict banner,
the ``?diff=A,B`` page and History's "What differs?", with real runs on real kernels (AppTest)."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from .test_app import ROOT, app, home, keep_main_module, run_until_done, shown, texts  # noqa: F401 (fixtures)
from .test_app_security import HOSTILE, rendered_tags, markdown_surfaces  # noqa: E402

from livedocs_runner.batch import run_batch  # noqa: E402
from livedocs_runner.execute import RunOptions  # noqa: E402
from livedocs_runner.plan import plan_runs  # noqa: E402
from livedocs_runner.records.store import Store  # noqa: E402

from .conftest import NOTEBOOKS  # noqa: E402

pytestmark = pytest.mark.kernel


def baseline_run(home: Path):
    [run] = run_batch(plan_runs(ROOT / "configs" / "credit_risk.yaml", scenarios=["baseline"]), Store(home),
                      options=RunOptions(trigger="cli"))
    assert run.status == "succeeded"
    return run


def test_rerun_exactly_then_on_other_data_then_diff_from_history(home):
    original = baseline_run(home)
    at = app(run=original.id)
    assert texts(at.subheader).count("Reproduce") == 1
    picker = at.selectbox(key=f"reproduce-file:{original.id}:data_file")
    assert picker.value == original.parameters["data_file"]  # the form's file picker, on the run's file
    assert at.button(key=f"reproduce-data:{original.id}").disabled  # nothing chosen yet

    at.button(key=f"reproduce-exact:{original.id}").click().run()
    exact_id = at.query_params["run"]
    assert exact_id != original.id
    at = run_until_done(at)
    assert texts(at.success)[0] == (f"REPRODUCED: This rerun reproduced run {original.id} exactly: same notebook, "
                                    "same data, same inputs, same packages, and every result equal.")
    exact = Store(home).get(exact_id)
    assert (exact.rerun_of, exact.rerun_variant, exact.user) == (original.id, "exact", "tester")
    assert any(f"?diff={original.id},{exact_id}" in c.value for c in at.code)
    # the rerun read a restored copy in the home: its picker shows the file of that name, nothing to rerun yet
    assert at.selectbox(key=f"reproduce-file:{exact_id}:data_file").value == original.parameters["data_file"]
    assert at.button(key=f"reproduce-data:{exact_id}").disabled

    assert "2025 Q1" in picker.options  # files are shown by the config's label (file_label), not by path
    other = str(ROOT / "data" / "loans_2025Q1.csv")
    at = app(run=original.id)
    at.selectbox(key=f"reproduce-file:{original.id}:data_file").set_value(other).run()
    at.button(key=f"reproduce-data:{original.id}").click().run()
    moved_id = at.query_params["run"]
    at = run_until_done(at)
    assert texts(at.error)[0] == f"DIFFERENT: This rerun did not reproduce run {original.id}. What differs is listed below."
    moved = Store(home).get(moved_id)
    assert moved.parameters["data_file"].endswith("/data/loans_2025Q1.csv") and moved.rerun_variant == "params"
    headers = texts(at.subheader)
    assert {"Inputs you set", "Data files", "Results before and now", "Table by_region"} <= set(headers)
    results = next(d.value for d in at.dataframe if "relative change" in d.value.columns)
    changed = results[results["change"] != ""]
    assert "approval_rate" in set(changed["result"]) and changed["relative change"].str.endswith("%").all()

    # the shareable diff page, and History's "What differs?" on the same two runs
    page = app(diff=f"{original.id},{moved_id}")
    assert not page.exception
    assert texts(page.error)[0].startswith(f"DIFFERENT: This rerun did not reproduce run {original.id}.")
    assert texts(app(diff=f"{exact_id},{moved_id}").error)[0].startswith(f"DIFFERENT: Run {moved_id} did not reproduce run {exact_id}.")
    nb = app(notebook="credit_risk")
    nb.multiselect(key="h-pick:credit_risk").set_value([moved_id, original.id]).run()
    nb.button(key="h-diff:credit_risk").click().run()
    assert nb.query_params["diff"] == f"{original.id},{moved_id}"  # the older run first: the original
    assert texts(nb.title) == ["Did the second run reproduce the first?"]


def test_bad_rerun_input_is_one_line_without_server_paths(home, tmp_path):
    data = tmp_path / "project" / "data.csv"
    data.parent.mkdir()
    data.write_text("x\n1\n2\n")
    notebook = data.parent / "reads.ipynb"
    source = json.loads((NOTEBOOKS / "simple.ipynb").read_text())
    source["cells"][0]["source"] = [f"data_file = {str(data)!r}\n"]
    source["cells"][1]["source"] = ["rows = len(open(data_file).read().split())\n"]
    source["cells"][2]["source"] = ["print(rows)"]
    source["cells"][3]["source"] = ["from livedocs_runner import record\n", "record('rows', rows)"]
    notebook.write_text(json.dumps(source))
    [run] = run_batch(plan_runs(notebook), Store(home), options=RunOptions(trigger="cli"))
    assert run.status == "succeeded" and run.inputs[0]["snapshot"]

    notebook.unlink()
    at = app(run=run.id)
    assert at.button(key=f"reproduce-data:{run.id}").disabled  # no config, no `within:`: not from the web
    at.button(key=f"reproduce-notebook:{run.id}").click().run()
    [message] = texts(at.error)
    assert message.startswith(f"Error: run {run.id}: --notebook current, but its notebook") and "no longer exists" in message
    assert str(tmp_path) not in message and "\n" not in message
    assert at.query_params["run"] == run.id  # nothing queued

    data.write_text("x\n1\n2\n3\n")  # the file changed and its snapshot is gone
    shutil.rmtree(home / "blobs")
    at = app(run=run.id)
    at.button(key=f"reproduce-exact:{run.id}").click().run()
    [message] = texts(at.error)
    assert "snapshot of input 'data_file'" in message and "is missing" in message
    assert str(tmp_path) not in message and str(home) not in message
    assert len(Store(home).list(limit=10)) == 1


def test_hostile_cell_source_and_scenario_name_stay_text_on_the_diff_page(home, tmp_path):
    notebook = tmp_path / "hostile.ipynb"
    source = json.loads((NOTEBOOKS / "simple.ipynb").read_text())
    notebook.write_text(json.dumps(source))
    [plan] = plan_runs(notebook)
    store = Store(home)
    [first] = run_batch([dataclasses.replace(plan, scenario=HOSTILE)], store, options=RunOptions(trigger="cli"))
    source["cells"][2]["source"] = [f"print({HOSTILE!r})  # {HOSTILE}\n"]
    source["cells"].insert(2, {"cell_type": "markdown", "id": "evil", "metadata": {}, "source": [HOSTILE]})
    notebook.write_text(json.dumps(source))
    [plan] = plan_runs(notebook)
    [second] = run_batch([dataclasses.replace(plan, scenario=HOSTILE)], store, options=RunOptions(trigger="cli"))

    at = app(diff=f"{first.id},{second.id}")
    assert not at.exception, at.exception
    for markdown in markdown_surfaces(at):
        assert rendered_tags(markdown) == [], markdown
    assert any(HOSTILE in shown(c) for c in texts(at.caption))  # the scenario name, shown as its characters
    codes = [c.value for c in at.code]
    assert HOSTILE in codes  # the added Markdown cell's source, as code
    assert any(f"# {HOSTILE}" in c for c in codes)
    assert texts(at.error)[0].startswith("DIFFERENT")
    assert "Notebook cells that changed" in texts(at.subheader)


def test_environment_changed_is_amber_and_names_the_package(home):
    from livedocs_runner.provenance import capture_environment
    from livedocs_runner.records.environments import store_environment
    from livedocs_runner.records.store import RunRecord, new_id, now

    kernel = capture_environment("python3")
    name, version = next(p for p in kernel.packages if p[0] != "pip")
    moved = dataclasses.replace(kernel, packages=tuple((n, "99.0" if n == name else v) for n, v in kernel.packages))
    store = Store(home)
    runs = []
    for env in (kernel, moved):
        env_id = store_environment(home, env)
        runs.append(store.add(RunRecord(id=new_id(), notebook="/nb.ipynb", notebook_sha256="a" * 64,
                                        created_at=now(), status="succeeded", metrics={"rate": 0.5},
                                        environment={"environment_id": env_id, "packages_sha256": env_id})))
    at = app(diff=f"{runs[0].id},{runs[1].id}")
    assert not at.exception, at.exception
    assert texts(at.warning)[0].startswith(f"REPRODUCED, ENVIRONMENT CHANGED: Run {runs[1].id} gave the same "
                                           f"results as run {runs[0].id}")
    packages = next(d.value for d in at.dataframe if "package" in d.value.columns)
    assert packages.to_dict("records") == [{"package": name, "before": version, "now": "99.0", "change": "changed"}]
    assert "Installed packages and Python" in texts(at.subheader)


def test_history_exports_the_picked_runs_as_a_checked_audit_bundle(home, tmp_path):
    import zipfile

    from livedocs_runner.records.audit import check

    original = baseline_run(home)
    nb = app(notebook="credit_risk")
    nb.multiselect(key="h-pick:credit_risk").set_value([original.id]).run()
    nb.button(key="h-bundle-make:credit_risk").click().run()
    assert not nb.exception and not nb.error
    ids, data = nb.session_state["h-bundle:credit_risk"]
    assert ids == (original.id,)
    bundle = tmp_path / "evidence.zip"
    bundle.write_bytes(data)
    assert list(check(bundle)) == []  # manifest, record, files and journal excerpt all check out
    with zipfile.ZipFile(bundle) as archive:
        names = archive.namelist()
    assert "index.html" in names and "MANIFEST.sha256" in names
    assert any(name.endswith(f"runs/{original.id}/report.html") for name in names)
