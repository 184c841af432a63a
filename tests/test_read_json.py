"""The one reader of the JSON files a home keeps (environments, run copies of notebooks): each way it fails
names the file and says what is wrong (InputError, exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from livedocs_runner.errors import InputError
from livedocs_runner.records.environments import environments_dir, load_environment
from livedocs_runner.records.verdicts import diff_notebook_files

ENV_ID = "e" * 64


@pytest.mark.parametrize(("text", "message"), [
    (None, "the environment file {path} is missing from the home."),
    ("{not json", "the environment file {path} cannot be read (Expecting property name"),
    ('{"python": "3.11"}', "the environment file {path} is damaged (no package listing)."),
    ("[1, 2]", "the environment file {path} is damaged (no package listing)."),
])
def test_environment_file_errors(tmp_path: Path, text: str | None, message: str) -> None:
    path = environments_dir(tmp_path) / f"{ENV_ID}.json"
    if text is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_environment(tmp_path, ENV_ID)
    assert caught.value.message.startswith(message.format(path=path)), caught.value.message
    assert caught.value.exit_code == 2


def test_a_good_environment_file_is_read(tmp_path: Path) -> None:
    path = environments_dir(tmp_path) / f"{ENV_ID}.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"packages": {"pandas": "2.2.3"}}', encoding="utf-8")
    assert load_environment(tmp_path, ENV_ID) == {"packages": {"pandas": "2.2.3"}}


@pytest.mark.parametrize(("text", "message"), [
    (None, "the notebook {path} of run abc is missing."),
    ("nope", "cannot read the notebook {path} (Expecting value"),
    ('{"cells": {}}', "{path} is not a notebook (no list of cells)."),
])
def test_notebook_copy_errors(tmp_path: Path, text: str | None, message: str) -> None:
    good, path = tmp_path / "good.ipynb", tmp_path / "bad.ipynb"
    good.write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 4}', encoding="utf-8")
    if text is not None:
        path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        diff_notebook_files(good, path, "xyz", "abc")
    assert caught.value.message.startswith(message.format(path=path)), caught.value.message
