"""The LINE channel, driven through the running bot with webhook events as LINE posts them.

Signatures are computed here (hmac, hashlib, base64), independently of the channel. The bot's replies
are captured by the fake Messaging API of tests/fake_line.py, which refuses what LINE would refuse
(single-use reply tokens, 5000-character texts, 13 quick-reply buttons, 20-character labels).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import secrets
import string
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

from bot.texts import default_texts
from tests.fake_json_api import post_status
from tests.contract_checks import LONG_ANSWER_QUESTIONS, QUESTIONS_IN_THREE_SCRIPTS, assert_rating_stored
from tests.conftest import last_bot, stored_events

SIGNATURE_HEADER = "X-Line-Signature"
LIMIT = 5000


def line_signature(secret: str, body: bytes) -> str:
    """LINE's signature, computed independently: base64 of the HMAC-SHA256 of the body with the secret."""
    return base64.b64encode(hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()).decode()


class LineServer:
    """LINE's side: signed webhook posts with events, reply tokens handed out by the fake API."""

    def __init__(self, base_url: str, secret: str, api: Any) -> None:
        self.url = f"{base_url}/webhooks/line/webhook"
        self.secret, self.api = secret, api

    def post(self, events: List[Dict[str, Any]], signature: Optional[str] = "default") -> int:
        """POST the events with the right (default), another or no (None) signature; the HTTP status."""
        body = json.dumps({"destination": "U" + "f" * 32, "events": events}, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "LineBotWebhook/2.0"}
        if signature is not None:
            headers[SIGNATURE_HEADER] = line_signature(self.secret, body) if signature == "default" else signature
        return post_status(self.url, body, headers)

    def event(self, user: str, kind: str, **fields: Any) -> Dict[str, Any]:
        """A webhook event of `kind` from a one-to-one chat with `user`, with a fresh reply token."""
        return {
            "type": kind,
            "mode": "active",
            "timestamp": int(time.time() * 1000),
            "source": {"type": "user", "userId": user},
            "webhookEventId": "01" + "".join(random.choices(string.digits + string.ascii_uppercase, k=24)),
            "deliveryContext": {"isRedelivery": False},
            "replyToken": self.api.reply_token(user),
            **fields,
        }

    def text(self, user: str, text: str) -> Dict[str, Any]:
        """A text message event."""
        return self.event(
            user,
            "message",
            message={
                "id": str(random.randint(10**17, 10**18)),
                "type": "text",
                "quoteToken": secrets.token_hex(8),
                "text": text,
            },
        )

    def answer(self, user: str, after: int) -> Dict[str, Any]:
        """The one message object of the reply to `user` that follows the `after` already captured."""
        call = self.api.wait_replies(user, after + 1)[after]
        assert call.token == self.api.token and len(call.body["messages"]) == 1
        return call.body["messages"][0]


@pytest.fixture(scope="module")
def line(servers: Any, channel_env: Dict[str, str], fake_line: Any) -> LineServer:
    """LINE's side, talking to the running test bot."""
    return LineServer(servers.settings.rasa_url, channel_env["LINE_CHANNEL_SECRET"], fake_line)


def new_user() -> str:
    """A fresh LINE user id (U and 32 hex digits)."""
    return "U" + secrets.token_hex(16)


def items(message: Dict[str, Any]) -> List[Dict[str, Any]]:
    """The actions of a message's quick-reply buttons, in order."""
    return [item["action"] for item in (message.get("quickReply") or {}).get("items", [])]


def user_texts(db: Path, user: str) -> List[str]:
    """What the user said, as stored in the conversation `line:<user>`."""
    return [e["text"] for e in stored_events(db, user, "line") if e["event"] == "user"]


def assert_none_refused(api: Any, user: str) -> None:
    """The fake API refused no request of the bot to this user (so every limit was kept)."""
    assert [c.answer for c in api.refused() if api.chat_of(c) == user] == []


