"""Checking an R plan without papermill (inject_r.check_parameters) decides as papermill's own registry does."""

from __future__ import annotations

import pytest

from livedocs_runner.errors import ParameterError
from livedocs_runner.inject_r import PAPERMILL_KEYS, R_KEYS, check_parameters, translator_for, uses_r_translator


def test_the_mirrored_registry_is_papermills() -> None:
    from papermill.translators import RTranslator, papermill_translators

    registry = papermill_translators._translators  # no public listing; the mirror must follow it
    assert set(registry) == PAPERMILL_KEYS
    assert {key for key, translator in registry.items() if translator is RTranslator} == R_KEYS


@pytest.mark.parametrize(("language", "kernel"), [
    ("R", "ir"), ("R", ""), ("R", "sparkrkernel"), ("python", "sparkrkernel"), ("R", "python"), ("R", "julia"),
    ("julia", "julia-1.10"), ("scala", "ir"), ("r", "ir"), ("bash", "bash"), ("R", "bash"),
])
def test_planning_and_running_agree_on_the_language(language: str, kernel: str) -> None:
    try:
        running = translator_for(language, kernel) is not None
    except ParameterError:
        running = False
    assert uses_r_translator(language, kernel) is running
    if language != "python":
        if running:
            check_parameters({"threshold": 0.4}, language, kernel)
        else:
            with pytest.raises(ParameterError, match="livedocs cannot inject parameters into a"):
                check_parameters({"threshold": 0.4}, language, kernel)


@pytest.mark.parametrize(("params", "message"), [
    ({"x": "caf\u00e9"}, "which R reads as a Latin-1 byte"),
    ({"x": float("nan")}, "cannot be injected into an R notebook"),
    ({"x": 2 ** 60}, "exact only up to 2**53"),
    ({"_x": 1}, "is not a valid R name"),
    ({"TRUE": 1}, "is not a valid R name"),
])
def test_planning_refuses_what_running_would(params: dict, message: str) -> None:
    from livedocs_runner.inject import injected_source

    with pytest.raises(ParameterError, match=message.replace("*", r"\*")):
        check_parameters(params, "R", "ir")
    with pytest.raises(ParameterError, match=message.replace("*", r"\*")):
        injected_source(params, "R", "ir")
