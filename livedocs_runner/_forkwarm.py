"""What a fork template prepares for its kernels beyond imports (private; see ``_forktemplate.py``).

First-use caches of the warm imports, filled once on made-up data (``warm_first_use``); the kernel's
list of module files (``ModuleFiles``); pandas' kernel-dependent defaults, set as an import in a
kernel sets them (``as_imported_in_a_kernel``); per-kernel work nobody reads, skipped (debug log
records no handler writes, a signature check per request, glob patterns compiled per kernel).

A forked kernel runs a notebook's cells slower than a kernel that ran them once already (measured on
the benchmark notebook: ~35 against ~20 ms of CPU), mostly for memory pages it copies from the
template on first touch, partly for first-use work: numpy, pandas and matplotlib import parts of
themselves lazily and build caches on first use (ufunc and dtype lookups, the groupby and aggregation
machinery, the text and HTML reprs a table's display calls, fonts and text layout for a figure). The
template runs that *library* code once, on small made-up data (~70 ms for numpy and pandas, ~90 ms
for matplotlib, once per template; not for a small batch), so every kernel forked from it starts
with those caches, as a warm kernel has them: ~4 ms less CPU per run on the benchmark notebook, ~8 ms
less for the demo notebook's figure. Never user code or a config's code; no global state a run could
see changes: no option, no global random state (local generators only), no file, folder or
environment variable, no warnings filter or registry (``catch_warnings``), no thread, no pyplot figure.

Loaded by the template by path (``runpy.run_path``): it needs nothing from this package.
"""

from __future__ import annotations

import io
import sys
import warnings
from typing import Any, Callable


def warm_first_use(modules: list[str], shell: Any = None) -> list[str]:
    """Run each imported library's common operations once; the names of the libraries warmed.

    ``modules``: the warm imports the template imported; ``shell``: the prebuilt IPython shell (its
    display formatter makes the reprs a cell's result would get), or None. A library whose warm-up
    fails is left as it is: warming is an optimisation, never a reason for a template to fail.
    """
    tops = {name.partition(".")[0] for name in modules}
    warmed = []
    for name, warm in WARMERS:
        if name in tops and name in sys.modules:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # "ignore" adds nothing to any module's warning registry
                    if warm(shell) is False:
                        continue
            except Exception:  # noqa: BLE001, S112 - an unusual version of the library: not warmed
                continue
            warmed.append(name)
    return warmed


def _numpy(shell: Any) -> None:
    import numpy as np

    rng = np.random.default_rng(0)  # a local generator: the global numpy.random state is untouched
    x = rng.lognormal(8, 1, 256)
    k = rng.integers(0, 8, 256)
    u = rng.random(256)
    rng.normal(size=8), rng.choice(k, 4), rng.permutation(8)
    b = u > 0.5
    for value in (x + 1, x - u, x * 2, x / 3, x // 2, x ** 2, -x, abs(u - 0.5), k % 3, np.sqrt(x), np.log(x),
                  np.exp(u), np.round(x, 2), np.clip(u, 0.1, 0.9), np.where(b, x, 0.0), x[b], x[k == 3]):
        value.sum()
    for reduce in (np.sum, np.mean, np.std, np.var, np.min, np.max, np.median, np.argmax, np.cumsum, np.any, np.all):
        reduce(x), reduce(k), reduce(b)
    np.percentile(x, [5, 50, 95]), np.quantile(u, 0.5), np.histogram(u, bins=8), np.bincount(k)
    np.sort(x), np.argsort(k), np.unique(k, return_counts=True), np.concatenate([x, u]), np.stack([x, u])
    np.linspace(0, 1, 5), np.arange(10).reshape(2, 5).T @ np.ones(2), np.zeros((2, 2)), np.full(3, 1.5)
    x.astype(np.float32), k.astype(float), b.astype(int), x.tolist()
    _display(shell, (x[:5], k, b, np.float64(1.5), np.int64(3), np.arange(12).reshape(3, 4)))


