"""The WhatsApp channel, driven through the running bot with webhook notifications as Meta posts them.

Signatures are computed here (hmac, hashlib), independently of the channel. The messages the bot sends are
captured by the fake Cloud API of tests/fake_whatsapp.py, which refuses what WhatsApp would refuse (4096-
character texts, 1024-character interactive bodies, 3 reply buttons with titles of 20 characters).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest

from bot.texts import default_texts
from tests.fake_json_api import post_status
from tests.contract_checks import LONG_ANSWER_QUESTIONS, QUESTIONS_IN_THREE_SCRIPTS, assert_rating_stored
from tests.conftest import last_bot, stored_events

SIGNATURE_HEADER = "X-Hub-Signature-256"
LIMIT = 4096


def meta_signature(secret: str, body: bytes) -> str:
    """Meta's signature, computed independently: "sha256=" and the hex HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


class MetaServer:
    """Meta's side: the subscription check and signed notifications to the bot's webhook."""

    def __init__(self, base_url: str, env: Dict[str, str], api: Any) -> None:
        self.url = f"{base_url}/webhooks/whatsapp/webhook"
        self.secret, self.verify_token = env["WHATSAPP_APP_SECRET"], env["WHATSAPP_VERIFY_TOKEN"]
        self.phone, self.api = env["WHATSAPP_PHONE_NUMBER_ID"], api

    def verify(self, **params: str) -> Tuple[int, str]:
        """GET the webhook with `hub.*` parameters (keys with "_" for "."); (status, body)."""
        query = urllib.parse.urlencode({k.replace("_", ".", 1): v for k, v in params.items()})
        try:
            with urllib.request.urlopen(f"{self.url}?{query}", timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def post(self, document: Dict[str, Any], signature: Optional[str] = "default") -> int:
        """POST a notification with the right (default), another or no (None) signature; the HTTP status."""
        body = json.dumps(document, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers[SIGNATURE_HEADER] = meta_signature(self.secret, body) if signature == "default" else signature
        return post_status(self.url, body, headers)

    def notification(self, value: Dict[str, Any], phone: Optional[str] = None) -> Dict[str, Any]:
        """The webhook envelope of one `messages` change to the business number."""
        value = {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone or self.phone},
            **value,
        }
        return {
            "object": "whatsapp_business_account",
            "entry": [{"id": "102290129340398", "changes": [{"value": value, "field": "messages"}]}],
        }

    def message(self, user: str, kind: str, phone: Optional[str] = None, **fields: Any) -> Dict[str, Any]:
        """A notification of one message of `kind` from `user`."""
        message = {
            "from": user,
            "id": "wamid." + secrets.token_hex(16).upper(),
            "timestamp": str(int(time.time())),
            "type": kind,
            **fields,
        }
        return self.notification(
            {"contacts": [{"profile": {"name": "Test"}, "wa_id": user}], "messages": [message]}, phone
        )

    def text(self, user: str, body: str) -> Dict[str, Any]:
        """A text message notification."""
        return self.message(user, "text", text={"body": body})

    def tap(self, user: str, sent: Any, index: int) -> Dict[str, Any]:
        """The notification of tapping reply button `index` of an interactive message the bot sent."""
        reply = sent.body["interactive"]["action"]["buttons"][index]["reply"]
        return self.message(
            user,
            "interactive",
            context={"from": "15550783881", "id": sent.answer["messages"][0]["id"]},
            interactive={"type": "button_reply", "button_reply": {"id": reply["id"], "title": reply["title"]}},
        )

    def sent(self, user: str, count: int) -> List[Any]:
        """The first `count` messages the bot sent to `user` (waiting for them); no more arrive after them."""
        calls = self.api.wait_sent(user, count)
        time.sleep(0.5)
        assert len(self.api.sent(user)) == count, [c.body for c in self.api.sent(user)]
        assert call_tokens_ok(calls, self.api.token)
        return calls

    def settled(self, user: str, at_least: int) -> int:
        """How many messages the bot sent to `user`, once at least `at_least` were and no more came for 1 s."""
        count = len(self.api.wait_sent(user, at_least))
        while True:
            time.sleep(1.0)
            now = len(self.api.sent(user))
            if now == count:
                return count
            count = now


def call_tokens_ok(calls: List[Any], token: str) -> bool:
    """Every call carried the bearer token."""
    return all(call.token == token for call in calls)


@pytest.fixture(scope="module")
def meta(servers: Any, channel_env: Dict[str, str], fake_whatsapp: Any) -> MetaServer:
    """Meta's side, talking to the running test bot."""
    return MetaServer(servers.settings.rasa_url, channel_env, fake_whatsapp)


def new_user() -> str:
    """A fresh WhatsApp id (a phone number in international format, digits only)."""
    return "852" + str(random.randint(10**7, 10**8 - 1)) + str(random.randint(0, 9))


def buttons(call: Any) -> List[Dict[str, str]]:
    """The reply buttons of an interactive message, as {id, title}."""
    return [b["reply"] for b in call.body["interactive"]["action"]["buttons"]]


def answered(db: Path, user: str, count: int = 1, timeout: float = 30.0) -> Dict[str, Any]:
    """The last bot message of `whatsapp:<user>` once the tracker store holds `count` of them (the webhook
    answers 200 before the bot's turn, and the output sends before the turn is stored)."""
    deadline = time.monotonic() + timeout
    while len([e for e in stored_events(db, user, "whatsapp") if e["event"] == "bot"]) < count:
        assert time.monotonic() < deadline, f"fewer than {count} answers to {user} stored within {timeout} s"
        time.sleep(0.2)
    return last_bot(db, user, "whatsapp")


def user_texts(db: Path, user: str) -> List[str]:
    """What the user said, as stored in the conversation `whatsapp:<user>`."""
    return [e["text"] for e in stored_events(db, user, "whatsapp") if e["event"] == "user"]


def assert_none_refused(api: Any, user: str) -> None:
    """The fake API refused no request of the bot to this user (so every limit was kept)."""
    assert [c.answer for c in api.refused() if (c.body or {}).get("to") == user] == []


def test_the_subscription_check_echoes_the_challenge_only_for_the_verify_token(meta: MetaServer) -> None:
    assert meta.verify(hub_mode="subscribe", hub_verify_token=meta.verify_token, hub_challenge="1158201444") == (
        200,
        "1158201444",
    )
    assert meta.verify(hub_mode="subscribe", hub_verify_token="not-it", hub_challenge="1158201444")[0] == 403
    assert meta.verify(hub_mode="unsubscribe", hub_verify_token=meta.verify_token, hub_challenge="1")[0] == 403
    assert meta.verify(hub_mode="subscribe", hub_challenge="1")[0] == 403


def test_a_forged_or_missing_signature_is_refused_with_no_send(meta: MetaServer, tracker_db: Path) -> None:
    user = new_user()
    document = meta.text(user, "What are exosomes?")
    body = json.dumps(document, ensure_ascii=False).encode("utf-8")
    assert meta.post(document, signature=meta_signature("not-the-app-secret", body)) == 403
    assert meta.post(document, signature=meta_signature(meta.secret, body + b" ")) == 403  # another body
    assert meta.post(document, signature=meta_signature(meta.secret, body)[len("sha256=") :]) == 403  # no prefix
    assert meta.post(document, signature=None) == 403
    time.sleep(1.0)
    assert meta.api.sent(user) == [] and stored_events(tracker_db, user, "whatsapp") == []


@pytest.mark.parametrize(("question", "lang", "grade", "sources"), QUESTIONS_IN_THREE_SCRIPTS)
def test_an_answer_is_a_text_then_rating_and_suggestion_buttons(
    meta: MetaServer, tracker_db: Path, question: str, lang: str, grade: str, sources: str
) -> None:
    user, texts = new_user(), default_texts()
    assert meta.post(meta.text(user, question)) == 200
    answer, rating, offer = meta.sent(user, 3)
    bot = answered(tracker_db, user)
    assert bot["custom"]["lang"] == lang
    assert answer.body["type"] == "text" and answer.body["messaging_product"] == "whatsapp"
    assert answer.path == f"/v21.0/{meta.phone}/messages"
    text = answer.body["text"]["body"]
    assert text == bot["text"]  # the visible text, whole; never the JSON payload
    lines = text.split("\n")
    assert lines[-2] == f"{grade}{bot['custom']['evidence']['label']}" and lines[-1].startswith(sources)
    for citation in bot["custom"]["citations"]:
        assert f"[{citation['ref']}] {citation['short']}" in lines[-1]
    # The feedback question, in the answer's language, with the two rating buttons.
    assert rating.body["interactive"]["body"]["text"] == texts.get("channels.feedback_prompt", lang)
    assert [b["id"] for b in buttons(rating)] == ["fb:helpful", "fb:not_helpful"]
    assert [b["title"] for b in buttons(rating)] == [
        texts.get(f"channels.feedback_{r}", lang) for r in ("helpful", "not_helpful")
    ]
    # The suggestions: listed whole and numbered in the body, one button each (at most three).
    suggestions = bot["custom"]["suggestions"]
    listed = offer.body["interactive"]["body"]["text"].split("\n")
    assert listed[1:] == [f"{n}. {s['title']}" for n, s in enumerate(suggestions, 1)]
    assert [b["id"] for b in buttons(offer)] == [s["payload"] for s in suggestions[:3]]
    for number, (button, suggestion) in enumerate(zip(buttons(offer), suggestions), 1):
        title, full = button["title"], f"{number}. {suggestion['title']}"
        assert len(title) <= 20 and (title == full or (title.endswith("…") and full.startswith(title[:-1])))
    assert_none_refused(meta.api, user)


def test_a_greeting_lists_four_suggestions_with_three_buttons_and_a_tap_or_number_asks_one(
    meta: MetaServer, tracker_db: Path
) -> None:
    user = new_user()
    meta.post(meta.text(user, "hello"))
    greeting, offer = meta.sent(user, 2)  # a greeting is not rated: no feedback question
    suggestions = answered(tracker_db, user)["custom"]["suggestions"]
    assert len(suggestions) == 4 and len(buttons(offer)) == 3
    assert offer.body["interactive"]["body"]["text"].endswith(f"4. {suggestions[3]['title']}")
    meta.post(meta.tap(user, offer, 1))
    count = meta.settled(user, 2 + 2)  # the answer: text, feedback question (and suggestions)
    following = answered(tracker_db, user, 2)["custom"]["suggestions"]
    assert user_texts(tracker_db, user)[-1] == suggestions[1]["payload"]
    assert len(following) >= 2
    meta.post(meta.text(user, "2"))  # a number asks that suggestion too
    meta.settled(user, count + 2)
    answered(tracker_db, user, 3)
    assert user_texts(tracker_db, user)[-1] == following[1]["payload"]
    assert_none_refused(meta.api, user)


def test_the_same_message_id_is_answered_once(meta: MetaServer, tracker_db: Path) -> None:
    user = new_user()
    document = meta.text(user, "Is exosome skincare safe?")
    assert meta.post(document) == 200 and meta.post(document) == 200
    answered(tracker_db, user)
    time.sleep(1.5)
    assert user_texts(tracker_db, user) == ["Is exosome skincare safe?"]
    assert len([c for c in meta.api.sent(user) if c.body["type"] == "text"]) == 1


def test_status_notifications_are_acknowledged_without_a_send(meta: MetaServer) -> None:
    user = new_user()
    status = {
        "id": "wamid." + secrets.token_hex(16).upper(),
        "status": "delivered",
        "timestamp": str(int(time.time())),
        "recipient_id": user,
        "conversation": {"id": secrets.token_hex(16), "origin": {"type": "service"}},
        "pricing": {"billable": False, "pricing_model": "PMP", "category": "service"},
    }
    assert meta.post(meta.notification({"statuses": [status]})) == 200
    time.sleep(1.0)
    assert meta.api.sent(user) == []


def test_images_and_stickers_get_the_text_only_note_and_reactions_nothing(meta: MetaServer, tracker_db: Path) -> None:
    texts, user = default_texts(), new_user()
    image = {"mime_type": "image/jpeg", "sha256": secrets.token_hex(32), "id": "1383245099434519"}
    meta.post(meta.message(user, "image", image=image))
    meta.post(
        meta.message(user, "sticker", sticker={"mime_type": "image/webp", "sha256": "x", "id": "5", "animated": False})
    )
    meta.post(meta.message(user, "reaction", reaction={"message_id": "wamid.X", "emoji": "👍"}))
    for note in meta.sent(user, 2):
        text = note.body["text"]["body"]
        assert texts.get("channels.text_only", "zh-Hans") in text and texts.get("channels.text_only", "en") in text
    assert stored_events(tracker_db, user, "whatsapp") == []


def test_messages_to_another_business_number_are_left_alone(meta: MetaServer, tracker_db: Path) -> None:
    user = new_user()
    assert meta.post(meta.message(user, "text", phone="999999999999999", text={"body": "What are exosomes?"})) == 200
    time.sleep(1.0)
    assert meta.api.sent(user) == [] and stored_events(tracker_db, user, "whatsapp") == []


@pytest.mark.parametrize(("question", "grade", "sources"), LONG_ANSWER_QUESTIONS)
def test_a_long_answer_is_shortened_within_the_limit_keeping_grade_and_sources_lines(
    meta: MetaServer, tracker_db: Path, question: str, grade: str, sources: str
) -> None:
    user = new_user()
    meta.post(meta.text(user, question))
    text = meta.api.wait_sent(user, 1)[0].body["text"]["body"]
    full = answered(tracker_db, user)["text"]
    assert len(full) > LIMIT, "precondition: this answer should be longer than WhatsApp allows"
    assert len(text.encode("utf-16-le")) // 2 <= LIMIT
    shown = text.split("\n")
    kept = [ln for ln in full.split("\n") if ln.startswith(grade) or ln.startswith(sources)]
    assert kept and all(ln in shown for ln in kept), "every grade and sources line is kept whole"
    lang = "en" if grade.startswith("E") else "zh-Hans"
    assert default_texts().get("channels.shortened", lang) in text
    assert text.startswith(full.split("\n")[0])
    meta.api.wait_sent(user, 3)
    assert_none_refused(meta.api, user)


@pytest.mark.parametrize(("question", "lang"), [("What are exosomes?", "en"), ("外泌體是什麼？", "zh-Hant")])
def test_a_feedback_button_stores_a_rating_tied_to_the_answer(
    meta: MetaServer, tracker_db: Path, question: str, lang: str
) -> None:
    """Contract 1.1 section 3: a reply button `fb:...` is stored as an event of the conversation naming the
    answer it rates, and never starts a turn; the user is thanked in the answer's language."""
    user = new_user()
    meta.post(meta.text(user, question))
    _, rating, _ = meta.sent(user, 3)
    answered(tracker_db, user)
    first = [e for e in stored_events(tracker_db, user, "whatsapp") if e["event"] == "bot"][-1]
    meta.post(meta.text(user, "Is exosome skincare safe?"))  # a later answer: the button still rates the first
    count = meta.settled(user, 3 + 2)
    answered(tracker_db, user, 2)
    before = len(stored_events(tracker_db, user, "whatsapp"))
    assert meta.post(meta.tap(user, rating, 0)) == 200
    thanks = meta.sent(user, count + 1)[-1]
    assert thanks.body["text"]["body"] == default_texts().get("channels.feedback_thanks", lang)
    assert_rating_stored(stored_events(tracker_db, user, "whatsapp")[before:], "helpful", "whatsapp", first)
    assert_none_refused(meta.api, user)


def test_without_its_settings_the_channel_is_off_and_missing_ones_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from rasa.shared.exceptions import RasaException

    from bot.channels.door import OffChannel
    from bot.channels.whatsapp import WhatsAppInput

    for name in ("WHATSAPP_TOKEN", "WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN", "WHATSAPP_PHONE_NUMBER_ID"):
        monkeypatch.delenv(name, raising=False)
    off = WhatsAppInput.from_credentials(None)
    assert isinstance(off, OffChannel) and off.name() == "whatsapp"
    monkeypatch.setenv("WHATSAPP_TOKEN", "a-token")
    monkeypatch.setenv("WHATSAPP_PHONE_NUMBER_ID", "106540352242922")
    with pytest.raises(RasaException, match="WHATSAPP_APP_SECRET, WHATSAPP_VERIFY_TOKEN"):
        WhatsAppInput.from_credentials(None)
