"""The staff console's API (issue 14) through the running servers: access, the test panel with
save-as-review-case, conversations, and the hand-off round trip over socket.io and Telegram."""

from __future__ import annotations

import csv
import json
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest

from bot.paths import ROOT
from tests.conftest import STAFF_TOKEN, stored_events
from tests.test_telegram import TelegramServer, new_chat

BOT = str(ROOT / ".venv" / "bin" / "bot")


def call(
    base: str,
    method: str,
    path: str,
    body: Any = None,
    token: Optional[str] = STAFF_TOKEN,
    cookie: Optional[str] = None,
) -> Tuple[int, Dict[str, str], bytes]:
    """(status, headers, body) of one request to the Rasa server."""
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if cookie:
        headers["Cookie"] = cookie
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{base}{path}", data=data, method=method, headers=headers)

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=60) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def api(base: str, method: str, path: str, body: Any = None) -> Dict[str, Any]:
    status, _, data = call(base, method, path, body)
    assert status == 200, (status, data[:300])
    return json.loads(data)


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/staff/"),
        ("GET", "/staff/api/conversations"),
        ("POST", "/staff/api/test"),
        ("POST", "/staff/api/conversations/web:x/reply"),
    ],
)
def test_every_staff_path_needs_the_token(servers: Any, method: str, path: str) -> None:
    base = servers.settings.rasa_url
    body = {"text": "hi"} if method == "POST" else None
    for token in (None, "wrong-token", STAFF_TOKEN[:-1]):
        status, _, _ = call(base, method, path, body, token=token)
        assert status == 401, (path, token, status)


