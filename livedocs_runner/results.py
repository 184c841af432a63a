"""How a result is shown: its label, unit, number format and which direction is better.

A notebook says it with ``record(name, value, label=..., unit=..., format=..., better=...)``; a
config says it in its ``results:`` block (and wins, key by key, so an analyst's notebook need not
change). The app's tiles, the HTML report, compare views and the CLI all format through here::

    spec = ResultSpec(label="Default rate", format="percent:1", better="lower")
    format_value(0.0531, spec)              -> '5.3 %'
    format_delta(0.0531, 0.051, spec)       -> Delta(text='+0.2 pp', relative='+4.1 %', tone='bad', direction='up')
    format_value(3_290_000, ResultSpec(format="currency:EUR"))   -> '€3.29 M'
    specs_for(record, config)               -> {'default_rate': ResultSpec(...), ...}

Stable surface (announced in commits starting ``INTERFACE:`` when it changes):

- :class:`ResultSpec` (frozen): ``label``, ``unit``, ``format`` (canonical text), ``better``
  (``"higher"``, ``"lower"`` or None); :meth:`ResultSpec.over` merges key by key;
  :meth:`ResultSpec.title` is the label or the metric's name.
- :func:`make_spec` validates keywords (``ValueError`` naming the bad value and the allowed ones);
  :func:`spec_from_config` does the same for one entry of a ``results:`` block (:class:`SpecProblem`
  says which key is wrong, so the config error can give its line).
- :func:`format_value` never raises: numbers are formatted, anything else (text, bools, None,
  tables, lists) is shown as text.
- :func:`format_delta` -> :class:`Delta` (``text``, ``relative``, ``tone`` good/bad/neutral,
  ``direction`` up/down/none); falsy when there is nothing to show (a value is not a number).
  :func:`metric_color` turns it into ``st.metric``'s ``delta_color`` (normal/inverse/off).
- :func:`summary`: the first values on one line with labels (the CLI's line after a run).
- :func:`specs_for` gives the spec of every metric of a record: what the run stored (the
  notebook's ``record()`` keywords merged with its config's block when it ran), overridden by the
  ``results:`` of ``config`` when given. A record keeps them in ``environment["results"]``
  (:func:`specs_to_json` / :func:`specs_from_json`).

Formats: ``plain`` (the default: separators, about four significant digits, never scientific
notation between 1e-6 and 1e15), ``integer``, ``decimals:N``, ``percent`` / ``percent:N`` (a
fraction: ``0.531`` -> ``53.1 %``; deltas in percentage points, ``pp``), ``currency:EUR`` (any
three-letter code; ``€ $ £ ¥`` alone also work) with compact k / M / bn / tn above 100,000.

Kept to the standard library: :func:`make_spec` runs inside every kernel (via ``record()``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

BETTER = ("higher", "lower")
KEYS = ("label", "unit", "format", "better")
FORMATS = ("plain", "integer", "decimals:N", "percent", "percent:N", "currency:CODE")
RESULTS_KEY = "results"  # where a record keeps its specs: ``record.environment["results"]``
MAX_DECIMALS = 10
MAX_TEXT = 200  # characters of a label or unit
_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥"}
_BY_SYMBOL = {v: k for k, v in _SYMBOLS.items()}
_ORDINARY = 1e15  # at and above this, numbers are shown in scientific notation (no ordinary amount is)
_TINY = 1e-6
_SCALES = ((1e12, "tn"), (1e9, "bn"), (1e6, "M"), (1e3, "k"))
_COMPACT_FROM = 1e5  # currency amounts from here on are compact (€124 k, €3.29 M); below, in full (€12,400)
_ALLOWED = ("plain, integer, decimals:N, percent, percent:N, currency:EUR (any 3-letter code), "
            "or a currency symbol: € $ £ ¥")


class SpecProblem(ValueError):
    """A bad ``label``/``unit``/``format``/``better`` (``key``), or an unknown key, in a result spec."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True)
