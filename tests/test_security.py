"""The Rasa server's exposure: the HTTP API is off unless a token or a JWT secret is set, CORS allows only
the configured origins (by default the widget demo page's), and oversized request bodies are refused with
413 before they reach a channel or the NLU.
"""

from __future__ import annotations

import http.client
import json
import time
import uuid
from typing import Any, Dict, Optional, Tuple
from urllib.parse import urlsplit

import jwt
import pytest

from bot.serve import DEFAULT_REQUEST_MAX_SIZE, BotServers, ServerSettings, api_arguments
from tests.conftest import split_reply, stored_events

JWT_SECRET = "exobot-test-jwt-secret-0123456789abcdef"


@pytest.fixture(scope="module")
def plain_bot(bot_factory: Any) -> BotServers:
    """A bot started with the launcher's defaults: no token, no JWT secret, no CORS_ORIGINS."""
    return bot_factory()


@pytest.fixture(scope="module")
def jwt_bot(bot_factory: Any) -> BotServers:
    """A Rasa server (without an action server) whose HTTP API is opened with a JWT secret only."""
    return bot_factory(env={"RASA_JWT_SECRET": JWT_SECRET}, action_server=False)


def request(
    base: str, method: str, path: str, body: Optional[bytes] = None, headers: Optional[Dict[str, str]] = None
) -> Tuple[int, Dict[str, str], bytes]:
    """(status, headers, body) of one HTTP request; a server that hangs up after answering is fine."""
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        connection.putrequest(method, path)
        for name, value in {"Content-Length": str(len(body or b"")), **(headers or {})}.items():
            connection.putheader(name, value)
        connection.endheaders()
        try:
            for start in range(0, len(body or b""), 65536):
                connection.send(body[start : start + 65536])  # type: ignore[index]
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server refused the body early; its answer is still there to read
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def message(sender: str, text: str) -> bytes:
    """A REST channel request body."""
    return json.dumps({"sender": sender, "message": text}).encode()


# -- HTTP API -----------------------------------------------------------------------------------


def test_api_arguments_follow_the_environment() -> None:
    assert api_arguments({}) == []
    assert api_arguments({"RASA_API_TOKEN": "t"}) == ["--enable-api", "--auth-token", "t"]
    assert api_arguments({"RASA_JWT_SECRET": "s"}) == ["--enable-api", "--jwt-secret", "s", "--jwt-method", "HS256"]


@pytest.mark.parametrize(
    "method, path",
    [("GET", "/status"), ("GET", "/version"), ("POST", "/model/parse"), ("GET", "/conversations/someone/tracker")],
)
def test_the_http_api_is_off_by_default(plain_bot: BotServers, method: str, path: str) -> None:
    status, _, _ = request(plain_bot.settings.rasa_url, method, path, b'{"text": "hi"}' if method == "POST" else None)
    assert (
        status == 404
    ), f"{method} {path} answered {status} on a bot started without RASA_API_TOKEN or RASA_JWT_SECRET"
    assert request(plain_bot.settings.rasa_url, "GET", "/webhooks/rest/")[0] == 200  # the channels are there


def test_the_http_api_needs_the_token(servers: BotServers) -> None:
    base, token = servers.settings.rasa_url, servers.settings.env["RASA_API_TOKEN"]
    assert request(base, "GET", "/status")[0] == 401
    assert request(base, "GET", "/status?token=wrong-token")[0] == 401
    assert request(base, "GET", f"/status?token={token}")[0] == 200


