"""Numbers as people read them, by a result's spec (:mod:`livedocs_runner.results`): ``53.1 %``,
``€3.29 M``, ``12,345``; changes against a baseline in the same format with a relative change and a
tone from ``better``. Never raises on any value. Kept to the standard library: ``record()`` uses it
inside every kernel.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .results import CURRENCY_SYMBOLS, ResultSpec

_ORDINARY = 1e15  # at and above this, numbers are shown in scientific notation (no ordinary amount is)
_TINY = 1e-6
_SCALES = ((1e12, "tn"), (1e9, "bn"), (1e6, "M"), (1e3, "k"))
_COMPACT_FROM = 1e5  # currency amounts from here on are compact (€124 k, €3.29 M); below, in full (€12,400)


@dataclass(frozen=True)
class Delta:
    """A change against a baseline, formatted like the value: ``text`` ``+2.1 pp``, ``relative`` ``+4.0 %``
    (None when the baseline is 0), ``tone`` from ``better`` (``neutral`` when unknown or unchanged),
    ``direction`` ``up``/``down``/``none``. Falsy (``text == ""``) when either side is not a number."""

    text: str = ""
    relative: str | None = None
    tone: str = "neutral"
    direction: str = "none"

    def __bool__(self) -> bool:
        return bool(self.text)


NO_DELTA = Delta()


# --- formatting ----------------------------------------------------------------------------------

def _number(value: Any) -> int | float | None:
    """The number in ``value`` (bools and everything else: None)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def _unsigned_zero(text: str) -> str:
    """``-0.00`` -> ``0.00``: a value that rounds to zero has no sign."""
    return text[1:] if text.startswith("-") and not any(c in "123456789" for c in text) else text


def _fixed(x: float, decimals: int) -> str:
    return _unsigned_zero(f"{x:,.{decimals}f}")