@pytest.mark.parametrize(("question", "lang", "grade", "sources"), QUESTIONS_IN_THREE_SCRIPTS)
def test_an_answer_is_one_reply_with_grade_citations_and_quick_replies(
    line: LineServer, tracker_db: Path, question: str, lang: str, grade: str, sources: str
) -> None:
    user, texts = new_user(), default_texts()
    event = line.text(user, question)
    assert line.post([event]) == 200
    call = line.api.wait_replies(user, 1)[0]
    assert call.body["replyToken"] == event["replyToken"]
    message = line.answer(user, 0)
    bot = last_bot(tracker_db, user, "line")
    assert bot["custom"]["lang"] == lang
    text = message["text"]
    assert text == bot["text"]  # the visible text, whole; never the JSON payload
    lines = text.split("\n")
    assert lines[-2] == f"{grade}{bot['custom']['evidence']['label']}" and lines[-1].startswith(sources)
    for citation in bot["custom"]["citations"]:
        assert f"[{citation['ref']}] {citation['short']}" in lines[-1]
    actions = items(message)
    assert 2 < len(actions) <= 13
    ratings, offered = actions[:2], actions[2:]
    assert [(a["type"], a["data"]) for a in ratings] == [("postback", "fb:helpful"), ("postback", "fb:not_helpful")]
    assert [a["label"] for a in ratings] == [
        texts.get(f"channels.feedback_{r}", lang) for r in ("helpful", "not_helpful")
    ]
    suggestions = bot["custom"]["suggestions"]
    assert [a["text"] for a in offered] == [s["payload"] for s in suggestions]  # the whole question is sent
    for action, suggestion in zip(offered, suggestions):
        label, title = action["label"], suggestion["title"]
        assert action["type"] == "message" and len(label) <= 20
        assert label == title or (label.endswith("…") and title.startswith(label[:-1]))
    assert_none_refused(line.api, user)


def test_a_forged_or_missing_signature_is_refused_with_no_reply(line: LineServer, tracker_db: Path) -> None:
    user = new_user()
    event = line.text(user, "What are exosomes?")
    other = json.dumps({"destination": "U" + "f" * 32, "events": [event]}).encode()
    assert line.post([event], signature=line_signature("not-the-channel-secret", other)) == 403
    assert line.post([event], signature=line_signature(line.secret, other + b" ")) == 403  # another body
    assert line.post([event], signature="") == 403
    assert line.post([event], signature=None) == 403
    time.sleep(1.0)
    assert line.api.replies(user) == [] and stored_events(tracker_db, user, "line") == []


def test_a_redelivered_event_is_answered_once(line: LineServer, tracker_db: Path) -> None:
    user = new_user()
    event = line.text(user, "Is exosome skincare safe?")
    assert line.post([event]) == 200
    again = {**event, "deliveryContext": {"isRedelivery": True}}
    assert line.post([again]) == 200 and line.post([event]) == 200
    line.answer(user, 0)
    time.sleep(1.0)
    assert len(line.api.replies(user)) == 1
    assert user_texts(tracker_db, user) == ["Is exosome skincare safe?"]
    assert_none_refused(line.api, user)


def test_follow_gets_the_welcome_and_stickers_and_images_the_text_only_note(line: LineServer, tracker_db: Path) -> None:
    texts, user = default_texts(), new_user()
    assert line.post([line.event(user, "follow", follow={"isUnblocked": False})]) == 200
    welcome = line.answer(user, 0)["text"]
    assert texts.get("channels.welcome", "zh-Hans") in welcome and texts.get("channels.welcome", "en") in welcome
    sticker = line.event(
        user,
        "message",
        message={
            "id": "4651",
            "type": "sticker",
            "packageId": "446",
            "stickerId": "1988",
            "stickerResourceType": "STATIC",
        },
    )
    image = line.event(user, "message", message={"id": "4652", "type": "image", "contentProvider": {"type": "line"}})
    for index, event in enumerate((sticker, image), 1):
        assert line.post([event]) == 200
        note = line.answer(user, index)["text"]
        assert texts.get("channels.text_only", "zh-Hans") in note and texts.get("channels.text_only", "en") in note
    assert line.post([line.event(user, "unfollow")]) == 200  # nothing to answer
    assert stored_events(tracker_db, user, "line") == []
    assert_none_refused(line.api, user)