def test_sign_in_sets_an_http_only_strict_cookie(servers: Any) -> None:
    base = servers.settings.rasa_url
    status, _, page = call(base, "GET", "/staff/", token=None)
    assert status == 401 and b'name="token"' in page, "the sign-in form, with 401"
    request = urllib.request.Request(
        f"{base}/staff/login",
        data=f"token={STAFF_TOKEN}".encode(),
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    status, headers, _ = call(base, "POST", "/staff/login", {"token": "nope"}, token=None)
    assert status == 401 and "set-cookie" not in {k.lower() for k in headers}

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    try:
        urllib.request.build_opener(NoRedirect).open(request, timeout=30)
        raise AssertionError("a sign-in answers with a redirect")
    except urllib.error.HTTPError as answer:
        assert answer.code in (302, 303)
        cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/staff" in cookie
    status, _, page = call(base, "GET", "/staff/", token=None, cookie=cookie.split(";")[0])
    assert status == 200 and b"staff-data" in page
    # The cookie opens the API too; the consumer paths never needed it.
    status, _, _ = call(base, "GET", "/staff/api/conversations", token=None, cookie=cookie.split(";")[0])
    assert status == 200


def test_the_test_panel_shows_each_channel_and_why_and_saves_a_review_case(servers: Any, tmp_path: Path) -> None:
    base = servers.settings.rasa_url
    result = api(base, "POST", "/staff/api/test", {"text": "外泌体对帕金森病有用吗？"})
    payload = result["payload"]
    assert payload["type"] == "answer" and payload["facts"][0] == "animal.parkinsons"
    grade = payload["parts"][0]["evidence"]["label"]
    assert grade in result["channels"]["wechat"]["text"] and grade in result["channels"]["telegram"]["text"]
    assert "1. " in result["channels"]["wechat"]["text"], "WeChat lists the suggestions by number"
    why = result["why"]
    assert why["intent"]["name"] == "ask_knowledge" and why["intent_ranking"]
    assert why["fact_ranking"][0]["fact"] == "animal.parkinsons"
    (part,) = why["parts"]
    assert (part["fact"], part["level"], part["refs"]) == ("animal.parkinsons", "animal", payload["parts"][0]["refs"])
    # Issue 11, point 4: the article passage the part restates, in the original Chinese, with its markers.
    assert part["passages"] and all(p["section"] and p["quote"] for p in part["passages"])
    assert 11 in {n for p in part["passages"] for n in p["refs"]}
    flagged = api(base, "POST", "/staff/api/test", {"text": "广告说外泌体点滴能让全身年轻十岁"})
    assert [f["code"] for f in flagged["why"]["flags"]] == ["unsupported_systemic_injection_claim"]

    case = {
        "question": "外泌体对帕金森病有用吗？",
        "expect_topic": payload["topic"],
        "expect_refs": [c["ref"] for c in payload["citations"]],
        "expect_flag": False,
        "expect_lang": "zh-Hans",
    }
    saved = api(base, "POST", "/staff/api/review-cases", case)
    review_file = Path(saved["file"])
    rows = list(csv.DictReader(review_file.open(encoding="utf-8")))
    assert rows[-1]["question"] == case["question"] and rows[-1]["expect_flag"] == "no"
    out = tmp_path / "review"
    run = subprocess.run(
        [BOT, "review", str(review_file), "--url", base, "--out", str(out), "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    # Test-panel conversations are not consumer conversations.
    listed = api(base, "GET", "/staff/api/conversations")["conversations"]
    assert not any(c["id"].startswith("staff:") for c in listed)


class Widget:
    """A consumer in the web widget: one socket.io session, kept open."""

    def __init__(self, url: str) -> None:
        import socketio

        self.session = uuid.uuid4().hex
        self.received: List[Dict[str, Any]] = []
        self.client = socketio.Client()
        self.client.on("bot_uttered", lambda data=None: self.received.append(data or {}))
        self.client.connect(url, transports=["polling"], socketio_path="/socket.io")
        self.client.emit("session_request", {"session_id": self.session})
        time.sleep(0.5)

    def say(self, text: str, timeout: float = 30.0) -> Dict[str, Any]:
        """Send a message; the next bot message."""
        before = len(self.received)
        self.client.emit("user_uttered", {"message": text, "session_id": self.session})
        return self.next(before, timeout)

    def next(self, before: int, timeout: float = 30.0) -> Dict[str, Any]:
        """The first bot message after the first `before`."""
        deadline = time.monotonic() + timeout
        while len(self.received) <= before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.received) > before, "no bot message arrived"
        return self.received[before]

    def close(self) -> None:
        """Disconnect."""
        self.client.eio.disconnect(abort=True)  # no wait for the pending long poll


def test_hand_off_round_trip_in_the_widget(servers: Any, tracker_db: Path) -> None:
    base = servers.settings.rasa_url
    user = Widget(base)
    try:
        asked = user.say("Can I talk to a real person please?")
        assert asked["custom"]["type"] == "handoff" and asked["text"]
        conversation = f"web:{user.session}"
        waiting = api(base, "GET", "/staff/api/conversations?status=waiting")["conversations"]
        assert conversation in [c["id"] for c in waiting]
        assert [c for c in waiting if c["id"] == conversation][0]["channel"] == "web"

        before = len(user.received)
        sent = api(
            base, "POST", f"/staff/api/conversations/{conversation}/reply", {"text": "Hi, I'm Mei from support."}
        )
        assert sent["delivered"] is True and sent["status"] == "staff"
        staff = user.next(before)
        assert "Hi, I'm Mei from support." in staff["text"] and staff["custom"]["type"] == "handoff"

        quiet = user.say("Do exosomes help with Parkinson's disease?")
        assert not quiet.get("text") and not quiet["custom"]["facts"], "the bot stays quiet while a person holds it"
        detail = api(base, "GET", f"/staff/api/conversations/{conversation}")
        assert (
            detail["status"] == "staff"
            and [m["text"] for m in detail["messages"] if m["from"] == "user"][-1]
            == "Do exosomes help with Parkinson's disease?"
        )

        before = len(user.received)
        released = api(base, "POST", f"/staff/api/conversations/{conversation}/release")
        assert released["status"] == "bot" and released["delivered"] is True
        assert user.next(before)["text"]
        answer = user.say("Do exosomes help with Parkinson's disease?")
        assert answer["custom"]["type"] == "answer" and answer["custom"]["citations"], answer
        assert api(base, "GET", f"/staff/api/conversations/{conversation}")["status"] == "bot"
    finally:
        user.close()
    # Staff messages are stored as bot messages of the conversation.
    bots = [e["text"] for e in stored_events(tracker_db, user.session, "socketio") if e["event"] == "bot"]
    assert any("Hi, I'm Mei from support." in (t or "") for t in bots)


def test_hand_off_round_trip_on_telegram(servers: Any, fake_telegram: Any, channel_env: Dict[str, str]) -> None:
    base = servers.settings.rasa_url
    telegram = TelegramServer(base, channel_env["TELEGRAM_WEBHOOK_SECRET"], fake_telegram)
    chat = new_chat()
    telegram.post(telegram.message(chat, "我想找真人客服"))
    first = telegram.answer(chat, 0)
    assert first.params["text"]
    conversation = f"telegram:{chat}"
    assert conversation in [
        c["id"] for c in api(base, "GET", "/staff/api/conversations?status=waiting")["conversations"]
    ]
    sent = api(base, "POST", f"/staff/api/conversations/{conversation}/reply", {"text": "您好，我是客服小美。"})
    assert sent["delivered"] is True
    assert "您好，我是客服小美。" in telegram.answer(chat, 1).params["text"]
    telegram.post(telegram.message(chat, "外泌体对帕金森病有用吗？"))
    time.sleep(1.0)
    assert len(fake_telegram.sent(chat_id=chat)) == 2, "no bot answer while a person holds the conversation"
    api(base, "POST", f"/staff/api/conversations/{conversation}/release")
    telegram.answer(chat, 2)
    telegram.post(telegram.message(chat, "外泌体对帕金森病有用吗？"))
    assert "[11]" in telegram.answer(chat, 3).params["text"]


def test_a_rest_conversation_cannot_be_reached_later_and_says_so(servers: Any, ask: Any) -> None:
    base = servers.settings.rasa_url
    sender = f"staff-rest-{uuid.uuid4().hex[:6]}"
    ask(sender, "Can I talk to a real person please?")
    sent = api(base, "POST", f"/staff/api/conversations/rest:{sender}/reply", {"text": "hello"})
    assert sent["delivered"] is False and "REST" in sent["reason"]
    status, _, _ = call(base, "POST", "/staff/api/conversations/web:nobody-here/reply", {"text": "hello"})
    assert status == 404
    rows = api(base, "GET", "/staff/api/conversations?channel=rest&q=" + sender)["conversations"]
    assert [r["id"] for r in rows] == [f"rest:{sender}"] and rows[0]["status"] == "staff"
    status, headers, data = call(base, "GET", f"/staff/api/conversations?format=csv&q={sender}")
    assert (
        status == 200
        and {k.lower(): v for k, v in headers.items()}["content-type"].startswith("text/csv")
        and f"rest:{sender}" in data.decode()
    )


def test_staff_replies_reach_the_widget_whichever_rasa_process_sends_them(servers: Any) -> None:
    """The session's servers run two Rasa processes behind HAProxy: the widget's socket.io session lives in
    one, the staff API requests go round robin to both, and every reply must arrive (bot.channels.socket_bus)."""
    assert servers.worker_count == 2
    base = servers.settings.rasa_url
    user = Widget(base)
    try:
        assert user.say("Can I talk to a real person please?")["custom"]["type"] == "handoff"
        conversation = f"web:{user.session}"
        for n in range(4):  # round robin: two from each process
            before = len(user.received)
            sent = api(base, "POST", f"/staff/api/conversations/{conversation}/reply", {"text": f"Reply {n} from Mei."})
            assert sent["delivered"] is True
            assert f"Reply {n} from Mei." in user.next(before, timeout=15)["text"]
        api(base, "POST", f"/staff/api/conversations/{conversation}/release")
    finally:
        user.close()