def test_the_http_api_accepts_a_signed_jwt_only(jwt_bot: BotServers) -> None:
    base = jwt_bot.settings.rasa_url
    admin = {"user": {"username": "staff", "role": "admin"}, "exp": int(time.time()) + 600}
    good = jwt.encode(admin, JWT_SECRET, algorithm="HS256")
    forged = jwt.encode(admin, "not-the-secret-but-just-as-long-0123456789", algorithm="HS256")
    assert request(base, "GET", "/status")[0] == 401
    assert request(base, "GET", "/status", headers={"Authorization": f"Bearer {forged}"})[0] == 401
    assert request(base, "GET", "/status", headers={"Authorization": f"Bearer {good}"})[0] == 200
    # A user token may read its own conversation only.
    user = jwt.encode({"user": {"username": "alice", "role": "user"}, "exp": int(time.time()) + 600}, JWT_SECRET)
    bearer = {"Authorization": f"Bearer {user}"}
    assert request(base, "GET", "/conversations/alice/tracker", headers=bearer)[0] == 200
    assert request(base, "GET", "/conversations/bob/tracker", headers=bearer)[0] == 403


# -- CORS ---------------------------------------------------------------------------------------


def test_default_cors_origins_are_the_widget_page() -> None:
    assert ServerSettings(widget_port=5080).cors_origins == ["http://127.0.0.1:5080", "http://localhost:5080"]
    two = ServerSettings(cors="https://a.example, https://b.example")
    assert two.cors_origins == ["https://a.example", "https://b.example"]
    assert ServerSettings(cors="").cors_origins == []


@pytest.mark.parametrize("path", ["/webhooks/rest/webhook", "/socket.io/?EIO=4&transport=polling"])
def test_cors_allows_only_the_configured_origins(plain_bot: BotServers, path: str) -> None:
    base, allowed, port = plain_bot.settings.rasa_url, plain_bot.settings.cors_origins, plain_bot.settings.widget_port
    assert allowed == [f"http://127.0.0.1:{port}", f"http://localhost:{port}"]
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    for origin in allowed:
        _, headers, _ = request(base, "OPTIONS", path, headers={"Origin": origin, **preflight})
        assert headers.get("access-control-allow-origin") == origin, headers
    for origin in ("https://evil.example", "http://127.0.0.1:1", "null"):
        _, headers, _ = request(base, "OPTIONS", path, headers={"Origin": origin, **preflight})
        assert "access-control-allow-origin" not in headers, f"{origin} allowed: {headers}"
    if path.startswith("/webhooks"):
        sender = f"cors-{uuid.uuid4().hex[:6]}"
        status, headers, body = request(
            base,
            "POST",
            path,
            message(sender, "What are exosomes?"),
            {"Origin": "https://evil.example", "Content-Type": "application/json"},
        )
        assert status == 200 and "access-control-allow-origin" not in headers  # a browser hides this answer
        status, headers, body = request(
            base,
            "POST",
            path,
            message(sender, "What are exosomes?"),
            {"Origin": allowed[1], "Content-Type": "application/json"},
        )
        assert headers.get("access-control-allow-origin") == allowed[1]
        split_reply(json.loads(body))


# -- request size -------------------------------------------------------------------------------


def test_an_oversized_body_is_refused_before_it_reaches_the_bot(plain_bot: BotServers) -> None:
    base = plain_bot.settings.rasa_url
    db = plain_bot.settings.env["TRACKER_SQLITE_PATH"]
    sender = f"big-{uuid.uuid4().hex[:6]}"
    body = message(sender, "外泌体" * (1024 * 1024 // 9 + 1))
    assert len(body) > 1024 * 1024
    status, _, _ = request(base, "POST", "/webhooks/rest/webhook", body, {"Content-Type": "application/json"})
    assert status == 413
    assert stored_events(db, sender) == []  # never reached the NLU, nothing stored
    # Below the limit a long message still arrives, and the bot answers it with its input-length notice.
    body = message(sender, "外泌体" * 1000)
    assert len(body) < DEFAULT_REQUEST_MAX_SIZE
    status, _, reply = request(base, "POST", "/webhooks/rest/webhook", body, {"Content-Type": "application/json"})
    text, payload = split_reply(json.loads(reply))
    assert status == 200 and payload["type"] == "input_error"
    assert [e["event"] for e in stored_events(db, sender)].count("user") == 1
