"""What a web user may see: text that stays text, messages without server paths, errors with a reference.

Streamlit renders Markdown (links, images, ``:red[...]`` directives, ``$math$``) in titles, headers,
captions, alerts, button and widget labels, tooltips, tabs and metric labels/values. Nothing the
app shows there is assembled from people-supplied text (user names, config titles and
descriptions, scenario names, run ids from the URL, error messages, metric names): every such
string goes through :func:`text`, which escapes every Markdown character, so it renders as the
characters it contains. Plain-text surfaces (``st.code``, ``st.dataframe``, select options) need no
escaping.

Errors: a :class:`LivedocsError` is shown as its message with server paths removed
(:func:`public`); anything else is logged with its traceback under a short reference id, and the
web user sees only that id (:func:`report_unexpected`).
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
import uuid
from collections.abc import Callable, Iterable, Iterator
from functools import wraps
from pathlib import Path
from typing import Any

import streamlit as st

from livedocs_runner.errors import LivedocsError



class _Stderr(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (the server's log, or a test's capture)."""

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


log = logging.getLogger("livedocs.app")
if not log.handlers:  # Streamlit configures its own loggers only: make ours reach the server's stderr
    _handler = _Stderr()
    _handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    log.addHandler(_handler)
    log.setLevel(logging.INFO)
    log.propagate = False

# Every ASCII punctuation character that can start or close Markdown, HTML, a Streamlit directive
# (``:red[x]``, ``:material/x:``, ``:emoji:``), math (``$``), an autolink (``www.``, ``http:``,
# ``a@b.c``) or a table: CommonMark renders ``\\c`` as ``c`` for each of them.
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~:$&=^@])")
_SPACE = re.compile(r"\s+")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# an absolute POSIX path (at least one folder): /srv/app/configs/x.yaml -> x.yaml
_ABSOLUTE = re.compile(r"(?<![\w:/.~-])/(?:[^\s/'\"`<>()\[\],;]+/)+(?P<name>[^\s/'\"`<>()\[\],;]*)")


def text(value: Any) -> str:
    """``value`` as Markdown that renders exactly its characters, on one line."""
    return _MARKDOWN.sub(r"\\\1", _SPACE.sub(" ", _CONTROL.sub("", str(value))).strip())


def public(message: str, roots: Iterable[Path] = ()) -> str:
    """``message`` without absolute server paths: paths under ``roots`` become relative, others their name."""
    for root in sorted({str(r).rstrip("/") for r in roots if str(r) not in ("", "/")}, key=len, reverse=True):
        message = message.replace(root + "/", "").replace(root, Path(root).name)
    return _ABSOLUTE.sub(lambda m: m.group("name") or "…", message)


def clean_traceback(traceback: str, roots: Iterable[Path] = ()) -> str:
    """A notebook's traceback for display: colour codes stripped, server paths shortened."""
    return public(_ANSI.sub("", traceback), roots)


def reference() -> str:
    return uuid.uuid4().hex[:8]


def report_unexpected(exc: BaseException, what: str) -> str:
    """Log ``exc`` with its traceback under a new reference id; return the id."""
    ref = reference()
    log.error("[%s] %s", ref, what, exc_info=(type(exc), exc, exc.__traceback__))
    return ref


def unexpected_message(ref: str) -> str:
    return f"Something went wrong on the server (reference {ref}). The details are in the server log."


def roots() -> list[Path]:
    """The folders whose paths are shown relative: the configs' project, the configs, the store."""
    from .services import Settings
    settings = Settings.from_env()
    return [settings.configs.parent, settings.configs, settings.home, Path.cwd()]


def show_error(exc: BaseException, what: str = "page") -> None:
    """``st.error`` for ``exc``: a LivedocsError's message (no paths), else a reference id."""
    if isinstance(exc, LivedocsError):
        st.error(text(f"Error: {public(str(exc), roots())}"))
    else:
        st.error(text(unexpected_message(report_unexpected(exc, f"error while showing the {what}"))))


@contextlib.contextmanager
def guarded(what: str) -> Iterator[None]:
    """Show any error raised inside as :func:`show_error` does (Streamlit's rerun/stop pass through)."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - the web user gets a message, the log the traceback
        show_error(exc, what)


FLASH = "livedocs:flash"


def callback(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a widget callback: an error becomes a message shown at the top of the next page."""

    @wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except LivedocsError as exc:
            st.session_state[FLASH] = f"Error: {public(str(exc), roots())}"
        except Exception as exc:  # noqa: BLE001
            st.session_state[FLASH] = unexpected_message(report_unexpected(exc, f"error in {fn.__name__}"))
        return None

    return run


def show_flash() -> None:
    message = st.session_state.pop(FLASH, None)
    if message:
        st.error(text(message))
