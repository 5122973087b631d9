"""What the messaging-app channels that call a platform's JSON API share (Telegram, LINE, WhatsApp).

Feedback buttons (contract 1.1, section 3): which replies get them, their labels and data, and storing a
press as a rating of the answer it belongs to. Button labels clipped to a platform's limit. The HMAC of a
signed webhook body. A small client for a bearer-token JSON API, a collector of one turn's bot messages,
and the background tasks that answer webhook events after the platform got its quick 200.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from typing import Any, Coroutine, Dict, Iterable, List, Optional, Sequence, Set, Text, Tuple, cast

import aiohttp
from rasa.core.channels.channel import OutputChannel

from bot.channels.plain import Measure, Suggestion, utf16_units
from bot.contract import RATED_TYPES, RATINGS
from bot.conversations import conversation_id
from bot.feedback import read_feedback, record_feedback
from bot.texts import Texts

logger = logging.getLogger(__name__)

FEEDBACK_DATA = "fb:"  # button data "fb:helpful": a rating of the answer the button belongs to
ELLIPSIS = "…"


def rating_buttons(texts: Texts, lang: str) -> List[Tuple[str, str]]:
    """The two feedback buttons as (label, data), in the reply's language: helpful first."""
    return [(texts.get(f"channels.feedback_{rating}", lang), f"{FEEDBACK_DATA}{rating}") for rating in RATINGS]


def is_rated(messages: Iterable[Dict[str, Any]]) -> bool:
    """True when one of a turn's bot messages is a reply that users may rate (its payload's type)."""
    for message in messages:
        payload = cast(Dict[str, Any], message.get("custom") if isinstance(message.get("custom"), dict) else {})
        if payload.get("type") in RATED_TYPES:
            return True
    return False


def answer_text(messages: Sequence[Dict[str, Any]]) -> str:
    """The bot's own text of a turn's answer (the last message with text), as the tracker stores it."""
    texts = [m["text"] for m in messages if isinstance(m.get("text"), str) and m["text"].strip()]
    return texts[-1] if texts else ""


def clip(text: str, limit: int, measure: Measure = utf16_units) -> str:
    """`text` cut to at most `limit` (by `measure`), ending with "…" when it was cut."""
    text = " ".join(text.split())
    if measure(text) <= limit:
        return text
    room = limit - measure(ELLIPSIS)
    while text and measure(text) > room:
        text = text[:-1]
    return text.rstrip() + ELLIPSIS


def hmac_sha256(secret: str, body: bytes) -> bytes:
    """HMAC-SHA256 of a webhook's raw body with the shared secret (LINE and WhatsApp sign this way)."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()


@dataclass(frozen=True)
class Answered:
    """The last answer shown to a user: its text as stored (what a rating names), language, suggestions."""

    text: str
    lang: str
    suggestions: Tuple[Suggestion, ...] = ()


async def store_rating(agent: Any, channel: str, sender: str, data: str, answer: Optional[str]) -> Optional[str]:
    """Store feedback button data ("fb:helpful") as a rating of `answer` in the conversation of `sender`
    on `channel`; returns why it was not stored (None: stored)."""
    rating, problem = read_feedback({"rating": data[len(FEEDBACK_DATA) :], "answer": answer})
    if rating is None:
        return problem
    return await record_feedback(agent, conversation_id(channel, sender), rating, channel)


class PlatformError(Exception):
    """A platform's API refused a request: the HTTP status and the platform's own description."""

    def __init__(self, platform: str, path: str, status: int, description: str) -> None:
        """The refusal of `path` with `status`."""
        super().__init__(f"{platform} API answered {status} to {path}: {description}")
        self.status, self.description = status, description


class JsonApi:
    """A bearer-token JSON API (LINE's, WhatsApp's): POST a JSON body, get the JSON answer or a PlatformError."""

    def __init__(self, platform: str, base_url: str, token: str, timeout: float = 15.0) -> None:
        """A client of `base_url` (no session until the first request)."""
        self.platform, self.base_url, self.token = platform, base_url.rstrip("/"), token
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: Optional[aiohttp.ClientSession] = None

    async def post(self, path: str, body: Dict[str, Any]) -> Dict[str, Any]:
        """POST `body` to `path`; the decoded answer, or PlatformError for a status other than 2xx."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        async with self._session.post(f"{self.base_url}{path}", data=data, headers=headers) as answer:
            raw = await answer.read()
        try:
            document = json.loads(raw or b"{}")
        except ValueError:
            document = {"raw": raw[:300].decode("utf-8", "replace")}
        if not 200 <= answer.status < 300:
            raise PlatformError(self.platform, path, answer.status, json.dumps(document, ensure_ascii=False)[:500])
        return document if isinstance(document, dict) else {}

    async def close(self) -> None:
        """Close the HTTP session, if one was opened."""
        if self._session is not None:
            await self._session.close()


class CollectingOutput(OutputChannel):
    """Collects the bot's messages of one turn whole (text and payload together), for a channel that
    renders a turn's answer once it is over (LINE replies once per reply token)."""

    def __init__(self, channel: str) -> None:
        """An empty collector for channel `channel`."""
        self.channel = channel
        self.messages: List[Dict[Text, Any]] = []

    def name(self) -> Text:  # type: ignore[override]
        """The channel's name (Rasa picks channel-specific responses by it)."""
        return self.channel

    async def send_response(self, recipient_id: Text, message: Dict[Text, Any]) -> None:
        """Keep the message as Rasa built it."""
        self.messages.append(dict(message))

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        """Keep a bare text."""
        self.messages.append({"text": text})


class Background:
    """Webhook events answered after the webhook's 200: platforms want that answer within seconds and
    re-send events otherwise, while a turn of the bot may take longer."""

    def __init__(self, channel: str) -> None:
        """No tasks yet; `channel` names them in logs."""
        self.channel = channel
        self._tasks: Set["asyncio.Task[Any]"] = set()

    def spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        """Run `work` in the background; its failure is logged, never lost."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: "asyncio.Task[Any]") -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("%s: answering an event failed.", self.channel, exc_info=task.exception())

    async def finish(self, timeout: float = 10.0) -> None:
        """Wait up to `timeout` seconds for running answers (at shutdown), then cancel the rest."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
        for task in pending:
            task.cancel()


__all__: List[str] = [
    "FEEDBACK_DATA",
    "RATED_TYPES",
    "Answered",
    "Background",
    "CollectingOutput",
    "JsonApi",
    "PlatformError",
    "answer_text",
    "clip",
    "hmac_sha256",
    "is_rated",
    "rating_buttons",
    "store_rating",
]
