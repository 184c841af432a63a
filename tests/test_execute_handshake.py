"""A run asks its ready kernel ``kernel_info`` at most once (issue 12): nbclient's own request after the client's
readiness check is answered with the reply that check just received, and a forked kernel is not asked at all once
an earlier kernel of its template answered (``ReadyClient.ready_memo``: the run waits for the kernel's IOPub
greeting instead). Real kernels, forked and fresh; the requests are counted as the clients send them, nothing is
replaced."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import nbformat
import pytest

from livedocs_runner.execute import RunOptions, execute_run
from livedocs_runner.kernels import FreshKernels, KernelRequest
from livedocs_runner.plan import plan_runs
from livedocs_runner.records.store import Store
from tests.conftest import write_notebook

pytestmark = pytest.mark.kernel

OPTIONS = RunOptions(report=False, use_cache=False, timeout=60)


class Counting:
    """A kernel source that counts the requests the clients of each acquired kernel send, by message type."""

    def __init__(self, source: Any) -> None:
        self.source = source
        self.sent: list[Counter[str]] = []

    def acquire(self, request: KernelRequest) -> Any:
        km = self.source.acquire(request)
        sent: Counter[str] = Counter()
        self.sent.append(sent)
        make_client = km.client

        def counting_client(**kwargs: Any) -> Any:
            client = make_client(**kwargs)
            send = client.session.send

            def counting_send(stream: Any, msg_or_type: Any, *args: Any, **kw: Any) -> Any:
                kind = msg_or_type if isinstance(msg_or_type, str) else msg_or_type["header"]["msg_type"]
                sent[kind] += 1
                return send(stream, msg_or_type, *args, **kw)

            client.session.send = counting_send
            return client

        km.client = counting_client
        return km

    def release(self, km: Any) -> None:
        self.source.release(km)


@pytest.fixture(scope="module")
def notebook(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("handshake")
    return write_notebook(folder / "two_cells.ipynb", [("n = 2", ["parameters"]), "print(n * 21)", "n / 0"])


def kernel_sources() -> list[Any]:
    from livedocs_runner.forkserver import ForkKernels, fork_supported
    from livedocs_runner.pool import PoolOptions

    sources = [pytest.param(lambda: FreshKernels(60), [1, 1], id="fresh")]
    if fork_supported():  # the second kernel comes from the first one's template
        sources.append(pytest.param(lambda: ForkKernels(PoolOptions(size=1)), [1, 0], id="forked"))
    return sources


@pytest.mark.parametrize(("make_source", "asked"), kernel_sources())
def test_one_kernel_info_per_run_and_the_same_record(make_source: Any, asked: list[int], notebook: Path,
                                                     tmp_path: Path) -> None:
    store = Store(tmp_path / "home")
    source = make_source()
    counting = Counting(source)
    try:
        good = execute_run(plan_runs(notebook, overrides={"n": 3})[0], store, options=OPTIONS, kernels=counting)
        bad = execute_run(plan_runs(notebook, overrides={"n": 0})[0], store, options=OPTIONS, kernels=counting)
    finally:
        getattr(source, "close", lambda: None)()
    assert good.status == "failed" and bad.status == "failed"  # n / 0 in the last cell
    assert [sent["kernel_info_request"] for sent in counting.sent] == asked, counting.sent
    for sent in counting.sent:
        assert sent["execute_request"] == 4  # the injected cell and the notebook's three
    nb = nbformat.read(good.output_notebook, as_version=4)
    assert nb.metadata.language_info.name == "python"
    assert nb.metadata.language_info.version.count(".") == 2
    assert "".join(o.get("text", "") for o in nb.cells[2].outputs) == "63\n"
    assert good.error["ename"] == "ZeroDivisionError" and good.error["cell"] == 4  # in output.ipynb, injected cell counted
    assert good.environment["kernel_language"] == "python"