def _pandas(shell: Any) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    n = 200
    df = pd.DataFrame({"amount": rng.lognormal(8, 1, n), "region": rng.integers(0, 8, n), "score": rng.random(n),
                       "name": [f"n{i % 7}" for i in range(n)],
                       "when": pd.date_range("2024-01-01", periods=n, freq="D")})
    df["approved"] = df["score"] > 0.5
    df["kind"] = pd.Categorical(np.where(df["approved"], "yes", "no"))
    df["ratio"] = df["amount"] / (df["region"] + 1)
    summary = df.groupby("region").agg(loans=("amount", "size"), total=("amount", "sum"),
                                       approved=("approved", "mean"))
    df.groupby("name")["amount"].mean(), df.groupby(["region", "name"]).size(), df.groupby("kind", observed=True).sum(
        numeric_only=True)
    df.groupby("region")["score"].agg(["min", "max", "mean", "std", "count", "median"])
    df.pivot_table(index="region", columns="kind", values="amount", aggfunc="sum", observed=True)
    df[df["approved"]], df.loc[df["region"] > 2, "amount"], df.iloc[:5, :3], df.query("score > 0.3")
    df["amount"].mean(), df["amount"].sum(), df["approved"].mean(), df["score"].describe(), df.describe()
    df["region"].value_counts(), df["name"].str.upper(), df["when"].dt.month, df.isna().sum(), df.fillna(0)
    df.sort_values("amount").head(), df.nlargest(3, "score"), df.drop_duplicates("name"), df.rename(
        columns={"score": "s"})
    df.merge(summary, left_on="region", right_index=True), pd.concat([df.head(), df.tail()]), df.set_index(
        "name").reset_index()
    df.assign(double=lambda f: f["amount"] * 2).apply(len), df["score"].map(round), df["score"].round(2)
    df.to_numpy(), df["amount"].to_numpy(), df.to_dict("records")[:1], df.dtypes, df.shape, df.memory_usage()
    df["when"].min(), pd.to_datetime(["2024-01-02"]), pd.Series([1, 2, 3], name="s").cumsum()
    df[df["name"].isin(["n1", "n2"])].reset_index(drop=True), np.exp(-df["ratio"]), df.fillna(0.0).round(3)
    pd.read_csv(io.StringIO("id,region,score,flag\n1,north,0.5,True\n2,south,,False\n"))
    _display(shell, (summary, df, df["amount"], df.describe(), summary.reset_index(), df["region"].value_counts()))


def _display(shell: Any, values: tuple[Any, ...]) -> None:
    """The reprs a cell's result gets: every mimetype of the shell's display formatter (text/plain,
    text/html, ...), or repr() and the HTML repr when there is no prebuilt shell."""
    for value in values:
        if shell is not None:
            shell.display_formatter.format(value)
        else:
            repr(value), str(value)
            html = getattr(value, "_repr_html_", None)
            if html is not None:
                html()


def _matplotlib(shell: Any) -> bool:
    """A figure drawn and saved as the inline backend saves one (PNG, tight bounding box): fonts found and
    loaded, text laid out. A ``Figure`` of its own, never pyplot: no current figure, no figure manager."""
    if "matplotlib.pyplot" not in sys.modules:  # only when the notebook draws (its imports say so)
        return False
    from io import BytesIO

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4, 3))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    values = [0.1 * (i % 17) for i in range(200)]
    ax.hist(values, bins=20, color="#4c72b0")
    ax.plot(values[:20], label="line"), ax.scatter(values[:20], values[20:40]), ax.bar(["a", "b"], [1, 2])
    ax.axvline(0.5, color="#c44e52", linestyle="--", label="threshold 0.50")
    ax.set_xlabel("x label"), ax.set_ylabel("y label"), ax.set_title("Title")
    ax.legend()
    fig.savefig(BytesIO(), format="png", bbox_inches="tight")
    return True


WARMERS: tuple[tuple[str, Callable[[Any], bool | None]], ...] = (("numpy", _numpy), ("pandas", _pandas),
                                                          ("matplotlib", _matplotlib))


# --- what a kernel reads from sys.modules ------------------------------------------------------------

