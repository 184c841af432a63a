"""No terminal escape codes in what livedocs keeps and shows: plain_text, RunError, --json of old records."""

from __future__ import annotations

import json
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from livedocs_runner.cli.format import record_json
from livedocs_runner.errors import RunError
from livedocs_runner.plain import plain_line, plain_text
from livedocs_runner.records.store import RunRecord

ESC = "\x1b"


def is_control(char: str) -> bool:
    """What must never survive: C0/C1 controls but newline and tab, DEL, bidi controls, lone surrogates."""
    return (unicodedata.category(char) in ("Cc", "Cs") and char not in "\n\t") or char in BIDI


BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


@pytest.mark.parametrize(("raw", "plain"), [
    ("\x1b[31mZeroDivisionError\x1b[0m: x", "ZeroDivisionError: x"),  # SGR colours
    ("\x1b[1;38;5;208mbold\x1b[39;49m", "bold"),  # 256 colours
    ("\x1b[2J\x1b[H\x1b[?25lcleared", "cleared"),  # clear screen, home, private mode
    ("a\x1b]0;window title\x07b", "ab"),  # OSC title, ended by BEL
    ("\x1b]8;;https://evil.example\x1b\\link\x1b]8;;\x1b\\", "link"),  # OSC 8 hyperlink, ended by ST
    ("x\x1bP1$r0m\x1b\\y", "xy"),  # DCS string
    ("x\x1b_apc payload\x1b\\y", "xy"),  # APC string
    ("\x9b31mC1 CSI\x9b0m", "C1 CSI"),  # 8-bit CSI
    ("\x9d0;title\x9cafter", "after"),  # 8-bit OSC and ST
    ("\x1b(Bcharset \x1b7saved\x1b8", "charset saved"),  # nF and Fp escapes
    ("\x1bcreset", "reset"),  # RIS (Fs)
    ("dangling \x1b", "dangling "),  # a lone ESC at the end
    ("unterminated \x1b]0;title", "unterminated 0;title"),  # no terminator: only the escape itself goes
    ("bell\x07 back\x08space nul\x00 del\x7f", "bell backspace nul del"),
    ("lines\r\nkept\rand\ttabs\n", "lines\nkept\nand\ttabs\n"),
    ("para\u2028sep\u2029end", "para\nsep\nend"),
    ("abc\u202edcba\u2066x\u2069", "abcdcbax"),  # bidi override and isolate
    ("lone \ud800 surrogate", "lone \ufffd surrogate"),
    ("plain text: état, 数字, emoji 🎉, [brackets] ; ok", "plain text: état, 数字, emoji 🎉, [brackets] ; ok"),
])
def test_plain_text_table(raw: str, plain: str) -> None:
    assert plain_text(raw) == plain


def test_plain_line_folds_and_cuts() -> None:
    assert plain_line("  \x1b[1mScore\x1b[0m\n  applications\t now ") == "Score applications now"
    assert plain_line("x" * 100, 10) == "x" * 9 + "…"


# --- properties -----------------------------------------------------------------------------

# printable text: anything but controls, surrogates and bidi controls (newlines and tabs are kept too)
printable = st.text(st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters=BIDI + "\u2028\u2029")
                    | st.sampled_from("\n\t"), max_size=30)

params = st.text(st.characters(min_codepoint=0x30, max_codepoint=0x3F), max_size=6)
intermediates = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x2F), max_size=2)
string_body = st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=20)  # OSC/DCS payload


def char_range(low: int, high: int, exclude: str = "") -> st.SearchStrategy[str]:
    return st.characters(min_codepoint=low, max_codepoint=high).filter(lambda c: c not in exclude)


csi = st.builds(lambda intro, p, i, f: intro + p + i + f, st.sampled_from([ESC + "[", "\x9b"]), params, intermediates,
                char_range(0x40, 0x7E))
