"""A real HTTP server answering OpenID Connect discovery, for the checks ``livedocs app`` makes at start
(tests/test_auth_settings.py, tests/test_app_command.py). Not a provider: no sign-in (that is tests/oidc).

Paths under the base URL: ``/.well-known/openid-configuration`` and ``/ok/...`` answer discovery metadata,
``/html/...`` a web page, ``/partial/...`` JSON without the endpoints; anything else 404.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

WELL_KNOWN = "/.well-known/openid-configuration"


class _Discovery(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        host = f"http://127.0.0.1:{self.server.server_port}"

        def metadata(issuer: str) -> tuple[str, str]:
            return "application/json", json.dumps({"issuer": issuer, "authorization_endpoint": issuer + "/auth",
                                                   "token_endpoint": issuer + "/token", "jwks_uri": issuer + "/jwks"})

        bodies = {WELL_KNOWN: metadata(host), "/ok" + WELL_KNOWN: metadata(host + "/ok"),
                  "/html" + WELL_KNOWN: ("text/html", "<html><body>Sign in</body></html>"),
                  "/partial" + WELL_KNOWN: ("application/json", json.dumps({"issuer": host}))}
        if self.path not in bodies:
            self.send_error(404)
            return
        kind, body = bodies[self.path]
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def discovery_server() -> Iterator[str]:
    """Serve on a free port of 127.0.0.1 while the block runs; yields the base URL (no trailing slash)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Discovery)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
