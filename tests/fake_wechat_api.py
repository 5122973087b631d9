"""A fake of WeChat's server API on loopback (access token and customer-service messages), written from
WeChat's public documentation: `GET /cgi-bin/token?grant_type=client_credential&appid=&secret=` and
`POST /cgi-bin/message/custom/send?access_token=` with `{"touser", "msgtype": "text", "text": {"content"}}`."""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List
from urllib.parse import parse_qs, urlsplit


class FakeWeChatAPI:
    """Issues tokens for one AppID/AppSecret and records the messages sent; can expire a token on demand."""

    def __init__(self, app_id: str, app_secret: str) -> None:
        """An API that knows one account."""
        self.app_id, self.app_secret = app_id, app_secret
        self.tokens: List[str] = []
        self.sent: List[Dict[str, Any]] = []
        self.expire_next = False  # the next send answers errcode 42001 (token expired)
        self._changed = threading.Condition()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, document: Dict[str, Any]) -> None:
                body = json.dumps(document).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path != "/cgi-bin/token" or query.get("grant_type") != "client_credential":
                    return self._answer({"errcode": 40002, "errmsg": "invalid grant_type"})
                if (query.get("appid"), query.get("secret")) != (api.app_id, api.app_secret):
                    return self._answer({"errcode": 40125, "errmsg": "invalid appsecret"})
                token = uuid.uuid4().hex
                with api._changed:
                    api.tokens.append(token)
                self._answer({"access_token": token, "expires_in": 7200})

            def do_POST(self) -> None:  # noqa: N802
                url = urlsplit(self.path)
                token = parse_qs(url.query).get("access_token", [""])[0]
                length = int(self.headers.get("Content-Length") or 0)
                document = json.loads(self.rfile.read(length) or b"{}")
                with api._changed:
                    if url.path != "/cgi-bin/message/custom/send":
                        return self._answer({"errcode": 404, "errmsg": "unknown api"})
                    if api.expire_next or not api.tokens or token != api.tokens[-1]:
                        api.expire_next = False
                        return self._answer({"errcode": 42001, "errmsg": "access_token expired"})
                    api.sent.append({"token": token, **document})
                    api._changed.notify_all()
                self._answer({"errcode": 0, "errmsg": "ok"})

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        """The API's base address (WECHAT_API_URL)."""
        return f"http://127.0.0.1:{self.server.server_port}"

    def wait_sent(self, user: str, count: int = 1, timeout: float = 30.0) -> List[Dict[str, Any]]:
        """The messages sent to `user`, once there are `count` (waits up to `timeout` seconds)."""
        with self._changed:
            self._changed.wait_for(lambda: len([m for m in self.sent if m.get("touser") == user]) >= count, timeout)
            found = [m for m in self.sent if m.get("touser") == user]
        assert len(found) >= count, f"{len(found)} customer-service messages to {user}, expected {count}"
        return found

    def stop(self) -> None:
        """Stop serving."""
        self.server.shutdown()