def _wide(x: float) -> str:
    """Non-finite or extraordinary magnitudes: ``∞``, ``NaN``, ``1.234e+18``."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "-∞" if x < 0 else "∞"
    return f"{x:.4g}"


def _ordinary(x: float) -> bool:
    return math.isfinite(x) and abs(x) < _ORDINARY


def _plain(x: int | float) -> str:
    if isinstance(x, int):
        if abs(x) < _ORDINARY:
            return f"{x:,}"
        try:
            return _wide(float(x))
        except OverflowError:
            return _digits(x)
    if not _ordinary(x):
        return _wide(x)
    if x == 0:
        return "0"
    if abs(x) < _TINY:
        return f"{x:.4g}"
    decimals = min(max(0, 3 - math.floor(math.log10(abs(x)))), 9)
    text = f"{x:,.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return _unsigned_zero(text)


def _digits(x: int) -> str:
    """An int beyond floating point: ``(a 400-digit number)``."""
    return f"(a {'negative ' if x < 0 else ''}{int(math.log10(abs(x))) + 1}-digit number)"


def _as_float(x: int | float) -> float:
    try:
        return float(x)
    except OverflowError:
        return math.inf if x > 0 else -math.inf


def _money_parts(amount: float) -> tuple[float, str, int]:
    """``(divisor, suffix, decimals)`` for showing ``amount``: in full below 100,000, else compact
    with three significant digits (the scale chosen after rounding, so 999,999 is ``1.00 M``)."""
    size = abs(amount)
    if round(size, 2) < 1000:
        return 1.0, "", 2
    if round(size) < _COMPACT_FROM:
        return 1.0, "", 0
    rounded = float(f"{size:.3g}")
    for divisor, suffix in _SCALES:
        if rounded >= divisor:
            scaled = rounded / divisor
            return divisor, suffix, 2 if scaled < 10 else 1 if scaled < 100 else 0
    return 1.0, "", 0  # not reached: size >= 1e5


def _currency_symbol(code: str) -> str:
    return CURRENCY_SYMBOLS.get(code, f"{code} ")


def _money(x: float, code: str, parts: tuple[float, str, int] | None = None, sign: str = "") -> str:
    symbol = _currency_symbol(code)
    if not math.isfinite(x) or abs(x) >= 1e18:
        return f"{'-' if x < 0 else sign}{symbol}{_wide(abs(x))}"
    divisor, suffix, decimals = parts or _money_parts(x)
    body = _fixed(abs(x) / divisor, decimals)
    negative = x < 0 and any(c in "123456789" for c in body)
    lead = "-" if negative else (sign if any(c in "123456789" for c in body) else "")
    return f"{lead}{symbol}{body}{' ' + suffix if suffix else ''}"


def _format_number(x: int | float, fmt: str | None, *, sign: bool = False, delta: bool = False) -> str:
    """``x`` in format ``fmt`` (canonical); ``sign``: a leading ``+`` on positive values."""
    kind, _, arg = (fmt or "plain").partition(":")
    plus = "+" if sign else ""
    if kind == "currency":
        return _money(_as_float(x), arg, sign=plus)
    if kind == "percent":
        points = _as_float(x) * 100
        unit = " pp" if delta else " %"
        text = _fixed(points, int(arg)) if _ordinary(points) else _wide(points)
        return _signed(text, plus) + unit
    if kind == "integer" and isinstance(x, int):
        text = _plain(x)
    elif kind in ("integer", "decimals"):
        value = _as_float(x)
        text = _fixed(value, 0 if kind == "integer" else int(arg)) if _ordinary(value) else _wide(value)
    else:
        text = _plain(x)
    return _signed(text, plus)


def _signed(text: str, plus: str) -> str:
    if plus and not text.startswith("-") and any(c in "123456789∞" for c in text):
        return plus + text
    return text


def _with_unit(text: str, spec: ResultSpec | None) -> str:
    return f"{text} {spec.unit}" if spec is not None and spec.unit else text


def _text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and value.get("type") == "table" and isinstance(value.get("data"), list):
        rows = len(value["data"])
        return f"(table, {rows} row{'' if rows == 1 else 's'})"
    if isinstance(value, list | dict):
        try:
            return json.dumps(value, ensure_ascii=False)
        except (TypeError, ValueError):
            pass
    try:
        return str(value)
    except Exception:  # noqa: BLE001 - e.g. an int too long to print
        return f"({type(value).__name__})"


def format_value(value: Any, spec: ResultSpec | None = None) -> str:
    """``value`` as the spec says (``0.531`` -> ``53.1 %``, ``3290000`` -> ``€3.29 M``); never raises.
    Anything but a number is shown as text (None and NaN as ``—``); the unit follows a number."""
    number = _number(value)
    if number is None:
        return _text(value)
    if isinstance(number, int) and abs(number) >= 1e308:
        return _digits(number)
    if isinstance(number, float) and math.isnan(number):  # a missing value (in a table, say): as None
        return _text(None)
    try:
        return _with_unit(_format_number(number, spec.format if spec else None), spec)
    except (ValueError, OverflowError, TypeError):  # a format this version cannot read: plain
        return _with_unit(_plain(number), spec)


def _delta_text(diff: float, value: float, baseline: float, fmt: str | None) -> str:
    kind, _, arg = (fmt or "plain").partition(":")
    if diff == 0:
        return _format_number(0, fmt, delta=True)
    if kind == "currency":
        reference = max(abs(value), abs(baseline))
        parts = _money_parts(reference) if reference < 1e18 else None
        text = _money(diff, arg, parts, sign="+")
        if parts is not None and not any(c in "123456789" for c in text):
            text = _money(diff, arg, sign="+")  # too small for the values' scale: in its own
        if not any(c in "123456789" for c in text):  # less than a cent: as precisely as it is
            text = f"{'-' if diff < 0 else '+'}{_currency_symbol(arg)}{_plain(abs(diff))}"
        return text
    if kind in ("percent", "decimals", "integer"):
        text = _format_number(diff, fmt, sign=True, delta=True)
        if not any(c in "123456789∞" for c in text):  # rounds to zero: show the change, more precisely
            text = _signed(_plain(diff * 100 if kind == "percent" else diff), "+") + (" pp" if kind == "percent" else "")
        return text
    return _format_number(diff, fmt, sign=True, delta=True)


def format_delta(value: Any, baseline: Any, spec: ResultSpec | None = None) -> Delta:
    """``value`` against ``baseline`` in the spec's format (percent in ``pp``), with the relative change
    and a tone from ``better``. :data:`NO_DELTA` when either is not a finite number."""
    v, b = _number(value), _number(baseline)
    if v is None or b is None:
        return NO_DELTA
    fv, fb = _as_float(v), _as_float(b)
    if not (math.isfinite(fv) and math.isfinite(fb)):
        return NO_DELTA
    diff: int | float = v - b if isinstance(v, int) and isinstance(b, int) else fv - fb
    if isinstance(diff, float) and not math.isfinite(diff):
        return NO_DELTA
    fmt = spec.format if spec else None
    try:
        text = _delta_text(diff, fv, fb, fmt)
    except (ValueError, OverflowError, TypeError):
        text = _signed(_plain(diff), "+")
    direction = "up" if diff > 0 else "down" if diff < 0 else "none"
    better = spec.better if spec else None
    tone = "neutral" if direction == "none" or better is None else \
        "good" if (direction == "up") == (better == "higher") else "bad"
    return Delta(text=_with_unit(text, spec), relative=_relative(fv, fb), tone=tone, direction=direction)


def _relative(value: float, baseline: float) -> str | None:
    if baseline == 0:
        return None
    change = (value - baseline) / abs(baseline) * 100
    if not math.isfinite(change):
        return None
    text = _fixed(change, 1) if abs(change) < _ORDINARY else _wide(change)
    return _signed(text, "+") + " %"


def summary(metrics: Mapping[str, Any], specs: Mapping[str, ResultSpec] | None = None, *, limit: int = 4,
            width: int = 24) -> str:
    """The first ``limit`` values but tables on one line: ``Default rate: 5.31 %  Expected loss: €3.10 M``
    (each value cut to ``width`` characters). Not made safe for a terminal: the caller does that."""
    specs = specs or {}
    parts = []
    for name, value in [(k, v) for k, v in metrics.items() if not _is_table(v)][:limit]:
        spec = specs.get(name)
        text = format_value(value, spec)
        text = text if len(text) <= width else text[: width - 3] + "..."
        parts.append(f"{spec.title(name) if spec else name}: {text}")
    return "  ".join(parts)


def _is_table(value: Any) -> bool:
    return isinstance(value, Mapping) and value.get("type") == "table" and "columns" in value and "data" in value


def metric_color(delta: Delta) -> str:
    """``st.metric``'s ``delta_color`` for ``delta``: green when good, red when bad, grey when neutral
    (``normal`` colours up green, ``inverse`` colours up red)."""
    if delta.tone == "neutral" or delta.direction == "none":
        return "off"
    good_is_up = (delta.tone == "good") == (delta.direction == "up")
    return "normal" if good_is_up else "inverse"
