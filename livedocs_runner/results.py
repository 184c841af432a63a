"""How a result is shown: its label, unit, number format and which direction is better (the specs;
:mod:`livedocs_runner.result_format` formats values and changes with them).

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
  :meth:`ResultSpec.title` is the label or the metric's name; a spec that says nothing
  (:data:`PLAIN`) is falsy.
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
CURRENCY_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥"}
_BY_SYMBOL = {v: k for k, v in CURRENCY_SYMBOLS.items()}
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
