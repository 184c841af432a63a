"""What a web user sees: people-supplied text as text, no server paths, no tracebacks, one broken config
never breaks the rest. Through streamlit.testing.v1.AppTest; the real-browser proof is in test_browser.py."""

from __future__ import annotations

import logging
import re
import shutil
import sys
import uuid
from html.parser import HTMLParser
from pathlib import Path

import mistune
import pytest

from livedocs_runner.errors import RunError
from livedocs_runner.records.store import RunRecord, Store

from .conftest import NOTEBOOKS, until
from .test_app import APP, ROOT, AppTest  # AppTest imported there, keeping the kernels' MPLBACKEND
from .test_app import keep_main_module  # noqa: F401  (an autouse fixture)

if str(APP.parent) not in sys.path:
    sys.path.insert(0, str(APP.parent))  # the app's page modules, as the entry script imports them
LINK = "[click](javascript:alert(1))"
IMAGE = "![](http://127.0.0.1:9/track.png)"
HOSTILE = f"{LINK} {IMAGE} <img src=x onerror=alert(1)> :red[red] www.evil.example a@evil.example $x^2$"


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A configs folder with one hostile-but-valid config and several broken ones."""
    configs = tmp_path / "srv-secret-place" / "configs"
    configs.mkdir(parents=True)
    shutil.copy(NOTEBOOKS / "simple.ipynb", configs / "simple.ipynb")
    (configs / "good.yaml").write_text(
        "notebook: simple.ipynb\n"
        f"title: {HOSTILE!r}\n"
        f"description: {('Desc ' + HOSTILE)!r}\n"
        "parameters:\n"
        f"  a: {{help: {HOSTILE!r}, label: {('A ' + LINK)!r}}}\n"
        "scenarios:\n"
        f"  {HOSTILE!r}: {{a: 1}}\n"
        "  plain: {a: 2}\n", encoding="utf-8")
    (configs / "bad_yaml.yaml").write_text("notebook: [unclosed\n", encoding="utf-8")
    (configs / "missing_notebook.yaml").write_text("notebook: nowhere/none.ipynb\n", encoding="utf-8")
    (configs / "a_folder.yaml").mkdir()
    (configs / "dangling.yaml").symlink_to(tmp_path / "gone.yaml")
    (configs / "boom.yaml").write_text("notebook: simple.ipynb\n", encoding="utf-8")
    home = tmp_path / "home"
    monkeypatch.setenv("LIVEDOCS_CONFIGS", str(configs))
    monkeypatch.setenv("LIVEDOCS_HOME", str(home))
    monkeypatch.setenv("LIVEDOCS_WORKERS", "1")
    monkeypatch.setenv("LIVEDOCS_USER", HOSTILE)
    return configs, home


def app(**query: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.query_params.update(query)
    return at.run()


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


_markdown = mistune.create_markdown(escape=False, plugins=["strikethrough", "table", "url"])


def rendered_tags(markdown: str) -> list[tuple[str, dict]]:
    """The HTML elements a GFM renderer (with autolinks and raw HTML) makes of ``markdown``."""
    parser = Tags()
    parser.feed(_markdown(markdown))
    return [(t, a) for t, a in parser.tags if t not in ("p",)]


def markdown_surfaces(at: AppTest) -> list[str]:
    """Every Markdown source on the page: text elements, alerts, and widget labels and tooltips."""
    sources = [str(e.value) for kind in ("title", "header", "subheader", "markdown", "caption", "error", "info",
                                        "warning", "success") for e in getattr(at, kind)]
    for kind in ("button", "selectbox", "multiselect", "slider", "number_input", "text_input", "text_area",
                 "toggle", "date_input", "metric"):
        for element in getattr(at, kind):
            sources.append(str(element.label))
            sources.append(str(getattr(element, "help", "") or ""))
    for metric in at.metric:
        sources.append(str(metric.value))
    return [s for s in sources if s]


def shown(markdown: str) -> str:
    return re.sub(r"\\(.)", r"\1", markdown)


def assert_text_only(at: AppTest, must_show: int = 1) -> None:
    assert not at.exception, at.exception
    surfaces = markdown_surfaces(at)
    for source in surfaces:
        assert rendered_tags(source) == [], source
    assert sum(HOSTILE in shown(s) for s in surfaces) >= must_show  # shown verbatim, as text


def all_text(at: AppTest) -> str:
    parts = markdown_surfaces(at) + [str(c.value) for c in at.code]
    for element in at.selectbox:
        parts += [str(o) for o in element.options]
    return "\n".join(shown(p) for p in parts)


def test_the_escaping_proof_detects_markdown():
    """The check above would catch the attack if the app did not escape."""
    assert [t for t, _ in rendered_tags(HOSTILE)] == ["a", "img", "img"]
    assert [t for t, _ in rendered_tags("see http://evil.example/x")] == ["a"]
    assert [t for t, _ in rendered_tags(f"Title {LINK}")] == ["a"]


def test_catalog_and_form_show_config_text_as_text(project):
    configs, _ = project
    at = app()
    assert_text_only(at, must_show=3)  # sidebar button, subheader, description
    form = app(notebook="good")
    assert_text_only(form, must_show=2)  # title and the tooltip of field a
    assert any(shown(b.label) == "A " + LINK for b in form.slider) or any(
        shown(n.label) == "A " + LINK for n in form.number_input)
    form.selectbox(key="scenario:good").set_value(HOSTILE).run()
    assert_text_only(form, must_show=2)
    assert str(configs.parent) not in all_text(form)


def test_hostile_run_record_is_shown_as_text(project):
    _, home = project
    store = Store(home)
    record = store.add(RunRecord(
        id=uuid.uuid4().hex[:12], status="failed", notebook=str(NOTEBOOKS / "simple.ipynb"), notebook_sha256="0" * 64,
        title=HOSTILE, scenario=HOSTILE, user=HOSTILE, trigger="app", parameters={"a": 1},
        metrics={HOSTILE: HOSTILE, "n": 3, "table": {"type": "table", "columns": [HOSTILE], "data": [[HOSTILE]]}},
        error=RunError(ename="ValueError", evalue=HOSTILE, cell=2,
                       traceback=f"\x1b[31mValueError\x1b[0m in /srv/secret/lib/x.py: {HOSTILE}").to_json()))
    at = app(run=record.id)
    assert_text_only(at, must_show=4)  # title, caption (user), error, metric label/value, table name
    assert texts_of(at.error) == [f"The run stopped in cell 2: ValueError: {HOSTILE}"]  # no notebook to number it by
    detail = at.expander[0].code[0].value
    assert "\x1b" not in detail and "/srv/secret" not in detail and "x.py" in detail


def texts_of(elements) -> list[str]:
    return [shown(str(e.value)) for e in elements]


@pytest.mark.parametrize("run_id", [HOSTILE, "abc123", "ffffffffffff"])
def test_run_id_from_the_url_is_text(project, run_id):
    _, home = project
    at = app(run=run_id)
    assert_text_only(at, must_show=0)
    [error] = texts_of(at.error)
    assert error.startswith("Error: ")
    assert str(home) not in error and str(home.parent) not in error


def test_unknown_notebook_from_the_url_is_text(project):
    at = app(notebook=HOSTILE)
    assert_text_only(at, must_show=1)
    assert texts_of(at.error)[0].startswith(f"Error: no notebook {HOSTILE!r} here.")


def test_broken_configs_are_broken_entries_and_the_rest_works(project, monkeypatch, capfd):
    configs, home = project
    import livedocs_ui.services as services  # the app's own module, as the page imports it (AppTest path)
    real = services.load_config

    def load(path):
        if Path(path).name == "boom.yaml":
            raise RuntimeError(f"unexpected failure reading {path}")  # a bug, not a LivedocsError
        return real(path)

    monkeypatch.setattr(services, "load_config", load)
    at = app()
    assert not at.exception
    names = texts_of(at.subheader)
    assert names == ["a_folder", "bad_yaml", "boom", "dangling", HOSTILE, "missing_notebook"]
    errors = texts_of(at.error)
    assert len(errors) == 5 and all(e.startswith("This config cannot be loaded. Error: ") for e in errors)
    boom = next(e for e in errors if "reference" in e)
    ref = re.search(r"reference ([0-9a-f]{8})", boom).group(1)
    assert "unexpected failure" not in boom and "RuntimeError" not in boom
    logged = capfd.readouterr().err
    assert f"[{ref}]" in logged and "RuntimeError: unexpected failure reading" in logged  # details in the server log
    page = "\n".join(errors)
    assert str(configs.parent) not in page and str(configs) not in page  # no server paths
    assert "bad_yaml.yaml" in page and "missing_notebook.yaml" in page  # the file is still named

    form = app(notebook="good")  # the good config's pages still work
    assert not at.exception and not form.error
    assert form.button(key="run:good") and not form.button(key="run:good").disabled
    broken = app(notebook="bad_yaml")
    assert texts_of(broken.error)[0].startswith("This config cannot be loaded. Error: bad_yaml.yaml")
    Store(home)  # an empty store: the compare and run pages do not depend on the configs
    assert texts_of(app(compare="abc,def").error)[0].startswith("Error: no run 'abc'")


def test_an_unexpected_error_shows_a_reference_not_a_traceback(project, monkeypatch, capfd):
    from livedocs_runner.records.store import Store as StoreClass

    def explode(self, run_id):
        raise KeyError(f"/srv/secret/runs.db row {run_id} went missing")

    monkeypatch.setattr(StoreClass, "get", explode)
    at = app(run="0123456789ab")
    assert not at.exception  # nothing reaches Streamlit's own traceback display
    [error] = texts_of(at.error)
    ref = re.fullmatch(r"Something went wrong on the server \(reference ([0-9a-f]{8})\)\. "
                       r"The details are in the server log\.", error).group(1)
    logged = capfd.readouterr().err
    assert f"[{ref}]" in logged and "KeyError" in logged and "Traceback" in logged


def test_sidebar_shows_no_server_path(project):
    configs, home = project
    at = app()
    everything = all_text(at) + "\n".join(str(e.value) for e in at.sidebar.caption)
    assert str(home) not in everything and str(configs) not in everything


def test_public_messages_drop_server_paths():
    from livedocs_ui.safe import public, text
    roots = [Path("/srv/app"), Path("/srv/app/.livedocs")]
    assert public("/srv/app/configs/x.yaml, line 3: bad", roots) == "configs/x.yaml, line 3: bad"
    assert public("no run 'ab' in /srv/app/.livedocs.", roots) == "no run 'ab' in .livedocs."
    assert public("expects a path inside /data/shared/q, got '/etc/passwd'.", roots) == \
        "expects a path inside q, got 'passwd'."
    assert public("see https://example.org/a/b and ratio 1/2", roots) == "see https://example.org/a/b and ratio 1/2"
    assert text("a\n\n# b\x1b[31m") == "a \\# b\\[31m"
    assert text("1. x | y") == "1\\. x \\| y"


def test_app_listens_on_localhost_unless_told(tmp_path):
    from livedocs_runner.cli.app import APP_SCRIPT, app_command
    argv, _ = app_command(APP_SCRIPT, configs=ROOT / "configs", home=tmp_path, port=9000, workers=1)
    assert argv[argv.index("--server.address") + 1] == "127.0.0.1"
    assert argv[argv.index("--client.showErrorDetails") + 1] == "none"
    argv, _ = app_command(APP_SCRIPT, configs=ROOT / "configs", home=tmp_path, port=9000, workers=1, host="0.0.0.0")
    assert argv[argv.index("--server.address") + 1] == "0.0.0.0"


@pytest.mark.kernel
def test_form_keeps_a_fixed_path_and_an_untouched_any_value(tmp_path, monkeypatch):
    """Item 12 through the app: the scenario's file (no `within:`) and x = None reach the run unchanged."""
    configs = tmp_path / "configs"
    (configs / "data").mkdir(parents=True)
    (configs / "data" / "a.csv").write_text("x\n1\n")
    (configs / "data" / "b.csv").write_text("x\n1\n2\n")
    from .conftest import write_notebook
    write_notebook(configs / "count.ipynb", [
        ('src = "data/a.csv"  # input\nx = None  # anything', ["parameters"]),
        "from livedocs_runner import record\nrecord('rows', len(open(src).read().splitlines()) - 1)\n"
        "record('x_is_none', x is None)"])
    (configs / "count.yaml").write_text("notebook: count.ipynb\nparameters:\n  src: {type: path}\n"
                                        "scenarios:\n  base: {}\n  other: {src: data/b.csv}\n", encoding="utf-8")
    home = tmp_path / "home"
    monkeypatch.setenv("LIVEDOCS_CONFIGS", str(configs))
    monkeypatch.setenv("LIVEDOCS_HOME", str(home))
    monkeypatch.setenv("LIVEDOCS_USER", "tester")
    at = app(notebook="count", scenario="other")
    assert not at.error and not at.exception
    assert at.text_input(key="field:count:src").disabled
    assert at.text_input(key="field:count:src").value == "data/b.csv"  # as the config writes it, not the server path
    assert "src" not in at.query_params  # a server path is not put into the link
    at.button(key="run:count").click().run()
    run_id = at.query_params["run"]
    record = Store(home).get(run_id)
    assert record.scenario == "other"  # not "other (edited)": nothing was changed
    assert record.parameters == {"src": str(configs / "data" / "b.csv"), "x": None}
    done = until(lambda: (r := Store(home).get(run_id)).status in ("succeeded", "failed", "cancelled") and r,
                 "the run to finish", timeout=240)
    assert done.status == "succeeded", done.error
    assert done.metrics == {"rows": 2, "x_is_none": True}
    page = app(run=run_id)  # the run's inputs are shown without the server's folders
    assert not page.dataframe  # the section with the inputs is closed: they are drawn when it is opened
    page.session_state[f"inputs:{run_id}"] = True  # open it
    page.run()
    inputs = page.dataframe[-1].value
    assert dict(zip(inputs["parameter"], inputs["value"])) == {"src": '"data/b.csv"', "x": "null"}
    page.button(key="edit").click().run()  # "Edit these inputs": back to the form, same scenario, no error
    assert not page.error and not page.exception
    assert page.query_params == {"notebook": "count", "scenario": "other"}
    assert page.text_area(key="field:count:x").value == "null"
    assert page.text_input(key="field:count:src").value == "data/b.csv"
    page.text_area(key="field:count:x").set_value('{"k": [1, 2]}').run()
    assert not page.error and page.query_params["x"] == '{"k": [1, 2]}'
    page.text_area(key="field:count:x").set_value("not json").run()
    assert texts_of(page.error) == ['Error: parameter \'x\' expects a number, "text in double quotes", true, false, '
                                    'null, a list like [1, 2] or a dict like {"a": 1}, got \'not json\'. '
                                    'Put text in "double quotes".']
    assert page.button(key="run:count").disabled


def test_logger_reaches_stderr():
    from livedocs_ui.safe import log
    assert log.handlers and log.level <= logging.ERROR


def test_compare_link_is_bounded(project):
    at = app(compare=",".join(f"{n:012x}" for n in range(500)))
    assert texts_of(at.error) == ["Error: 500 runs given; compare at most 50 at a time."]