class ModuleFiles:
    """``sys.modules`` as the template forks, for the two walks over it every kernel makes while it starts.

    ``IPythonKernel.__init__`` lists the file of every loaded module (for the debugger's "just my
    code" rules) and IPython's ``init_code`` keeps the set of module names (for ``%reset -f -a``).
    In a forked child each walk writes the reference count of ~1000 module objects, names or paths
    the template owns: ~850 and ~350 memory pages copied (measured with pandas loaded; together ~4 ms
    of a forked kernel's ~27 ms from fork to ready). The template makes both once; the child adds only
    what it imported since the fork, so the kernel gets the same list in the same order, and the
    same set.
    """

    def __init__(self) -> None:
        # fresh copies of the paths, side by side in memory: the child's list references them
        self.files = [m.__file__.encode().decode() if isinstance(m.__file__, str) else m.__file__
                      for m in sys.modules.copy().values() if hasattr(m, "__file__") and m.__file__]
        self.names = set(sys.modules)  # the child's copy is the shell's set: it only adds to it
        self.count = len(sys.modules)
        self.last = next(reversed(sys.modules))

    def added(self) -> list[str] | None:
        """The modules imported since, oldest first, or None when ``sys.modules`` changed otherwise."""
        added = []
        for name in reversed(sys.modules):  # newest first; stops at the template's newest module
            if name == self.last:
                break
            added.append(name)
        else:
            return None
        if len(sys.modules) != self.count + len(added):
            return None  # a module was removed too: the kernel walks sys.modules itself
        return added[::-1]

    def since(self) -> list[str] | None:
        """The files of the modules imported since, or None (see ``added``)."""
        added = self.added()
        return None if added is None else self.files_of(added)

    @staticmethod
    def files_of(names: list[str]) -> list[str]:
        modules = [sys.modules[name] for name in names if name in sys.modules]
        return [m.__file__ for m in modules if hasattr(m, "__file__") and m.__file__]

    def install(self) -> Callable[[], None]:
        """Make the next ``IPythonKernel()`` and ``init_code()`` take what they read from ``sys.modules``
        from here (each once); returns the undo."""
        from IPython.core import shellapp
        from ipykernel import ipkernel

        snapshot = self
        kernel_cls, shell_app = ipkernel.IPythonKernel, shellapp.InteractiveShellApp
        kernel_init, init_code = kernel_cls.__init__, shell_app.init_code

        def __init__(kernel: Any, **kwargs: Any) -> None:
            kernel_cls.__init__ = kernel_init
            with _modules_view(ipkernel, snapshot) as view:
                kernel_init(kernel, **kwargs)
            if view.added is not None and isinstance(getattr(kernel, "_kernel_modules", None), list):
                kernel._kernel_modules.extend(snapshot.files + snapshot.files_of(view.added))  # the debugger holds the same list

        def patched_init_code(app: Any) -> None:
            shell_app.init_code = init_code
            with _modules_view(shellapp, snapshot) as view:
                init_code(app)
            shell = getattr(app, "shell", None)
            if view.added is not None and isinstance(getattr(shell, "_sys_modules_keys", None), set):
                snapshot.names.update(view.added)
                shell._sys_modules_keys = snapshot.names

        kernel_cls.__init__ = __init__
        shell_app.init_code = patched_init_code

        def undo() -> None:
            kernel_cls.__init__, shell_app.init_code = kernel_init, init_code

        return undo


class _modules_view:  # noqa: N801 - a context manager, used like a function
    """Within: ``module.sys`` is ``sys`` whose ``modules.copy()`` and ``modules.keys()`` are empty when the
    snapshot can answer (``view.added`` then holds the names imported since), the real ones otherwise."""

    def __init__(self, module: Any, snapshot: ModuleFiles) -> None:
        self.module, self.snapshot = module, snapshot
        self.added: list[str] | None = None

    def __enter__(self) -> _modules_view:
        self.real = getattr(self.module, "sys", None)
        if self.real is sys:  # (another version that reads sys.modules another way: left as it is)
            self.module.sys = _SysWith(self.real, _ModulesView(self))
        return self

    def __exit__(self, *exc: object) -> None:
        if self.real is sys:
            self.module.sys = self.real


