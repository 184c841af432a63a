"""A throwaway PostgreSQL server for the tests: Debian's ``postgresql`` (``initdb``/``pg_ctl``), a cluster in a temp
folder on a free port (unix socket in the same folder), run as the ``postgres`` OS user when the tests run as
root (the server refuses root), stopped at the end of the session. Each test asks for its own database
(:meth:`PgServer.new_database`). Without PostgreSQL the tests skip with the install command (they fail under CI).

Usage: ``def test_x(pg_server): url = pg_server.new_database()``
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

INSTALL = "apt-get install postgresql"


def _bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PgServer:
    """One cluster; ``url(db)`` is a ``postgresql://`` URL to database ``db`` as the superuser (trust auth, local)."""

    def __init__(self) -> None:
        self.initdb, self.pg_ctl = _bin("initdb"), _bin("pg_ctl")
        self.root = Path(tempfile.mkdtemp(prefix="livedocs-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        self._names = itertools.count(1)
        self.running = False
        self._store_template: str | None = None

    def _as_server(self, *argv: str) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else list(argv)

    def _run(self, *argv: str) -> None:
        result = subprocess.run(self._as_server(*argv), capture_output=True, text=True, timeout=120)
        if result.returncode:
            raise RuntimeError(f"{argv[0]} failed ({result.returncode}): {result.stdout}{result.stderr}")

    def start(self) -> PgServer:
        if os.geteuid() == 0:
            os.chmod(self.root, 0o755)
            shutil.chown(self.root, "postgres", "postgres")
        self._run(self.initdb, "-D", str(self.data), "-A", "trust", "-U", self.user, "-E", "UTF8", "--locale=C.UTF-8")
        self._start()
        return self

    def _start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        self._run(self.pg_ctl, "-D", str(self.data), "-o", options, "-l", str(self.root / "log"), "-w", "-t", "60", "start")
        self.running = True

    def restart(self) -> None:
        """``pg_ctl restart``: every open connection is cut."""
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        self._run(self.pg_ctl, "-D", str(self.data), "-o", options, "-l", str(self.root / "log"), "-w", "-t", "60",
                  "-m", "fast", "restart")

    def stop(self) -> None:
        if self.running:
            self.running = False
            subprocess.run(self._as_server(self.pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop"),
                           capture_output=True, timeout=120)
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def new_database(self, *, empty: bool = False) -> str:
        """A new database holding an empty run store at the current schema (copied from a template made once),
        or nothing at all (``empty``); returns its URL."""
        import psycopg

        name = f"t{os.getpid()}_{next(self._names)}"
        template = "" if empty else f' TEMPLATE "{self._template()}"'
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"{template}')
        return self.url(name)

    def _template(self) -> str:
        if self._store_template is None:
            from livedocs_runner.records.store import open_store

            url = self.new_database(empty=True)
            store = open_store(self.root / "template-files", url)
            store.close()  # a template must have no session open when it is copied
            self._store_template = url.rsplit("/", 1)[1]
        return self._store_template


_SERVER: list[PgServer] = []  # one per session, shared by every module that uses the fixture


@pytest.fixture(scope="session")
def pg_server() -> PgServer:
    if not _SERVER:
        missing = [n for n in ("initdb", "pg_ctl") if not _bin(n)]
        try:
            import psycopg  # noqa: F401
        except ImportError:
            missing.append("psycopg (pip install 'livedocs-runner[team]')")
        if missing:
            message = f"PostgreSQL is not installed ({', '.join(missing)} missing): {INSTALL}"
            if os.environ.get("CI"):
                pytest.fail(message)
            pytest.skip(message)
        _SERVER.append(PgServer().start())
    yield _SERVER[0]
    if _SERVER:
        _SERVER.pop().stop()
