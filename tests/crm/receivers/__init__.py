"""Strict loopback contract receivers for the connector tests.

Each receiver is a real HTTPS server on 127.0.0.1 (a trustme CA, a certificate for
localhost and 127.0.0.1), run by http.server.ThreadingHTTPServer in a thread. It refuses
anything the contract (reference/crm-contracts.md) does not allow, records every raw
request, and can be scripted to answer given statuses, headers and delays.

The connectors trust the CA through CRM_EXTRA_CA_BUNDLE (tests set it with monkeypatch).
"""

import atexit
import collections
import functools
import os
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import trustme


@functools.cache
def test_ca() -> trustme.CA:
    return trustme.CA()


@functools.cache
def ca_bundle_path() -> str:
    """The test CA as a PEM file, for CRM_EXTRA_CA_BUNDLE."""
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115  (lives as long as the process)
        prefix="leadportal-test-ca-", suffix=".pem", delete=False
    )
    handle.write(test_ca().cert_pem.bytes())
    handle.close()
    atexit.register(os.unlink, handle.name)
    return handle.name


@functools.cache
def server_ssl_context() -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    test_ca().issue_cert("localhost", "127.0.0.1", "::1").configure_cert(context)
    return context


@dataclass(frozen=True)
class Answer:
    """A scripted answer: status, extra headers, a delay before answering."""

    status: int = 200
    headers: dict = field(default_factory=dict)
    delay: float = 0.0
    body: bytes = b""


@dataclass(frozen=True)
class RawRequest:
    method: str
    path: str  # with the query string
    headers: dict  # lower-cased names
    body: bytes
    status: int  # what the receiver answered
    reason: str  # why it refused, or "" when accepted


class LoopbackServer:
    """Serve `handle(method, path, headers, body)`, which answers
    (status, headers, body, delay, reason); reason is "" for an accepted request."""

    def __init__(self, *, tls: bool = True) -> None:
        self.tls = tls
        self.requests: list[RawRequest] = []
        self.script: collections.deque[Answer] = collections.deque()
        self.lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler, receiver=self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}{path}"

    def answer_with(self, *answers: Answer) -> None:
        """Answer the next accepted requests so, in order (then 200 again)."""
        self.script.extend(answers)

    def next_answer(self) -> Answer:
        with self.lock:
            return self.script.popleft() if self.script else Answer()

    def rejections(self) -> list[str]:
        return [request.reason for request in self.requests if request.reason]

    def handle(self, method: str, path: str, headers: dict, body: bytes) -> tuple:
        raise NotImplementedError

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, handler, *, receiver: LoopbackServer) -> None:
        self.receiver = receiver
        super().__init__(address, handler)

    def finish_request(self, request, client_address) -> None:
        # The TLS handshake runs in the request's own thread, not in the accept loop.
        if self.receiver.tls:
            try:
                request = server_ssl_context().wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address) -> None:
        pass  # a client that went away (a timeout test) is not a test failure


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_POST(self) -> None:
        self._serve()

    def do_GET(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        receiver = self.server.receiver
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        headers = {name.lower(): value for name, value in self.headers.items()}
        status, answer_headers, answer_body, delay, reason = receiver.handle(
            self.command, self.path, headers, body
        )
        with receiver.lock:
            receiver.requests.append(
                RawRequest(self.command, self.path, headers, body, status, reason)
            )
        time.sleep(delay)
        self.send_response(status)
        for name, value in answer_headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer_body)))
        self.end_headers()
        self.wfile.write(answer_body)

    def log_message(self, format, *args) -> None:
        pass