def test_the_verify_button_of_the_console_gets_200(line: LineServer) -> None:
    assert line.post([]) == 200


@pytest.mark.parametrize(("question", "grade", "sources"), LONG_ANSWER_QUESTIONS)
def test_a_long_answer_is_shortened_within_the_limit_keeping_grade_and_sources_lines(
    line: LineServer, tracker_db: Path, question: str, grade: str, sources: str
) -> None:
    user = new_user()
    line.post([line.text(user, question)])
    text = line.answer(user, 0)["text"]
    full = last_bot(tracker_db, user, "line")["text"]
    assert len(full) > LIMIT, "precondition: this answer should be longer than LINE allows"
    assert len(text.encode("utf-16-le")) // 2 <= LIMIT
    shown = text.split("\n")
    kept = [ln for ln in full.split("\n") if ln.startswith(grade) or ln.startswith(sources)]
    assert kept and all(ln in shown for ln in kept), "every grade and sources line is kept whole"
    lang = "en" if grade.startswith("E") else "zh-Hans"
    assert default_texts().get("channels.shortened", lang) in text
    assert text.startswith(full.split("\n")[0])
    assert_none_refused(line.api, user)


def test_a_greeting_offers_its_suggestions_without_feedback_buttons(line: LineServer, tracker_db: Path) -> None:
    user = new_user()
    line.post([line.text(user, "hello")])
    actions = items(line.answer(user, 0))
    bot = last_bot(tracker_db, user, "line")
    assert bot["custom"]["type"] == "greeting"
    assert [a["type"] for a in actions] == ["message"] * len(bot["custom"]["suggestions"])
    assert all(len(a["label"]) <= 20 for a in actions)
    # Tapping a button sends its text as the user's message: that question is answered.
    line.post([line.text(user, actions[0]["text"])])
    line.answer(user, 1)
    assert user_texts(tracker_db, user)[-1] == bot["custom"]["suggestions"][0]["payload"]


@pytest.mark.parametrize(("question", "lang"), [("What are exosomes?", "en"), ("外泌体是什么？", "zh-Hans")])
def test_a_feedback_button_stores_a_rating_tied_to_the_answer(
    line: LineServer, tracker_db: Path, question: str, lang: str
) -> None:
    """Contract 1.1 section 3: a postback `fb:...` is stored as an event of the conversation naming the
    answer it rates, and never starts a turn; the thanks carry the answer's suggestions again."""
    user = new_user()
    line.post([line.text(user, question)])
    answer_message = line.answer(user, 0)
    answer = [e for e in stored_events(tracker_db, user, "line") if e["event"] == "bot"][-1]
    before = len(stored_events(tracker_db, user, "line"))
    data = items(answer_message)[1]["data"]
    assert line.post([line.event(user, "postback", postback={"data": data})]) == 200
    thanks = line.answer(user, 1)
    assert thanks["text"] == default_texts().get("channels.feedback_thanks", lang)
    assert items(thanks) == items(answer_message)[2:], "the suggestions again, without the rating buttons"
    assert_rating_stored(stored_events(tracker_db, user, "line")[before:], "not_helpful", "line", answer)
    assert_none_refused(line.api, user)


def test_without_its_settings_the_channel_is_off_and_half_settings_are_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from rasa.shared.exceptions import RasaException

    from bot.channels.door import OffChannel
    from bot.channels.line import LineInput

    for name in ("LINE_CHANNEL_SECRET", "LINE_CHANNEL_ACCESS_TOKEN", "LINE_API_URL"):
        monkeypatch.delenv(name, raising=False)
    off = LineInput.from_credentials(None)
    assert isinstance(off, OffChannel) and off.name() == "line"
    monkeypatch.setenv("LINE_CHANNEL_SECRET", "a-secret")
    with pytest.raises(RasaException, match="LINE_CHANNEL_ACCESS_TOKEN"):
        LineInput.from_credentials(None)
