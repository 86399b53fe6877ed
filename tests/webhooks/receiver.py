"""A real HTTP receiver of webhooks on a free local port: it notes every request and answers
with the statuses a test queues (200 once they run out)."""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook


@dataclass(frozen=True)
class Received:
    """One request as it arrived."""

    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic()

    def verified(self, secret: str) -> Any:
        """The payload, once its Standard Webhooks signature is checked against `secret`."""
        return Webhook(secret).verify(self.body, self.headers)


class Receiver(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's listen backlog is 5: a job's ten attempts connecting at once overflow it
    # when the accepting thread is slow on a loaded machine, and the kernel resets the excess
    # (retried, but the tests count first attempts). Real receivers listen with hundreds.
    request_queue_size = 128

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), ReceiverHandler)
        self.lock = threading.Lock()
        self.received: list[Received] = []
        self.answers: list[int] = []
        # Cleared: requests are noted, then held unanswered until it is set again.
        self.answering = threading.Event()
        self.answering.set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks"

    def answer(self, *statuses: int) -> None:
        """Answer the next requests with these statuses, in order."""
        with self.lock:
            self.answers.extend(statuses)

    def requests(self) -> list[Received]:
        with self.lock:
            return list(self.received)


class ReceiverHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with self.server.lock:
            self.server.received.append(
                Received({k.lower(): v for k, v in self.headers.items()}, body, time.monotonic())
            )
            status = self.server.answers.pop(0) if self.server.answers else 200
        self.server.answering.wait()
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: tests read the requests, not an access log."""


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.answering.set()
        server.shutdown()
        server.server_close()
