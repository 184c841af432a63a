"""A real OpenID Connect provider for the sign-in tests: tests/oidc/provider.js (panva's certified
``oidc-provider`` on Node) started as a subprocess on a free port, with the test accounts below.

Usage: ``with start_provider([redirect_uri], log_path) as provider: ...`` (``provider.metadata_url``,
``provider.client_id``, ``provider.client_secret``); ``require_provider()`` first skips (or fails under CI)
when Node or the package is missing. Install the package with ``npm ci --prefix tests/oidc``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

OIDC = Path(__file__).resolve().parent / "oidc"
INSTALL = "npm ci --prefix tests/oidc"
PASSWORD = "correct horse battery staple"  # every test account's password on the test provider
RUNNER, VIEWER, NOBODY = "ana@example.com", "vic@example.com", "nora@example.com"
ACCOUNTS: Mapping[str, Mapping[str, object]] = {
    RUNNER: {"name": "Ana Runner", "groups": ["risk"]},
    VIEWER: {"name": "Vic Viewer", "groups": []},
    NOBODY: {"name": "Nora Nobody", "groups": []},
}
START_TIMEOUT = 60.0  # node starts in well under a second; generous for a loaded CI machine


@dataclass(frozen=True)
class Provider:
    issuer: str
    client_id: str
    client_secret: str = field(repr=False)
    log: Path
    password: str = PASSWORD

    @property
    def metadata_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"


def require_provider() -> str:
    """The ``node`` executable, once Node and the installed package are there; else skip (fail under CI)."""
    node = shutil.which("node")
    if node is None:
        missing, fix = "Node.js", f"apt-get install nodejs npm && {INSTALL}"
    elif not (OIDC / "node_modules" / "oidc-provider" / "package.json").is_file():
        missing, fix = "the test OpenID Connect provider's packages (tests/oidc/node_modules)", INSTALL
    else:
        return node
    if os.environ.get("CI"):
        pytest.fail(f"{missing} not found; CI must install it (.ci/run does: {fix}).")
    pytest.skip(f"{missing} not found: install with `{fix}`")


def _discovery(issuer: str) -> dict[str, object] | None:
    with contextlib.suppress(OSError, ValueError):
        with urllib.request.urlopen(f"{issuer}/.well-known/openid-configuration", timeout=5) as response:
            return json.load(response)
    return None


@contextlib.contextmanager
def start_provider(redirect_uris: Sequence[str], log_path: Path, *, client_id: str = "livedocs-test",
                   accounts: Mapping[str, Mapping[str, object]] = ACCOUNTS) -> Iterator[Provider]:
    """Start the provider (a fresh client secret each time), wait for its discovery document, stop it after."""
    node = require_provider()
    secret = secrets.token_urlsafe(32)
    env = {"PATH": os.environ.get("PATH", ""), "OIDC_PORT": "0", "OIDC_CLIENT_ID": client_id,
           "OIDC_CLIENT_SECRET": secret, "OIDC_REDIRECT_URIS": " ".join(redirect_uris),
           "OIDC_ACCOUNTS": json.dumps(accounts), "OIDC_PASSWORD": PASSWORD}
    with open(log_path, "w+", encoding="utf-8") as log:
        proc = subprocess.Popen([node, str(OIDC / "provider.js")], cwd=OIDC, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            issuer = _wait_until_ready(proc, log_path)
            yield Provider(issuer=issuer, client_id=client_id, client_secret=secret, log=log_path)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _wait_until_ready(proc: subprocess.Popen[bytes], log_path: Path) -> str:
    """The issuer from the provider's ready line, once its discovery document names that issuer."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        text = log_path.read_text(encoding="utf-8", errors="replace")
        if proc.poll() is not None:
            pytest.fail(f"the test OpenID Connect provider exited with {proc.returncode}:\n{text}")
        for line in text.splitlines():
            if line.startswith("oidc-provider ready: "):
                issuer = line.split(": ", 1)[1].strip()
                document = _discovery(issuer)
                if document and document.get("issuer") == issuer:
                    return issuer
        time.sleep(0.05)
    pytest.fail(f"the test OpenID Connect provider did not get ready:\n{log_path.read_text(errors='replace')}")
