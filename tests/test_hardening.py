"""Issue 12, hardening: no request stops the bot or reaches past the channel's door, typed text is only
text, and the action server is not open to the network. Through the running servers."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.action_server import ActionServerError
from bot.action_server import settings as action_settings
from bot.channels.door import MAX_SENDER_CHARS, sender_problem, typed_text
from bot.conversations import channel_of, conversation_id, platform_sender, split_id
from bot.paths import ROOT
from bot.serve import BotServers
from tests.conftest import TEST_ENV, free_port, split_reply, stored_events
from tests.test_security import request


def post(servers: BotServers, body: bytes, query: str = "") -> Tuple[int, Any]:
    """POST a raw body to the REST webhook: (status, parsed JSON or text)."""
    status, _, raw = request(
        servers.settings.rasa_url, "POST", f"/webhooks/rest/webhook{query}", body, {"Content-Type": "application/json"}
    )
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode("utf-8", "replace")


def alive(servers: BotServers) -> bool:
    """The Rasa server still answers a normal question."""
    status, messages = post(servers, json.dumps({"sender": f"alive-{uuid.uuid4().hex}", "message": "hi"}).encode())
    return status == 200 and isinstance(messages, list) and len(messages) >= 1


@pytest.mark.parametrize(
    "body, fragment",
    [
        (b"", "JSON object"),
        (b"[1, 2]", "JSON object"),
        (b"not json", "JSON object"),
        (b'{"message": "hi"}', "'sender'"),
        (b'{"sender": 42, "message": "hi"}', "'sender'"),
        (b'{"sender": "", "message": "hi"}', "'sender'"),
        (b'{"sender": "x\\ud800", "message": "hi"}', "'sender'"),
        (b'{"sender": "a\\u0000b", "message": "hi"}', "'sender'"),
        (json.dumps({"sender": "s" * (MAX_SENDER_CHARS + 1), "message": "hi"}).encode(), "'sender'"),
        (b'{"sender": "someone", "message": {"text": "hi"}}', "'message'"),
        (b'{"sender": "someone"}', "'message'"),
    ],
)
def test_rest_refuses_bad_requests_with_400_and_stays_up(servers: BotServers, body: bytes, fragment: str) -> None:
    status, answer = post(servers, body)
    assert status == 400 and fragment in answer["error"], (status, answer)
    assert alive(servers)


def test_a_lone_surrogate_or_nul_in_the_text_is_answered_and_stored(servers: BotServers, tracker_db: Path) -> None:
    for raw in (b'"bad \\ud800 text"', b'"bad \\u0000 text"'):
        sender = f"surrogate-{uuid.uuid4().hex}"
        status, messages = post(servers, b'{"sender": "' + sender.encode() + b'", "message": ' + raw + b"}")
        assert status == 200
        _, payload = split_reply(messages)
        assert payload["type"] == "input_error"
        events = stored_events(tracker_db, sender)
        assert [e["event"] for e in events].count("user") == 1 and any(e["event"] == "bot" for e in events)
    assert alive(servers)


def test_typed_intent_syntax_is_just_text(ask: Any, tracker_db: Path) -> None:
    sender = f"slash-{uuid.uuid4().hex}"
    _, first = split_reply(ask(sender, "外泌体是什么？"))
    assert first["lang"] == "zh-Hans"
    text, payload = split_reply(ask(sender, "/restart"))
    assert payload["lang"] == "zh-Hans" and not payload.get("unavailable"), payload
    assert not any(e["event"] == "restart" for e in stored_events(tracker_db, sender))
    sender = f"slash-{uuid.uuid4().hex}"
    ask(sender, '/ask_reference{"reference": "6"}')
    parsed = [e["parse_data"] for e in stored_events(tracker_db, sender) if e["event"] == "user"]
    assert parsed and "norm_text" in parsed[-1], "the message went through the NLU, not Rasa's intent syntax"


def test_stream_mode_answers_within_the_action_timeout(servers: BotServers) -> None:
    started = time.monotonic()
    status, raw = post(
        servers,
        json.dumps({"sender": f"stream-{uuid.uuid4().hex}", "message": "外泌体安全吗？"}).encode(),
        query="?stream=true",
    )
    assert status == 200 and time.monotonic() - started < 15
    lines = [json.loads(line) for line in str(raw).splitlines() if line.strip()] if isinstance(raw, str) else raw
    assert any("custom" in m for m in (lines if isinstance(lines, list) else [lines]))


def _socketio(url: str, events: List[Tuple[str, Any]], timeout: float = 20.0) -> List[Tuple[str, Any]]:
    """Emit `events` on a fresh socket.io connection (long polling); collect what the server sends back."""
    import socketio

    received: List[Tuple[str, Any]] = []
    client = socketio.Client()
    for name in ("session_confirm", "bot_uttered", "error"):
        client.on(name, (lambda n: (lambda data=None: received.append((n, data))))(name))
    client.connect(url, transports=["polling"], socketio_path="/socket.io")
    try:
        for name, data in events:
            client.emit(name, data)
            time.sleep(0.5)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not any(n in ("bot_uttered", "error") for n, _ in received):
            time.sleep(0.1)
    finally:
        client.eio.disconnect(abort=True)  # no wait for the pending long poll
    return received


def test_socketio_refuses_unusable_session_ids_and_stays_up(servers: BotServers, tracker_db: Path) -> None:
    url = servers.settings.rasa_url
    received = _socketio(url, [("session_request", {"session_id": "x\ud800"})], timeout=3)
    confirmed = [d for n, d in received if n == "session_confirm"]
    assert confirmed and sender_problem(confirmed[0]) is None and confirmed[0] != "x\ud800"
    received = _socketio(url, [("user_uttered", {"message": "hi", "session_id": "a\x00b"})])
    assert any(n == "error" for n, _ in received) and not any(n == "bot_uttered" for n, _ in received)
    received = _socketio(url, [("user_uttered", {"message": {"not": "text"}, "session_id": uuid.uuid4().hex})])
    assert any(n == "error" for n, _ in received)
    session = uuid.uuid4().hex
    received = _socketio(
        url,
        [
            ("session_request", {"session_id": session}),
            ("user_uttered", {"message": "外泌体是什么？", "session_id": session}),
        ],
    )
    assert any(n == "bot_uttered" and d.get("custom", {}).get("type") == "answer" for n, d in received), received
    # Contract 1.1: the widget's conversation is `web:<session>`, answered in the session's own room.
    assert [e["text"] for e in stored_events(tracker_db, session, "socketio") if e["event"] == "user"] == [
        "外泌体是什么？"
    ]
    assert stored_events(tracker_db, session, "rest") == []


def test_conversation_ids_name_their_channel() -> None:
    """Contract 1.1, section 3: ids are built by the channel; older ids stay readable by the staff tools."""
    assert conversation_id("socketio", "abc") == "web:abc" and conversation_id("wechat", "o6_x") == "wechat:o6_x"
    assert conversation_id("rest", "wechat:o6_x") == "rest:wechat:o6_x"  # a REST caller stays a REST caller
    assert split_id("rest:wechat:o6_x") == ("rest", "wechat:o6_x") and platform_sender("telegram:42") == "42"
    assert split_id("alice") == (None, "alice") and split_id("mailto:x") == (None, "mailto:x")
    assert channel_of("web:abc") == "web" and channel_of("alice", "socketio") == "web"
    assert channel_of("alice", "rest") == "rest" and channel_of("alice") is None
    with pytest.raises(ValueError, match="PREFIXES"):
        conversation_id("carrier-pigeon", "x")
    longest = "s" * MAX_SENDER_CHARS
    assert sender_problem(longest) is None and len(conversation_id("telegram", longest)) <= 255


def test_sender_checks_and_typed_text() -> None:
    assert sender_problem("wechat:o6_bmjrPTlm6_2sgVt7hMZOPfL2M") is None
    assert sender_problem("x\ud800") and sender_problem("a\x00") and sender_problem(" ") and sender_problem(3)
    assert typed_text("/restart") == "\u2060/restart" and typed_text("hi /x") == "hi /x"
    assert typed_text("a\ud800\x00b") == "a\ufffd\ufffdb"


def test_the_tracker_store_fails_the_request_not_the_server(tmp_path: Path) -> None:
    """A value the database refuses raises TrackerStoreValueError (Rasa's own store exits the process)."""
    import os

    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    from bot.stores import ConfiguredSQLTrackerStore, TrackerStoreValueError

    os.environ["TRACKER_SQLITE_PATH"] = str(tmp_path / "t.db")
    try:
        store = ConfiguredSQLTrackerStore(domain=Domain.empty())
    finally:
        del os.environ["TRACKER_SQLITE_PATH"]
    tracker = DialogueStateTracker.from_events("x\ud800", [UserUttered("hi")])
    with pytest.raises(TrackerStoreValueError):
        asyncio.run(store.save(tracker))
    good = DialogueStateTracker.from_events("fine", [UserUttered("hi")])
    asyncio.run(store.save(good))
    assert asyncio.run(store.retrieve("fine")) is not None


def test_the_action_server_listens_on_loopback_and_needs_a_token_elsewhere(tmp_path: Path) -> None:
    assert action_settings({})[0] == "127.0.0.1" and action_settings({})[1] is None
    with pytest.raises(ActionServerError, match="ACTION_SERVER_TOKEN"):
        action_settings({"ACTION_HOST": "0.0.0.0"})
    port, token = free_port(), "secret-" + uuid.uuid4().hex
    env = {**TEST_ENV, "ACTION_SERVER_TOKEN": token, "ACTION_REQUEST_MAX_SIZE": "2048"}
    log = (tmp_path / "actions.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.action_server", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{base}/health", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        assert request(base, "GET", "/actions")[0] == 401
        assert request(base, "GET", f"/actions?token={token}")[0] == 200
        assert (
            request(base, "POST", f"/webhook?token={token}", b"x" * 4096, {"Content-Type": "application/json"})[0]
            == 413
        )
        listening = subprocess.run(["ss", "-ltn"], capture_output=True, text=True).stdout
        assert f"127.0.0.1:{port}" in listening and f"0.0.0.0:{port}" not in listening
    finally:
        process.terminate()
        process.wait(timeout=20)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(
    body=st.one_of(
        JSON_VALUES,
        st.fixed_dictionaries({"sender": st.text(max_size=300), "message": st.text(max_size=300)}),
        st.fixed_dictionaries({"sender": JSON_VALUES, "message": JSON_VALUES}),
    ),
)
def test_any_json_body_gets_an_answer_or_a_400_and_the_server_stays_up(servers: BotServers, body: Any) -> None:
    raw = json.dumps(body).encode()  # lone surrogates are written escaped, as a client would send them
    status, answer = post(servers, raw)
    assert status in (200, 400), (status, answer)
    if status == 200:
        assert isinstance(answer, list) and answer, answer
    assert servers.rasa_process.poll() is None