class _ModulesView:
    """``sys.modules``, but ``copy()`` and ``keys()`` answer from the snapshot (see ``_modules_view``)."""

    def __init__(self, view: _modules_view) -> None:
        self.view = view

    def _answer(self) -> bool:
        self.view.added = self.view.snapshot.added()
        return self.view.added is not None

    def copy(self) -> dict[str, Any]:
        return {} if self._answer() else sys.modules.copy()

    def keys(self) -> Any:
        return () if self._answer() else sys.modules.keys()

    def __getattr__(self, name: str) -> Any:  # get, items, values, pop, ...
        return getattr(sys.modules, name)

    def __getitem__(self, name: str) -> Any:
        return sys.modules[name]

    def __setitem__(self, name: str, module: Any) -> None:
        sys.modules[name] = module

    def __delitem__(self, name: str) -> None:
        del sys.modules[name]

    def __contains__(self, name: object) -> bool:
        return name in sys.modules

    def __iter__(self) -> Any:
        return iter(sys.modules)

    def __len__(self) -> int:
        return len(sys.modules)


class _SysWith:
    """The ``sys`` module with another ``modules``; everything else read from and written to ``sys``."""

    def __init__(self, real: Any, modules: _ModulesView) -> None:
        object.__setattr__(self, "_real", real)
        object.__setattr__(self, "modules", modules)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._real, name, value)  # e.g. shellapp's sys.argv around a startup file


# --- library defaults that depend on being imported inside a kernel -------------------------------

def as_imported_in_a_kernel() -> list[str]:
    """Give the defaults a library computed at import from its surroundings the value an import in
    this kernel gives; the options changed.

    The template imports pandas before any kernel exists: pandas then takes itself for a terminal
    (``display.max_columns`` 0, "fit the terminal", where a kernel gets 20, so a wide table's HTML
    would show every column) and reads ``display.encoding`` from the template's stdout. Called in
    the child once its kernel owns ``sys.stdout``; an option the child already changed is left alone.
    """
    config = sys.modules.get("pandas._config.config")
    display = sys.modules.get("pandas._config.display")
    if config is None or display is None:
        return []
    changed = []
    try:
        # pandas.core.config_init: `max_cols = 0 if is_terminal() else 20`; is_terminal() is False in a kernel
        for key, value in (("display.max_columns", 20), ("display.encoding", display.detect_console_encoding())):
            option = config._registered_options.get(key)
            if option is None or option.defval == value or config.get_option(key) != option.defval:
                continue
            config._registered_options[key] = option._replace(defval=value)
            config.set_option(key, value)
            changed.append(key)
    except Exception:  # noqa: BLE001 - another pandas: its defaults stay as the template imported them
        pass
    return changed


# --- work nobody reads, skipped in forked kernels (same messages, same outputs) -------------------

def skip_unread_log_records(log: Any) -> bool:
    """Make the kernel's logger create only records one of its handlers will write; whether it was set up.

    traitlets leaves the application's logger at DEBUG and filters in its handler (WARNING unless
    configured), so each of the ~40 debug lines ipykernel logs per run (every message sent, every
    request) is formatted into a record only to be dropped. The logger's ``isEnabledFor`` also asks
    its handlers, as they are at each call: a level no handler takes makes no record. What is
    written is unchanged: a DEBUG handler added later, ``log_level = 'DEBUG'`` or a logger that
    propagates (or has no handler) gets every record, as in a fresh kernel.
    """
    import logging

    if not isinstance(log, logging.Logger) or "isEnabledFor" in vars(log):
        return False
    enabled = log.isEnabledFor

    def is_enabled_for(level: int) -> bool:
        if not enabled(level):
            return False
        handlers = log.handlers
        return log.propagate or not handlers or any(level >= handler.level for handler in handlers)

    log.isEnabledFor = is_enabled_for
    return True