osc = st.builds(lambda intro, body, end: intro + body + end, st.sampled_from([ESC + "]", "\x9d"]), string_body,
                st.sampled_from(["\x07", ESC + "\\", "\x9c"]))
dcs = st.builds(lambda intro, body, end: intro + body + end,
                st.sampled_from([ESC + "P", ESC + "X", ESC + "^", ESC + "_", "\x90", "\x98", "\x9e", "\x9f"]),
                string_body, st.sampled_from([ESC + "\\", "\x9c"]))
# two- and three-byte escapes: ESC, intermediates, a final byte (not one that starts a longer sequence)
short = st.builds(lambda i, f: ESC + i + f, intermediates, char_range(0x30, 0x7E, exclude="[]PX^_"))
nf = st.builds(lambda i, f: ESC + i + f, intermediates.filter(bool), char_range(0x30, 0x7E))
# single control characters, but those that start a sequence (ESC and the 8-bit CSI, OSC, DCS, SOS, PM, APC)
controls = st.sampled_from([c for c in map(chr, [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F,
                                                 *range(0x80, 0xA0)]) if c not in ESC + "\x9b\x9d\x90\x98\x9e\x9f"])
escapes = st.one_of(csi, osc, dcs, short, nf, controls)


@given(st.lists(st.tuples(printable, escapes), max_size=8), printable)
def test_every_escape_sequence_goes_and_printable_text_stays(pairs: list[tuple[str, str]], tail: str) -> None:
    raw = "".join(text + escape for text, escape in pairs) + tail
    assert plain_text(raw) == "".join(text for text, _ in pairs) + tail


@given(st.text())
def test_nothing_that_acts_on_a_terminal_survives_any_text(raw: str) -> None:
    plain = plain_text(raw)
    assert not any(is_control(c) for c in plain), ascii(plain)
    assert plain_text(plain) == plain  # idempotent: cleaning twice changes nothing


@given(st.text(), st.text(), st.text())
def test_a_run_error_is_plain_text_however_it_is_made(ename: str, evalue: str, traceback: str) -> None:
    error = RunError(ename=ename + "Error", evalue=evalue, traceback=traceback, cell=2, step=evalue,
                     first_line=traceback)
    again = RunError.from_json(json.loads(json.dumps(error.to_json())))
    assert again == error
    for text in (error.ename, error.evalue, error.traceback, error.step, error.first_line, error.describe()):
        assert not any(is_control(c) for c in text)
    assert "\n" not in error.step + error.first_line


# --- records -----------------------------------------------------------------------------------

OLD_ERROR = {"cell": 4, "ename": "\x1b[31mZeroDivisionError\x1b[0m", "evalue": "division by zero\x1b]0;pwned\x07",
             "traceback": "\x1b[0;31m---------\x1b[0m\n\x1b[0;31mZeroDivisionError\x1b[0m: division by zero"}


def test_an_old_record_with_escape_codes_reads_as_plain_text() -> None:
    error = RunError.from_json(OLD_ERROR)
    assert error is not None
    assert (error.ename, error.evalue, error.cell) == ("ZeroDivisionError", "division by zero", 4)
    assert error.traceback == "---------\nZeroDivisionError: division by zero"
    assert error.describe() == "in cell 4: ZeroDivisionError: division by zero"  # no numbering kept: the index


def test_json_of_an_old_record_has_no_escape_codes() -> None:
    record = RunRecord(id="0123456789ab", notebook="n.ipynb", notebook_sha256="0" * 64, status="failed",
                       error=dict(OLD_ERROR))
    dumped = json.dumps(record_json(record), ensure_ascii=False)
    assert not any(is_control(c) for c in dumped)
    error = record_json(record)["error"]
    assert (error["cell"], error["ename"], error["code_cell"]) == (4, "ZeroDivisionError", None)
    assert record.to_json()["error"] == record.error == OLD_ERROR  # the record itself keeps what was stored
    assert record_json(RunRecord(id="x", notebook="n", notebook_sha256="0"))["error"] is None
