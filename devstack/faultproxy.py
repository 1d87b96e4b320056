"""A fault-injecting HTTP proxy in front of moto: some S3 requests get ``503 SlowDown``.

LOCAL STAND-IN for fault tests and benchmarks. Point a connection's ``endpoint_url`` at
the proxy instead of moto; each request is either answered with S3's ``SlowDown`` error
(with probability ``failure_rate``, drawn from a seeded generator so runs are
reproducible) or forwarded unchanged to the upstream server.
"""

from __future__ import annotations

import http.client
import random
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from devstack.net import free_port

SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message><RequestId>fault-proxy</RequestId></Error>"
)
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-connection",
}


class _Handler(BaseHTTPRequestHandler):
    server: _ProxyServer
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        proxy = self.server.proxy
        operation = (
            "COPY" if self.command == "PUT" and self.headers.get("x-amz-copy-source") else self.command
        )
        if proxy.should_fail(operation, self.path):
            self.send_response(503)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(SLOW_DOWN)))
            self.end_headers()
            self.wfile.write(SLOW_DOWN)
            return
        upstream = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        upstream.request(self.command, self.path, body=body, headers=headers)
        response = upstream.getresponse()
        data = response.read()
        self.send_response(response.status, response.reason)
        for name, value in response.getheaders():
            if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            if self.command != "HEAD":
                self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up on this attempt (timeout) and retries on a new connection
        finally:
            upstream.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    proxy: FaultProxy


class FaultProxy:
    """Forward to ``upstream`` (``http://host:port``), failing ``failure_rate`` of requests with 503."""

    def __init__(
        self, upstream: str, failure_rate: float = 0.1, seed: int = 7, only_prefix: str | None = None
    ) -> None:
        parts = urlsplit(upstream)
        self.upstream_host, self.upstream_port = parts.hostname, parts.port
        self.failure_rate = failure_rate
        self.only_prefix = only_prefix  # inject faults only into requests whose path starts with this
        # (method, first path segment) -> requests; a PUT with x-amz-copy-source counts as "COPY"
        self.counts: Counter[tuple[str, str]] = Counter()
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.requests = 0
        self.failures = 0
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._server = _ProxyServer(("127.0.0.1", self.port), _Handler)
        self._server.proxy = self
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True)

    def should_fail(self, method: str = "GET", path: str = "/") -> bool:
        with self._lock:
            self.requests += 1
            self.counts[(method, path.lstrip("/").split("/", 1)[0].split("?", 1)[0])] += 1
            eligible = self.only_prefix is None or path.startswith(self.only_prefix)
            fail = eligible and self._random.random() < self.failure_rate
            self.failures += fail
            return fail

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