class ResultSpec:
    """How one result is shown. Usage: ``ResultSpec(label="Default rate", format="percent", better="lower")``.

    Build it with :func:`make_spec` to validate and normalise (``format="€"`` -> ``"currency:EUR"``).
    """

    label: str | None = None
    unit: str | None = None
    format: str | None = None
    better: str | None = None

    def over(self, base: ResultSpec | None) -> ResultSpec:
        """This spec on top of ``base``: every key set here wins, the others come from ``base``."""
        if base is None:
            return self
        return ResultSpec(**{f.name: getattr(self, f.name) if getattr(self, f.name) is not None else getattr(base, f.name)
                             for f in fields(self)})

    def title(self, name: str) -> str:
        """The label, or the metric's name when there is none."""
        return self.label or name

    def to_json(self) -> dict[str, str]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}

    def __bool__(self) -> bool:
        return any(getattr(self, f.name) is not None for f in fields(self))


PLAIN = ResultSpec()


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


# --- building specs ------------------------------------------------------------------------------

def _quote(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _suggest(word: str, choices: tuple[str, ...]) -> str:
    import difflib

    close = difflib.get_close_matches(word, choices, n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def check_format(value: Any) -> str | None:
    """The canonical form of a format (``"€"`` -> ``"currency:EUR"``, ``"percent"`` -> ``"percent:1"``),
    or raise :class:`SpecProblem` naming the bad value and the allowed ones."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise SpecProblem(f"format {_quote(value)} is not text; use one of: {_ALLOWED}.", "format")
    text = value.strip()
    if text in _BY_SYMBOL:
        return f"currency:{_BY_SYMBOL[text]}"
    kind, _, arg = text.partition(":")
    kind = kind.strip().lower()
    arg = arg.strip()
    if kind in ("plain", "integer") and not arg:
        return kind
    if kind in ("percent", "decimals") and (arg or kind == "percent"):
        if not arg:
            return "percent:1"
        if arg.isdigit() and int(arg) <= MAX_DECIMALS:
            return f"{kind}:{int(arg)}"
        raise SpecProblem(f"format {_quote(value)}: the number of decimals must be 0 to {MAX_DECIMALS}, "
                          f"e.g. '{kind}:2'.", "format")
    if kind == "currency":
        code = _BY_SYMBOL.get(arg, arg.upper())
        if re.fullmatch(r"[A-Z]{3}", code):
            return f"currency:{code}"
        raise SpecProblem(f"format {_quote(value)}: name the currency with its 3-letter code or symbol, "
                          "e.g. 'currency:EUR' or '€'.", "format")
    hint = _suggest(kind, ("plain", "integer", "decimals", "percent", "currency"))
    raise SpecProblem(f"format {_quote(value)} is not a known format.{hint} Use one of: {_ALLOWED}.", "format")


def _check_text(key: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise SpecProblem(f"{key} {_quote(value)} must be non-empty text, e.g. "
                          f"{'Default rate' if key == 'label' else 'loans'!r}.", key)
    if len(value) > MAX_TEXT:
        raise SpecProblem(f"{key} {_quote(value)} is longer than {MAX_TEXT} characters.", key)
    if not value.strip().isprintable():
        raise SpecProblem(f"{key} {_quote(value)} must be one line of printable text.", key)
    return value.strip()


def _check_better(value: Any) -> str | None:
    if value is None:
        return None
    if value not in BETTER:
        hint = _suggest(value, BETTER) if isinstance(value, str) else ""
        raise SpecProblem(f"better {_quote(value)} is not allowed.{hint} Use 'higher' or 'lower' "
                          "(or leave it out when neither is better).", "better")
    return value


def make_spec(*, label: Any = None, unit: Any = None, format: Any = None, better: Any = None) -> ResultSpec:  # noqa: A002
    """A validated, normalised :class:`ResultSpec`; :class:`SpecProblem` (a ``ValueError``) otherwise."""
    return ResultSpec(label=_check_text("label", label), unit=_check_text("unit", unit),
                      format=check_format(format), better=_check_better(better))


def spec_from_config(name: str, data: Any) -> ResultSpec:
    """One entry of a config's ``results:`` block (``{label, unit, format, better}``)."""
    if data is None:
        return PLAIN
    if not isinstance(data, Mapping):
        raise SpecProblem(f"results {name!r} must be a mapping of label/unit/format/better, got {_quote(data)}; "
                          "write e.g. `default_rate: {label: Default rate, format: percent, better: lower}`.")
    for key in data:
        if key not in KEYS:
            hint = _suggest(str(key), KEYS)
            raise SpecProblem(f"results {name!r}: unknown key {_quote(key)}.{hint} Allowed keys: {', '.join(KEYS)}.",
                              str(key))
    return make_spec(**{k: data.get(k) for k in KEYS})


def specs_to_json(specs: Mapping[str, ResultSpec]) -> dict[str, dict[str, str]]:
    """``{name: {key: value}}`` for the specs that say something (what a record stores)."""
    return {name: spec.to_json() for name, spec in specs.items() if spec}


def specs_from_json(data: Any) -> dict[str, ResultSpec]:
    """Specs back from a record; entries this version cannot read are left out (shown plain)."""
    out: dict[str, ResultSpec] = {}
    if not isinstance(data, Mapping):
        return out
    for name, entry in data.items():
        if not isinstance(entry, Mapping):
            continue
        try:
            out[str(name)] = make_spec(**{k: entry.get(k) for k in KEYS})
        except ValueError:
            continue
    return out


def result_specs(recorded: Mapping[str, ResultSpec], configured: Mapping[str, ResultSpec] | None) -> dict[str, Any]:
    """``{"results": {...}}`` to merge into a finished run's ``environment``: what ``record()`` said, under
    the config's ``results:`` key by key; ``{}`` when neither says anything."""
    configured = configured or {}
    merged = {name: configured.get(name, PLAIN).over(recorded.get(name)) for name in dict.fromkeys([*recorded, *configured])}
    stored = specs_to_json(merged)
    return {RESULTS_KEY: stored} if stored else {}


def kept_specs(environment: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``{"results": ...}`` part of a record's ``environment`` (for a cache hit to keep its original's)."""
    kept = (environment or {}).get(RESULTS_KEY)
    return {RESULTS_KEY: kept} if isinstance(kept, Mapping) and kept else {}


def specs_for(source: Any = None, config: Any = None) -> dict[str, ResultSpec]:
    """The spec of every result of ``source`` (a run record, or a mapping of metrics), key by key:
    the record's stored specs, under ``config``'s ``results:`` (a Config or a mapping of specs).

    Every metric name of ``source`` is present (``PLAIN`` when nothing is said), plus every name
    the record or the config has a spec for.
    """
    stored: dict[str, ResultSpec] = {}
    metrics: Mapping[str, Any] = {}
    if source is not None and hasattr(source, "metrics"):
        metrics = source.metrics or {}
        environment = getattr(source, "environment", None) or {}
        stored = specs_from_json(environment.get(RESULTS_KEY)) if isinstance(environment, Mapping) else {}
    elif isinstance(source, Mapping):
        metrics = source
    configured = getattr(config, "results", config) if config is not None else None
    configured = configured if isinstance(configured, Mapping) else {}
    out: dict[str, ResultSpec] = {}
    for name in dict.fromkeys([*metrics, *stored, *configured]):
        spec = stored.get(name, PLAIN)
        over = configured.get(name)
        out[name] = over.over(spec) if isinstance(over, ResultSpec) else spec
    return out


def title(name: str, specs: Mapping[str, ResultSpec] | None) -> str:
    """The label of metric ``name`` in ``specs``, or ``name``."""
    spec = (specs or {}).get(name)
    return spec.title(name) if spec else name


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
    return _SYMBOLS.get(code, f"{code} ")


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
    Anything but a number is shown as text (None as ``—``); the unit follows a number."""
    number = _number(value)
    if number is None:
        return _text(value)
    if isinstance(number, int) and abs(number) >= 1e308:
        return _digits(number)
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
