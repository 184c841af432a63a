"""The web app through streamlit.testing.v1.AppTest: catalog, form, run, results, links, errors."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import os

import pytest

_MPLBACKEND = os.environ.get("MPLBACKEND")
from streamlit.testing.v1 import AppTest  # noqa: E402  (importing streamlit sets MPLBACKEND=Agg)

# ... which every kernel started later in this test session would inherit: no inline figures.
if _MPLBACKEND is None:
    os.environ.pop("MPLBACKEND", None)
else:
    os.environ["MPLBACKEND"] = _MPLBACKEND

from livedocs_runner.batch import run_batch
from livedocs_runner.execute import RunOptions
from livedocs_runner.plan import plan_runs
from livedocs_runner.records.store import Store

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "apps" / "livedocs_app.py"
WAIT = 240  # generous: kernels start slowly on a busy machine


@pytest.fixture(autouse=True)
def keep_main_module():
    """AppTest runs the script as ``__main__`` and leaves it there; multiprocessing's spawn (Dask's
    LocalCluster in a later test) would then re-run the whole app in every child process."""
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main


@pytest.fixture
def home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("LIVEDOCS_CONFIGS", str(ROOT / "configs"))
    monkeypatch.setenv("LIVEDOCS_HOME", str(home))
    monkeypatch.setenv("LIVEDOCS_WORKERS", "2")
    monkeypatch.setenv("LIVEDOCS_USER", "tester")
    return home


def app(signed_in: dict | None = None, /, **query: str) -> AppTest:
    """The app's page for ``query`` (``user=`` is the History page's filter), run once; ``signed_in``: what
    ``st.user`` holds (an OpenID Connect sign-in)."""
    at = AppTest.from_file(str(APP), default_timeout=60)
    if signed_in is not None:
        at.user = signed_in
    at.query_params.update(query)
    return at.run()


def shown(markdown: str) -> str:
    """What a Markdown source made by the app's ``text()`` (every punctuation mark escaped) displays."""
    return re.sub(r"\\(.)", r"\1", markdown)


def texts(elements) -> list[str]:
    return [shown(str(e.value)) for e in elements]


