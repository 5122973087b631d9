"""A loopback HTTP server for fake JSON APIs (LINE's, WhatsApp's): records every request and lets a
subclass answer it the way the platform would, refusing what the platform's public specification refuses.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, Optional, Tuple


@dataclass(frozen=True)
class Call:
    """One request: method, path, the bearer token it carried, its JSON body, and what the fake answered."""

    method: str
    path: str
    token: Optional[str]
    body: Any
    status: int
    answer: Dict[str, Any]


class FakeJsonAPI:
    """The server; subclasses implement `respond`. Use as a context manager or call start() and stop()."""

    name = "fake-api"

    def __init__(self, host: str = "127.0.0.1") -> None:
        """Bind a free loopback port (not yet serving)."""
        self.calls: List[Call] = []
        self._lock = threading.Condition()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                auth = self.headers.get("Authorization") or ""
                token = auth[len("Bearer ") :] if auth.startswith("Bearer ") else None
                try:
                    body: Any = json.loads(raw or b"null")
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                with fake._lock:
                    status, answer = fake.respond(self.command, self.path, token, body)
                    fake.calls.append(Call(self.command, self.path, token, body, status, answer))
                    fake._lock.notify_all()
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_POST = _serve  # noqa: N815 (http.server's naming)
            do_GET = _serve  # noqa: N815

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        self._thread: Optional[threading.Thread] = None

    def respond(self, method: str, path: str, token: Optional[str], body: Any) -> Tuple[int, Dict[str, Any]]:
        """(status, JSON answer) for one request; called with the lock held."""
        raise NotImplementedError

    @property
    def base(self) -> str:
        """http://host:port of the server."""
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "FakeJsonAPI":
        """Serve in a background thread."""
        self._thread = threading.Thread(target=self.server.serve_forever, name=self.name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> "FakeJsonAPI":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def matching(self, test: Callable[[Call], bool]) -> List[Call]:
        """The calls so far for which `test` is true, oldest first."""
        with self._lock:
            return [call for call in self.calls if test(call)]

    def wait_for(self, test: Callable[[Call], bool], count: int, timeout: float = 30.0) -> List[Call]:
        """The calls for which `test` is true, once there are at least `count` (waits up to `timeout` s)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                found = [call for call in self.calls if test(call)]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"{self.name}: only {len(found)} matching calls within {timeout} s, "
                        f"expected {count}; last calls: {self.calls[-3:]}"
                    )
                self._lock.wait(left)


def post_status(url: str, body: bytes, headers: Dict[str, str]) -> int:
    """POST `body` as a platform would call the bot's webhook; the HTTP status of the answer."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