def cache_signature_checks() -> bool:
    """Remember ipykernel's ``_accepts_parameters`` answer per function; whether it was installed.

    Every ``execute_request`` asks ``inspect.signature`` whether ``shell.run_cell_async`` takes
    ``cell_id``/``cell_meta`` (~50 µs a cell): the answer depends only on the function, so it is
    computed once per function (plain functions and methods only; anything else is asked each time).
    """
    import inspect

    try:
        from ipykernel import ipkernel, kernelbase
    except ImportError:
        return False
    check = getattr(kernelbase, "_accepts_parameters", None)
    if check is None or getattr(ipkernel, "_accepts_parameters", None) is not check:
        return False
    answers: dict[tuple[Any, bool, tuple[str, ...]], dict[str, bool]] = {}

    def accepts_parameters(meth: Any, param_names: Any) -> Any:
        func = getattr(meth, "__func__", meth)
        if not inspect.isfunction(func):
            return check(meth, param_names)
        key = (func, func is not meth, tuple(param_names))
        if key not in answers:
            answers[key] = dict(check(meth, param_names))
        return dict(answers[key])

    ipkernel._accepts_parameters = kernelbase._accepts_parameters = accepts_parameters
    return True


def warm_startup_globs() -> None:
    """Compile the two glob patterns every kernel matches its profile's startup folder with
    (``*.py``, ``*.ipy``: IPython's ``_run_startup_files``) into ``fnmatch``'s cache, once."""
    import fnmatch

    for pattern in ("*.py", "*.ipy"):
        fnmatch.filter((), pattern)


def transform_each_cell_once() -> bool:
    """Transform a request's cell once, not twice; whether it was installed.

    ipykernel's ``do_execute`` runs the cell's source through IPython's input transformers and asks whether it
    needs an event loop (a compile), then ``run_cell`` does both again on the same source (~0.1 ms a cell of the
    benchmark notebook, twice). Within one ``do_execute``, the second ``transform_cell`` of that request's own
    source and the second ``should_run_async`` of its transformed source return the first answers, once each,
    before any of the cell runs; any other call (a magic's ``run_cell``, a cell's own) is answered as always.
    """
    import inspect

    try:
        from ipykernel.ipkernel import IPythonKernel
        from IPython.core.interactiveshell import InteractiveShell
    except ImportError:
        return False
    transform, should_run_async, do_execute = (InteractiveShell.transform_cell, InteractiveShell.should_run_async,
                                               IPythonKernel.do_execute)
    if not inspect.iscoroutinefunction(do_execute):
        return False
    request: dict[str, Any] = {}  # the request being executed: its "code"; then its first answers

    def transform_once(self: Any, raw_cell: str) -> Any:
        if raw_cell is not request.get("code"):
            return transform(self, raw_cell)
        if "transformed" in request:
            answer = request.pop("transformed")
            request.pop("code")  # answered twice: from now on the cell runs, and every call is computed
            return answer
        request["transformed"] = transform(self, raw_cell)
        return request["transformed"]

    def should_run_async_once(self: Any, raw_cell: str, *, transformed_cell: Any = None,
                              preprocessing_exc_tuple: Any = None) -> bool:
        kept = request.pop("async", None)
        if kept is not None and kept[0] is raw_cell and kept[1] is transformed_cell and kept[2] is self:
            return kept[3]
        answer = should_run_async(self, raw_cell, transformed_cell=transformed_cell,
                                  preprocessing_exc_tuple=preprocessing_exc_tuple)
        if answer:  # run_cell_async runs it without asking either again: nothing more to answer for this request
            request.clear()
        elif raw_cell is request.get("code") and preprocessing_exc_tuple is None:
            request["async"] = (raw_cell, transformed_cell, self, answer)
        return answer

    async def do_execute_once(self: Any, code: str, *args: Any, **kwargs: Any) -> Any:
        request.clear()
        request["code"] = code
        try:
            return await do_execute(self, code, *args, **kwargs)
        finally:
            request.clear()

    InteractiveShell.transform_cell = transform_once
    InteractiveShell.should_run_async = should_run_async_once
    IPythonKernel.do_execute = do_execute_once
    return True

