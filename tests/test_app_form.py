"""The form through AppTest: labels not paths, scenario descriptions, a refused empty list, no regex, JSON
or server path anywhere on the page, and an address that never overrides what the widgets show."""

from __future__ import annotations

import re

import pytest

from .test_app import ROOT, app, home, keep_main_module, shown, texts  # noqa: F401 - fixtures

SECRET = re.compile(r"JSON|\\d|\(\?P|\.\*|\^\[|regular expression|\.livedocs|" + re.escape(str(ROOT)))


def rendered_text(at) -> list[str]:
    """Every string on the page: each element's and widget's label, help, options, value, placeholder ..."""
    out: list[str] = []

    def strings(message) -> None:
        for descriptor, value in message.ListFields():
            if descriptor.type not in (descriptor.TYPE_MESSAGE, descriptor.TYPE_STRING):
                continue
            items = [value] if isinstance(value, str) or hasattr(value, "ListFields") else list(value)
            if descriptor.type == descriptor.TYPE_MESSAGE:
                for item in items:
                    strings(item)
            elif descriptor.type == descriptor.TYPE_STRING:
                out.extend(items)

    def walk(node) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            strings(proto)
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return [shown(s) for s in out if s]


@pytest.mark.parametrize("query", [
    {"notebook": "credit_risk"},
    {"notebook": "credit_risk", "scenario": "stress"},
    {"notebook": "credit_risk", "scenario": "q1_2025", "segments": "[]"},
    {"notebook": "credit_risk", "data_file": "nope.csv"},  # a bad link: the error names no server path
    {"notebook": "pricing_whatif"},
    {"notebook": "pricing_whatif", "scenario": "winter_rise", "product": "tea"},
])
def test_no_regex_json_or_server_path_anywhere_in_the_form(home, query):
    at = app(**query)
    assert not at.exception
    page = rendered_text(at)
    assert page and any("Start from scenario" in s for s in page)
    found = [s for s in page if SECRET.search(s) or str(home) in s]
    assert not found, found


def test_files_and_choices_are_shown_by_label_and_recorded_by_value(home):
    at = app(notebook="credit_risk")
    files = at.selectbox(key="field:credit_risk:data_file")
    assert files.options[:3] == ["2024 Q1", "2024 Q2", "2024 Q3"] and files.options[-1] == "2026 Q3"
    assert files.value == str(ROOT / "data" / "loans_2026Q3.csv")  # what the run gets
    assert at.multiselect(key="field:credit_risk:segments").options == ["North", "South", "East", "West"]
    files.set_value(str(ROOT / "data" / "loans_2025Q1.csv")).run()
    assert at.query_params["data_file"] == "loans_2025Q1.csv"  # a link names the file, never the server's path
    pricing = app(notebook="pricing_whatif")
    assert pricing.selectbox(key="field:pricing_whatif:product").options == [
        "Espresso beans", "Filter coffee", "Cold brew", "Hot chocolate"]


def test_scenario_picker_shows_descriptions(home):
    at = app(notebook="credit_risk")
    picker = at.selectbox(key="scenario:credit_risk")
    assert picker.options[:3] == ["baseline — The latest quarter with today's policy.",
                                  "stress — A recession - unemployment 3 points higher - with a stricter threshold.",
                                  "q1_2025 — Today's policy applied to the applications of 2025 Q1."]
    assert picker.options[3].startswith("threshold_sweep[threshold=0.3] — The same quarter scored")
    assert "The latest quarter with today's policy." in texts(at.caption)
    picker.set_value("stress").run()
    assert "A recession - unemployment 3 points higher - with a stricter threshold." in texts(at.caption)


def test_an_empty_list_is_refused_before_running_with_the_reason(home):
    at = app(notebook="credit_risk")
    at.multiselect(key="field:credit_risk:segments").set_value([]).run()
    assert texts(at.error) == ["Error: Regions (parameter 'segments'): choose at least one item; got none."]
    assert at.button(key="run:credit_risk").disabled
    assert at.query_params["segments"] == "[]"  # the link still shows what the screen shows
    at.multiselect(key="field:credit_risk:segments").set_value(["east"]).run()
    assert not at.error and not at.button(key="run:credit_risk").disabled


def test_an_older_address_of_this_page_never_overrides_the_widgets(home):
    """A rerun request can carry the address the page wrote before the last edit (fast edits)."""
    at = app(notebook="credit_risk")
    older = dict(at.query_params)
    at.slider(key="field:credit_risk:threshold").set_value(0.6).run()
    assert at.query_params["threshold"] == "0.6"
    at.query_params.clear()
    at.query_params.update(older)  # the browser had not yet shown the newer address
    at.slider(key="field:credit_risk:min_credit_score").set_value(500).run()
    assert at.slider(key="field:credit_risk:threshold").value == 0.6  # kept
    assert at.query_params == {**older, "threshold": "0.6", "min_credit_score": "500"}


