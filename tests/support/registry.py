"""A schema registry that answers every request with one HTTP status: registry faults by real means.

The registry's behaviour itself comes from Confluent's in-memory registry (``mock://``);
this server only plays the failures a network can show — 5xx, 401, 403 — over real HTTP,
and records the ``Authorization`` headers it was sent, so a test can see which
credentials went out.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

#: The payment schema the registry tests write and read; v2 adds a field with a default (a
#: backward and forward compatible change).
V1 = {
    "type": "record",
    "name": "Payment",
    "namespace": "shop",
    "fields": [{"name": "orderId", "type": "string"}, {"name": "amount", "type": "int"}],
}
V2 = {**V1, "fields": [*V1["fields"], {"name": "currency", "type": "string", "default": "EUR"}]}


@dataclass
class AnsweringRegistry:
    url: str
    authorizations: list[str] = field(default_factory=list)


@contextmanager
def answering(status: int, page: bytes | None = None) -> Iterator[AnsweringRegistry]:
    """A server on 127.0.0.1 that answers every request with ``status`` and a registry error body.

    ``page``: an HTML body instead, as a login page or a proxy answers at a wrong URL.
    """
    registry = AnsweringRegistry("")

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            registry.authorizations.append(self.headers.get("Authorization", ""))
            body = page or json.dumps({"error_code": status * 100, "message": f"answering {status}"}).encode()
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", "https://login.example.com/")
            self.send_header(
                "Content-Type", "text/html" if page else "application/vnd.schemaregistry.v1+json"
            )
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            self._answer()

        def do_POST(self) -> None:
            self._answer()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    registry.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield registry
    finally:
        server.shutdown()
        server.server_close()
