"""A fake Telegram Bot API server on loopback: records every method call and answers like Telegram.

The bot under test is pointed at it with TELEGRAM_API_URL, so the outgoing sendMessage can be read
back by the tests (`FakeBotAPI.sent`, `FakeBotAPI.wait_sent`).
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import re
import threading
import time
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional

_PATH = re.compile(r"^/bot(?P<token>[^/]+)/(?P<method>[A-Za-z]+)$")
_FILE = re.compile(r"^/file/bot(?P<token>[^/]+)/(?P<path>.+)$")


@dataclass(frozen=True)
class Call:
    """One Bot API request: the token in the URL, the method and its decoded parameters."""

    token: str
    method: str
    params: Dict[str, Any]


def _decode(content_type: str, body: bytes) -> Dict[str, Any]:
    """Parameters of a request sent as JSON, urlencoded form or multipart form (as Bot API clients do)."""
    if content_type.startswith("application/json"):
        params = json.loads(body or b"{}")
    elif content_type.startswith("multipart/form-data"):
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + body
        )
        params = {
            part.get_param("name", header="content-disposition"): part.get_content() for part in message.iter_parts()
        }
    else:
        params = {k: v[-1] for k, v in urllib.parse.parse_qs(body.decode("utf-8"), keep_blank_values=True).items()}
    for key in ("reply_markup", "entities"):  # sent as JSON strings inside forms
        if isinstance(params.get(key), str):
            params[key] = json.loads(params[key])
    return params


class FakeBotAPI:
    """The fake server; use as a context manager or call start() and stop()."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        """Bind a free loopback port (not yet serving)."""
        self.calls: List[Call] = []
        self.files: Dict[str, bytes] = {}  # file_id -> content, served by getFile and /file/bot<token>/<path>
        self._lock = threading.Condition()
        self._ids = itertools.count(1000)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                match = _PATH.match(urllib.parse.urlsplit(self.path).path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if not match:
                    return self._send(404, {"ok": False, "error_code": 404, "description": "Not Found"})
                params = _decode(self.headers.get("Content-Type", ""), body)
                call = Call(match["token"], match["method"], params)
                fake._record(call)
                self._send(200, {"ok": True, "result": fake._result(call)})

            def do_GET(self) -> None:  # noqa: N802
                path = urllib.parse.urlsplit(self.path).path
                file = _FILE.match(path)
                if file is None:
                    return self.do_POST()
                data = fake.files.get(file["path"].rsplit("/", 1)[-1].split(".", 1)[0])
                if data is None:
                    return self._send(404, {"ok": False, "error_code": 404, "description": "Not Found"})
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _send(self, status: int, document: Dict[str, Any]) -> None:
                data = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        self._thread: Optional[threading.Thread] = None

    @property
    def url(self) -> str:
        """Base URL to give the bot as TELEGRAM_API_URL."""
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def _record(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)
            self._lock.notify_all()

    def _result(self, call: Call) -> Any:
        """A plausible Bot API result for the method."""
        if call.method.lower() == "getme":
            return {"id": int(call.token.split(":")[0]), "is_bot": True, "first_name": "Fake", "username": "fake_bot"}
        if call.method.lower() == "sendmessage":
            chat = call.params.get("chat_id")
            return {
                "message_id": next(self._ids),
                "date": int(time.time()),
                "chat": {"id": int(chat) if str(chat).lstrip("-").isdigit() else chat, "type": "private"},
                "text": call.params.get("text", ""),
            }
        if call.method.lower() == "getfile":
            file_id = str(call.params.get("file_id"))
            data = self.files.get(file_id)
            if data is None:
                return True
            return {
                "file_id": file_id,
                "file_unique_id": f"u{file_id}",
                "file_size": len(data),
                "file_path": f"photos/{file_id}.jpg",
            }
        return True

    def start(self) -> "FakeBotAPI":
        """Serve in a background thread."""
        self._thread = threading.Thread(target=self.server.serve_forever, name="fake-telegram", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> "FakeBotAPI":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def sent(self, method: str = "sendMessage", chat_id: Any = None) -> List[Call]:
        """Calls of `method` so far (to one chat when `chat_id` is given)."""
        with self._lock:
            return [
                c
                for c in self.calls
                if c.method.lower() == method.lower()
                and (chat_id is None or str(c.params.get("chat_id")) == str(chat_id))
            ]

    def wait_sent(self, chat_id: Any, count: int, method: str = "sendMessage", timeout: float = 30.0) -> List[Call]:
        """The calls of `method` to `chat_id`, once there are at least `count` of them (waits up to `timeout`)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                found = self.sent(method, chat_id)
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"only {len(found)} {method} to {chat_id} within {timeout} s, "
                        f"expected {count}; last calls: {self.calls[-3:]}"
                    )
                self._lock.wait(left)