def test_an_address_from_outside_still_fills_in_the_form(home):
    at = app(notebook="credit_risk")
    at.slider(key="field:credit_risk:threshold").set_value(0.6).run()
    at.query_params.clear()
    at.query_params.update({"notebook": "credit_risk", "scenario": "baseline", "threshold": "0.3"})  # a pasted link
    at.run()
    assert at.slider(key="field:credit_risk:threshold").value == 0.3


def test_switching_scenarios_back_and_forth_fills_in_each(home):
    at = app(notebook="credit_risk")
    at.slider(key="field:credit_risk:min_credit_score").set_value(500).run()
    picker = at.selectbox(key="scenario:credit_risk")
    picker.set_value("stress").run()
    assert at.slider(key="field:credit_risk:threshold").value == 0.4
    assert at.slider(key="field:credit_risk:min_credit_score").value == 300  # the scenario's, not the edit
    at.selectbox(key="scenario:credit_risk").set_value("baseline").run()  # an address this page wrote before
    assert at.slider(key="field:credit_risk:threshold").value == 0.5
    assert at.query_params == {"notebook": "credit_risk", "scenario": "baseline"}


def test_a_plain_list_is_one_item_per_line_and_travels_in_the_link(home, tmp_path, monkeypatch):
    from .conftest import write_notebook
    configs = tmp_path / "configs"
    write_notebook(configs / "lists.ipynb", [('cities = ["Lyon", "Oslo"]  # cities to compare\nweights = {"a": 1}',
                                              ["parameters"])])
    (configs / "lists.yaml").write_text("notebook: lists.ipynb\nparameters:\n  cities: {type: list, min_items: 1}\n",
                                        encoding="utf-8")
    monkeypatch.setenv("LIVEDOCS_CONFIGS", str(configs))
    at = app(notebook="lists")
    box = at.text_area(key="field:lists:cities")
    assert box.value == "Lyon\nOslo"
    assert shown(box.help) == "cities to compare. One item per line. Choose at least one."
    assert at.text_area(key="field:lists:weights").value == "a: 1"
    box.set_value("Lyon\nSan Sebastián\n").run()
    assert not at.error
    assert at.query_params["cities"] == "Lyon\nSan Sebastián\n"  # the box's text, as shown
    shared = app(**at.query_params)  # the link in another session: the same box, the same run values
    assert shared.text_area(key="field:lists:cities").value == "Lyon\nSan Sebastián"
    shared.text_area(key="field:lists:cities").set_value("\n \n").run()
    assert texts(shared.error) == ["Error: Cities (parameter 'cities'): choose at least one item; got none."]
    assert shared.button(key="run:lists").disabled
    at.text_area(key="field:lists:weights").set_value("a = 1").run()
    assert texts(at.error) == ["Error: Weights: line 1 ('a = 1') is not written as name: value. Write one entry per "
                               "line, e.g. 'north: 0.2'."]


def _form_with_an_edit_button():
    """The credit-risk form under a button that sends the user back to it with threshold 0.6 (as "Edit
    these inputs" on a tab of the same page would)."""
    import sys
    from pathlib import Path

    import streamlit as st
    sys.path.insert(0, str(Path.cwd() / "apps"))
    from livedocs_ui.form_page import notebook_page, open_form
    from livedocs_ui.services import find_config

    st.button("Edit", key="edit", on_click=open_form, args=("credit_risk", "baseline"), kwargs={"threshold": "0.6"})
    notebook_page("credit_risk", find_config("credit_risk"))


def test_open_form_fills_in_an_address_this_page_wrote_before(home, monkeypatch):
    from streamlit.testing.v1 import AppTest
    monkeypatch.chdir(ROOT)
    at = AppTest.from_function(_form_with_an_edit_button, default_timeout=60)
    at.query_params.update({"notebook": "credit_risk"})
    at.run()
    assert not at.exception, at.exception
    at.slider(key="field:credit_risk:threshold").set_value(0.6).run()  # the page writes threshold=0.6 ...
    at.slider(key="field:credit_risk:threshold").set_value(0.7).run()
    assert at.query_params["threshold"] == "0.7"
    at.button(key="edit").click().run()  # ... and is then sent to that very address on purpose
    assert at.slider(key="field:credit_risk:threshold").value == 0.6
    assert at.query_params["threshold"] == "0.6"
