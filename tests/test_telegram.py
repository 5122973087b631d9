"""The Telegram channel, driven through the running bot with updates as Telegram posts them.

The bot's Bot API base URL points at the fake server of tests/fake_telegram.py, which captures the
outgoing sendMessage calls.
"""

from __future__ import annotations

import json
import random
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

from bot.texts import default_texts
from tests.conftest import last_bot, stored_events

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class TelegramServer:
    """Telegram's side: posts updates to the bot's webhook with the secret-token header."""

    def __init__(self, base_url: str, secret: str, api: Any) -> None:
        self.url = f"{base_url}/webhooks/telegram/webhook"
        self.secret, self.api = secret, api
        self.update_id = random.randint(10_000, 900_000_000)

    def post(self, update: Dict[str, Any], secret: Optional[str] = "default") -> int:
        """POST an update with the right (default), another or no (None) secret; the HTTP status."""
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers[SECRET_HEADER] = self.secret if secret == "default" else secret
        request = urllib.request.Request(self.url, data=json.dumps(update).encode(), headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    def next_id(self) -> int:
        """The next update_id."""
        self.update_id += 1
        return self.update_id

    def message(self, chat: int, text: Optional[str] = None, language_code: str = "en", **extra: Any) -> Dict[str, Any]:
        """A message update from a private chat (text, or other fields such as `photo`)."""
        person = {"id": chat, "is_bot": False, "first_name": "Test", "language_code": language_code}
        message = {
            "message_id": random.randint(1, 10**6),
            "from": person,
            "chat": {"id": chat, "first_name": "Test", "type": "private"},
            "date": int(time.time()),
            **extra,
        }
        if text is not None:
            message["text"] = text
        return {"update_id": self.next_id(), "message": message}

    def press(self, chat: int, sent: Dict[str, Any], data: str) -> Dict[str, Any]:
        """The callback_query update of pressing the button with `data` under a sent message's params."""
        bot_message = {
            "message_id": 77,
            "from": {"id": 123456789, "is_bot": True, "first_name": "Fake"},
            "chat": {"id": chat, "type": "private"},
            "date": int(time.time()),
            "text": sent["text"],
            "reply_markup": sent["reply_markup"],
        }
        return {
            "update_id": self.next_id(),
            "callback_query": {
                "id": str(random.randint(1, 10**12)),
                "from": {"id": chat, "is_bot": False, "first_name": "Test"},
                "message": bot_message,
                "chat_instance": "-4242",
                "data": data,
            },
        }

    def answer(self, chat: int, after: int) -> Any:
        """The sendMessage to `chat` that follows the `after` already captured."""
        return self.api.wait_sent(chat, after + 1)[after]


@pytest.fixture(scope="module")
def telegram(servers: Any, channel_env: Dict[str, str], fake_telegram: Any) -> TelegramServer:
    """Telegram's side, talking to the running test bot."""
    return TelegramServer(servers.settings.rasa_url, channel_env["TELEGRAM_WEBHOOK_SECRET"], fake_telegram)


def new_chat() -> int:
    """A fresh private chat id."""
    return random.randint(10**8, 10**10)


def all_buttons(sent: Any) -> List[Dict[str, str]]:
    """Every inline button of a captured sendMessage, in order."""
    return [button for row in sent.params["reply_markup"]["inline_keyboard"] for button in row]


def buttons(sent: Any) -> List[Dict[str, str]]:
    """The suggestion buttons of a captured sendMessage, in order (not the two feedback buttons)."""
    return [b for b in all_buttons(sent) if not b["callback_data"].startswith("fb:")]


@pytest.mark.parametrize(
    ("question", "grade", "sources"),
    [
        ("Do exosomes help with Parkinson's disease?", "Evidence: ", "Sources: ["),
        ("外泌体对帕金森病有用吗？", "证据等级：", "参考文献：["),
    ],
)
def test_an_answer_goes_out_as_text_with_grade_citations_and_buttons(
    telegram: TelegramServer, tracker_db: Path, channel_env: Dict[str, str], question: str, grade: str, sources: str
) -> None:
    chat = new_chat()
    assert telegram.post(telegram.message(chat, question)) == 200
    sent = telegram.answer(chat, 0)
    assert sent.token == channel_env["TELEGRAM_TOKEN"]
    bot = last_bot(tracker_db, str(chat), "telegram")
    text = sent.params["text"]
    assert text == bot["text"]  # the visible text, whole; never the JSON payload
    lines = text.split("\n")
    assert lines[-2] == f"{grade}{bot['custom']['evidence']['label']}" and lines[-1].startswith(sources)
    for citation in bot["custom"]["citations"]:
        assert f"[{citation['ref']}] {citation['short']}" in lines[-1]
    assert [b["text"] for b in buttons(sent)] == [s["title"] for s in bot["custom"]["suggestions"]]
    assert all(len(b["callback_data"].encode()) <= 64 for b in buttons(sent))
    assert len(telegram.api.sent(chat_id=chat)) == 1  # one message: no JSON sent as a second text
    assert '"type"' not in text and "{" not in text


def test_pressing_a_button_asks_that_suggestion(telegram: TelegramServer, tracker_db: Path) -> None:
    chat = new_chat()
    telegram.post(telegram.message(chat, "外泌体是什么？"))
    sent = telegram.answer(chat, 0)
    offered = last_bot(tracker_db, str(chat), "telegram")["custom"]["suggestions"]
    for index in (1, 0):  # long Chinese questions travel as "#n"; short ones as themselves
        data = buttons(sent)[index]["callback_data"]
        before = len(telegram.api.sent(chat_id=chat))
        assert telegram.post(telegram.press(chat, sent.params, data)) == 200
        answer = telegram.answer(chat, before)
        users = [e["text"] for e in stored_events(tracker_db, str(chat), "telegram") if e["event"] == "user"]
        assert users[-1] == offered[index]["payload"]
        assert answer.params["text"] == last_bot(tracker_db, str(chat), "telegram")["text"]
        assert telegram.api.sent("answerCallbackQuery")
        sent, offered = answer, last_bot(tracker_db, str(chat), "telegram")["custom"]["suggestions"]
    # A button under a message the bot no longer remembers (say, after a restart) still works.
    other = new_chat()
    by_index = {
        "text": sent.params["text"],
        "reply_markup": {"inline_keyboard": [[{"text": offered[0]["title"], "callback_data": "#1"}]]},
    }
    assert telegram.post(telegram.press(other, by_index, "#1")) == 200
    telegram.answer(other, 0)
    assert [e["text"] for e in stored_events(tracker_db, str(other), "telegram") if e["event"] == "user"] == [
        offered[0]["payload"]
    ]


def test_a_wrong_or_missing_secret_token_is_refused(telegram: TelegramServer, tracker_db: Path) -> None:
    chat = new_chat()
    assert telegram.post(telegram.message(chat, "What are exosomes?"), secret="not-the-secret") == 403
    assert telegram.post(telegram.message(chat, "What are exosomes?"), secret=None) == 403
    time.sleep(0.5)
    assert telegram.api.sent(chat_id=chat) == []
    assert stored_events(tracker_db, str(chat), "telegram") == []


def test_start_gets_a_bilingual_welcome_and_a_voice_message_a_text_only_note(
    telegram: TelegramServer, tracker_db: Path
) -> None:
    texts, chat = default_texts(), new_chat()
    telegram.post(telegram.message(chat, "/start"))
    welcome = telegram.answer(chat, 0).params["text"]
    assert texts.get("channels.welcome", "zh-Hans") in welcome and texts.get("channels.welcome", "en") in welcome
    voice = {"file_id": "AwAD", "file_unique_id": "AQAD", "duration": 3}  # photos are read: tests/test_ocr.py
    telegram.post(telegram.message(chat, voice=voice))
    note = telegram.answer(chat, 1).params["text"]
    assert texts.get("channels.text_only", "zh-Hans") in note and texts.get("channels.text_only", "en") in note
    assert stored_events(tracker_db, str(chat), "telegram") == []


def test_a_resent_update_is_answered_once(telegram: TelegramServer, tracker_db: Path) -> None:
    chat = new_chat()
    update = telegram.message(chat, "Is exosome skincare safe?")
    assert telegram.post(update) == 200 and telegram.post(update) == 200
    telegram.answer(chat, 0)
    time.sleep(0.5)
    assert len(telegram.api.sent(chat_id=chat)) == 1
    assert [e["text"] for e in stored_events(tracker_db, str(chat), "telegram") if e["event"] == "user"] == [
        "Is exosome skincare safe?"
    ]


@pytest.mark.parametrize(
    "question, labels",
    [
        ("What are exosomes?", ["👍 Helpful", "👎 Not helpful"]),
        ("外泌体是什么？", ["👍 有帮助", "👎 没帮助"]),
    ],
)
def test_feedback_buttons_store_a_rating_tied_to_the_answer(
    telegram: TelegramServer, tracker_db: Path, question: str, labels: List[str]
) -> None:
    """Contract 1.1 section 3 / issue 13: two rating buttons in the reply's language, first row; a press is
    stored as an event of the conversation naming the answer it rates, and never starts a turn."""
    chat = new_chat()
    telegram.post(telegram.message(chat, question))
    sent = telegram.answer(chat, 0)
    first_row = sent.params["reply_markup"]["inline_keyboard"][0]
    assert [b["text"] for b in first_row] == labels
    assert [b["callback_data"] for b in first_row] == ["fb:helpful", "fb:not_helpful"]
    answer = [e for e in stored_events(tracker_db, str(chat), "telegram") if e["event"] == "bot"][-1]
    before = len(stored_events(tracker_db, str(chat), "telegram"))
    calls = len(telegram.api.sent("answerCallbackQuery"))
    assert telegram.post(telegram.press(chat, sent.params, "fb:not_helpful")) == 200
    toast = telegram.api.wait_sent(None, calls + 1, method="answerCallbackQuery")[calls]
    assert toast.params.get("text"), "the press is acknowledged with a thank-you note"
    events = stored_events(tracker_db, str(chat), "telegram")
    added = events[before:]
    assert [e["event"] for e in added] == ["slot"] and added[0]["name"] == "feedback"
    rating = added[0]["value"]
    assert rating["rating"] == "not_helpful" and rating["answer_timestamp"] == answer["timestamp"]
    assert rating["answer_facts"] == answer["data"]["custom"]["facts"]
    assert len(telegram.api.sent(chat_id=chat)) == 1, "a rating is not a question: no new answer"


@pytest.mark.parametrize(
    ("language_code", "lang"), [("zh-hant", "zh-Hant"), ("zh-TW", "zh-Hant"), ("zh-hans", "zh-Hans")]
)
def test_chinese_that_reads_the_same_in_both_scripts_follows_the_users_telegram_language(
    telegram: TelegramServer, tracker_db: Path, language_code: str, lang: str
) -> None:
    chat = new_chat()
    question = "exosome 能不能改善 mitochondria 的 energy metabolism？"  # no character tells the script
    assert telegram.post(telegram.message(chat, question, language_code=language_code)) == 200
    telegram.answer(chat, 0)
    assert last_bot(tracker_db, str(chat), "telegram")["custom"]["lang"] == lang