def run_until_done(at: AppTest) -> AppTest:
    """Re-run the page (as the browser's polling would) until the run's results are shown."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        at.run()
        assert not at.exception, at.exception
        if at.success or at.error or at.warning:
            return at
        time.sleep(0.2)
    raise AssertionError("the run did not finish: " + " | ".join(texts(at.info)))


def cli_error(*args: str, home: Path) -> str:
    done = subprocess.run([sys.executable, "-m", "livedocs_runner.cli", "--home", str(home), *args],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2
    # the CLI names the target a -p value was given for ("configs/x.yaml (-p): "); the form has no -p
    return done.stderr.strip().splitlines()[0].replace(f"{args[1]} (-p): ", "", 1)


def test_catalog_lists_every_config(home):
    at = app()
    assert not at.exception
    assert texts(at.subheader) == ["Credit risk scorecard", "Credit risk scorecard (R)", "Pricing what-if"]
    assert any("approval" in m.lower() or "approve" in m.lower() for m in texts(at.markdown))
    at.button(key="open:credit_risk").click().run()
    assert at.query_params["notebook"] == "credit_risk"
    assert texts(at.title) == ["Credit risk scorecard"]


def test_form_comes_from_the_schema_and_scenarios_prefill(home):
    at = app(notebook="credit_risk")
    assert at.slider(key="field:credit_risk:threshold").value == 0.5
    assert at.selectbox(key="field:credit_risk:data_file").value.endswith("loans_2026Q3.csv")
    assert at.multiselect(key="field:credit_risk:segments").value == ["north", "south", "east", "west"]
    at.selectbox(key="scenario:credit_risk").set_value("stress").run()
    assert at.query_params["scenario"] == "stress"
    assert at.slider(key="field:credit_risk:threshold").value == 0.4
    assert at.slider(key="field:credit_risk:unemployment_shock").value == 3.0
    pricing = app(notebook="pricing_whatif")
    assert pricing.toggle(key="field:pricing_whatif:include_promo").value is True
    assert str(pricing.date_input(key="field:pricing_whatif:start_date").value) == "2025-01-06"


def test_shared_form_link_prefills_and_the_url_follows_the_form(home):
    at = app(notebook="credit_risk", threshold="0.4", data_file="loans_2025Q1.csv")
    assert not at.error
    assert at.slider(key="field:credit_risk:threshold").value == 0.4
    assert at.selectbox(key="field:credit_risk:data_file").value.endswith("loans_2025Q1.csv")
    at.slider(key="field:credit_risk:min_credit_score").set_value(500).run()
    assert at.query_params == {"notebook": "credit_risk", "scenario": "baseline", "threshold": "0.4",
                               "data_file": "loans_2025Q1.csv", "min_credit_score": "500"}
    assert any("min_credit_score=500" in c.value for c in at.code)


@pytest.mark.parametrize("name, text", [("threshold", "high"), ("threshold", "1.5"), ("treshold", "0.4"),
                                        ("min_credit_score", "12.5")])
def test_invalid_value_refused_with_the_cli_message(home, tmp_path, name, text):
    at = app(notebook="credit_risk", **{name: text})
    # run from the project folder with a relative path, the CLI names files as the app shows them to
    # a web user: relative to the project, never as absolute server paths
    expected = cli_error("run", "configs/credit_risk.yaml", "-p", f"{name}={text}", home=tmp_path / "cli")
    assert any(e.startswith(expected) for e in texts(at.error)), (expected, texts(at.error))
    assert not any(str(ROOT) in e for e in texts(at.error))


def test_invalid_text_refused_in_the_form(home, tmp_path, monkeypatch):
    monkeypatch.setenv("LIVEDOCS_CONFIGS", str(ROOT / "tests" / "data" / "configs"))
    at = app(notebook="simple")
    at.text_input(key="field:simple:name").set_value("Not Lower").run()
    expected = cli_error("run", str(ROOT / "tests/data/configs/simple.yaml"), "-p", "name=Not Lower", home=tmp_path / "cli")
    # the CLI's message, except that the form shows the pattern as an example value, never as a regex
    assert texts(at.error) == [expected.replace("matching '^[a-z]+$'", "like 'a'")]
    assert at.button(key="run:simple").disabled


@pytest.mark.kernel
def test_run_from_the_form_then_share_and_reuse(home):
    at = app(notebook="credit_risk")
    at.slider(key="field:credit_risk:threshold").set_value(0.45).run()
    at.button(key="run:credit_risk").click().run()
    run_id = at.query_params["run"]
    at = run_until_done(at)
    assert texts(at.success)[0].startswith("Succeeded")
    labels = [shown(m.label) for m in at.metric]
    assert labels[:4] == ["Applications", "Approval rate", "Default rate", "Expected loss"]  # configs/credit_risk.yaml results:
    values = [m.value for m in at.metric]
    assert at.dataframe and at.subheader  # the by-region table
    record = Store(home).get(run_id)
    assert (record.trigger, record.user, record.scenario) == ("app", "tester", "baseline (edited)")
    assert record.parameters["threshold"] == 0.45
    assert any(f"?run={run_id}" in c.value for c in at.code)
    assert any(p.endswith(".png") for p in record.outputs)  # the notebook's figure (inline backend)

    shared = app(run=run_id)  # the link opens the same result in another session
    assert [m.value for m in shared.metric] == values
    assert texts(shared.title) == ["Credit risk scorecard — baseline (edited)"]

    again = app(notebook="credit_risk", threshold="0.45")  # identical inputs: offer the stored result
    again.button(key="run:credit_risk").click().run()
    assert any(run_id in i for i in texts(again.info))
    again.button(key="show-cached:credit_risk").click().run()
    assert again.query_params["run"] == run_id


@pytest.mark.kernel
def test_baseline_deltas_history_and_compare(home):
    store = Store(home)
    plans = plan_runs(ROOT / "configs" / "credit_risk.yaml", scenarios=["baseline", "stress"])
    baseline, stress = run_batch(plans, store, options=RunOptions(trigger="cli"), workers=2)
    at = app(run=stress.id)
    assert at.selectbox(key=f"baseline:{stress.id}").value == baseline.id  # the config's baseline scenario
    deltas = {shown(m.label): m.delta for m in at.metric}
    assert deltas["Approval rate"] and deltas["Approval rate"] != "0"

    nb = app(notebook="credit_risk")
    table = nb.dataframe[0].value
    assert set(table["run"]) == {baseline.id, stress.id} and set(table["from"]) == {"cli"}
    nb.multiselect(key="h-pick:credit_risk").set_value([baseline.id, stress.id]).run()
    nb.button(key="h-compare:credit_risk").click().run()
    assert nb.query_params["compare"] == f"{baseline.id},{stress.id}"
    assert texts(nb.title) == ["Compare runs"]
    differ = nb.dataframe[0].value
    assert list(differ.index) == ["threshold", "unemployment_shock"]
    # two inputs differ: a table with the differences, no chart that would mix their effects
    assert not [s for s in nb.selectbox if s.key == "compare-metric"]
    assert any(c.startswith("No chart: the runs differ in 2 inputs") for c in texts(nb.caption))


@pytest.mark.kernel
def test_failed_run_is_explained_plainly(home):
    plan = plan_runs(ROOT / "tests" / "data" / "notebooks" / "broken.ipynb")[0]
    [failed] = run_batch([plan], Store(home), options=RunOptions(trigger="cli"))
    at = app(run=failed.id)
    assert texts(at.error) == ['The run stopped at step 3 ("1 / divisor"): ZeroDivisionError: division by zero']
    assert at.expander[0].label == "Technical detail"
    assert "ZeroDivisionError" in at.expander[0].code[0].value


def test_unknown_run_and_notebook(home):
    assert texts(app(run="abc123").error)[0].startswith("Error: no run 'abc123'")
    assert texts(app(notebook="nope").error)[0].startswith("Error: no notebook 'nope' here.")


def test_app_command_refuses_a_missing_configs_folder(tmp_path):
    done = subprocess.run([sys.executable, "-c", "from livedocs_runner.cli import main; main()", "app",
                           "--configs", str(tmp_path / "nope")], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2
    assert done.stderr.splitlines()[0] == f"Error: configs folder {tmp_path / 'nope'} does not exist."


def test_app_command_line_and_environment(tmp_path):
    from livedocs_runner.cli.app import APP_SCRIPT, app_command
    assert APP_SCRIPT == APP
    argv, env = app_command(APP_SCRIPT, configs=ROOT / "configs", home=tmp_path / "h", port=9123, workers=3)
    # Streamlit's command line, run by the launcher that starts the app's worker and warms kernels up first
    assert argv[1:4] == [str(APP.with_name("livedocs_serve.py")), "run", str(APP)]
    assert env["LIVEDOCS_APP_WORKER"] == "1"
    assert argv[argv.index("--server.port") + 1] == "9123" and argv[argv.index("--server.headless") + 1] == "true"
    assert (env["LIVEDOCS_CONFIGS"], env["LIVEDOCS_HOME"], env["LIVEDOCS_WORKERS"]) == (
        str(ROOT / "configs"), str((tmp_path / "h").resolve()), "3")
