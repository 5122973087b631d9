"""LINE Messaging API channel: signed webhook events in, one reply per event through the reply API.

Settings come from the environment: LINE_CHANNEL_SECRET (required: turns the channel on; checks the
`X-Line-Signature` of every webhook), LINE_CHANNEL_ACCESS_TOKEN (the long-lived channel access token,
required with the secret) and LINE_API_URL (default https://api.line.me; the tests' fake). Route: POST
/webhooks/line/webhook.

The signature (base64 HMAC-SHA256 of the raw body with the channel secret) is checked before anything
else: 403 and no reply otherwise. The webhook answers 200 at once and the events are answered in the
background (LINE wants the 200 within seconds). Each text message gets one reply (POST
/v2/bot/message/reply with the event's reply token): one text message with the plain-text answer (at most
5000 characters; longer answers are shortened keeping each part's grade and sources lines whole) and quick-
reply buttons: the two feedback buttons (postback `fb:helpful` / `fb:not_helpful`) and the suggestions
(message actions whose text is the whole question; labels clipped to 20 characters), 13 at most. A
redelivered event (same `webhookEventId`) is answered once. Follow events get the welcome; stickers,
images and other messages the text-only note. Conversation ids are `line:<userId>` (`line:<groupId>` or
`line:<roomId>` in group chats, where the reply goes to the group).
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hmac
import json
import logging
from typing import Any, Awaitable, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, cast

import aiohttp
from rasa.core.channels.channel import OutputChannel, UserMessage
from rasa.shared.exceptions import RasaException
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.door import EnvChannel, log_id, sender_problem
from bot.channels.messaging import (
    FEEDBACK_DATA,
    Answered,
    Background,
    CollectingOutput,
    JsonApi,
    PlatformError,
    answer_text,
    clip,
    hmac_sha256,
    is_rated,
    rating_buttons,
    store_rating,
)
from bot.channels.plain import PlainRenderer, RecentMap, Suggestion, clean_user_text, utf16_units
from bot.channels.rest import answer_or_apologise
from bot.conversations import conversation_id
from bot.texts import default_texts

logger = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.line.me"
SIGNATURE_HEADER = "X-Line-Signature"
REPLY_PATH = "/v2/bot/message/reply"
TEXT_LIMIT = 5000  # LINE's limit for a text message (counted here in UTF-16 units, the stricter count)
QUICK_REPLY_ITEMS = 13  # LINE's limit for the buttons of one quick reply
LABEL_LIMIT = 20  # LINE's limit for an action's label
ACTION_TEXT_LIMIT = 300  # LINE's limit for a message action's text and a postback's data and displayText
# Where a conversation's id comes from: the chat the event happened in.
_SOURCE_IDS = {"user": "userId", "group": "groupId", "room": "roomId"}


@dataclasses.dataclass(frozen=True)
class LineSettings:
    """Channel secret, channel access token and API base URL."""

    secret: str
    token: str
    api_url: str = DEFAULT_API_URL

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "LineSettings":
        """Read LINE_CHANNEL_SECRET, LINE_CHANNEL_ACCESS_TOKEN and LINE_API_URL; raise a clear error when wrong."""
        settings = cls(
            secret=env.get("LINE_CHANNEL_SECRET", "").strip(),
            token=env.get("LINE_CHANNEL_ACCESS_TOKEN", "").strip(),
            api_url=(env.get("LINE_API_URL", "").strip() or DEFAULT_API_URL).rstrip("/"),
        )
        if not settings.secret or not settings.token:
            missing = "LINE_CHANNEL_SECRET" if not settings.secret else "LINE_CHANNEL_ACCESS_TOKEN"
            raise RasaException(
                f"LINE channel: {missing} is not set, but the channel needs both LINE_CHANNEL_SECRET and "
                "LINE_CHANNEL_ACCESS_TOKEN (LINE Developers console, Messaging API channel: Basic settings → "
                "Channel secret, Messaging API → Channel access token). Set both, or neither to leave it off."
            )
        if not settings.api_url.startswith(("http://", "https://")):
            raise RasaException(f"LINE channel: LINE_API_URL {settings.api_url!r} is not an http(s) URL.")
        return settings


def signature_valid(secret: str, body: bytes, signature: str) -> bool:
    """True when `signature` is the base64 HMAC-SHA256 of the raw body with the channel secret."""
    expected = base64.b64encode(hmac_sha256(secret, body)).decode("ascii")
    return bool(signature) and hmac.compare_digest(expected.encode(), signature.strip().encode())


def quick_reply(suggestions: Sequence[Suggestion], ratings: Sequence[Tuple[str, str]]) -> Optional[Dict[str, Any]]:
    """LINE quick-reply buttons: the rating postbacks (label, data) first, then one message action per
    suggestion (the label clipped, the text the whole question); 13 at most. None when there are none."""
    items: List[Dict[str, Any]] = [
        {
            "type": "action",
            "action": {
                "type": "postback",
                "label": clip(label, LABEL_LIMIT),
                "data": data,
                "displayText": clip(label, ACTION_TEXT_LIMIT),
            },
        }
        for label, data in ratings
    ]
    for suggestion in suggestions:
        if len(items) >= QUICK_REPLY_ITEMS:
            break
        question = clip(suggestion["payload"], ACTION_TEXT_LIMIT)
        items.append(
            {
                "type": "action",
                "action": {"type": "message", "label": clip(suggestion["title"], LABEL_LIMIT), "text": question},
            }
        )
    return {"items": items} if items else None


def text_message(text: str, quick: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """A LINE text message object, with quick-reply buttons when given."""
    message: Dict[str, Any] = {"type": "text", "text": text}
    if quick:
        message["quickReply"] = quick
    return message


class LineInput(EnvChannel):
    """Webhook for LINE events: text messages and feedback postbacks go to the bot."""

    channel_name = "line"
    required_setting = "LINE_CHANNEL_SECRET"
    settings_class = LineSettings

    def __init__(self, settings: LineSettings) -> None:
        """A channel for one LINE Official Account."""
        self.settings = settings
        self.renderer = PlainRenderer(default_texts())
        self.api = JsonApi("LINE", settings.api_url, settings.token)
        self.seen: RecentMap[bool] = RecentMap(size=4096, ttl=24 * 3600.0)
        self.answers: RecentMap[Answered] = RecentMap(size=100_000, ttl=7 * 24 * 3600.0)
        self.background = Background("LINE")
        self.agent: Any = None  # the Rasa agent, from the first request (feedback is stored with it)
        logger.info("LINE channel on (Messaging API at %s).", settings.api_url)

    def get_output_channel(self) -> Optional[OutputChannel]:
        """LINE answers go out as replies to an event; outside one, messages are collected and dropped."""
        return CollectingOutput(self.name())

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """POST /webhook receives events; a missing or wrong X-Line-Signature gets 403."""
        webhook = Blueprint("line_webhook", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            body = request.body or b""
            if not signature_valid(self.settings.secret, body, request.headers.get(SIGNATURE_HEADER) or ""):
                logger.warning(
                    "LINE: refused a webhook with a missing or wrong %s (check LINE_CHANNEL_SECRET "
                    "if this is LINE).",
                    SIGNATURE_HEADER,
                )
                return response.text("forbidden", status=403)
            try:
                document = json.loads(body)
            except ValueError:
                document = None
            events = document.get("events") if isinstance(document, dict) else None
            if not isinstance(events, list):
                return response.text("bad request", status=400)
            self.agent = getattr(request.app.ctx, "agent", None)
            for event in events:
                if isinstance(event, dict) and self._first_delivery(event):
                    self.background.spawn(self._handle(event, on_new_message))
            return response.text("OK")  # LINE's "Verify" button posts no events: 200 as well

        @webhook.listener("after_server_stop")
        async def close(*_: Any) -> None:
            await self.background.finish()
            await self.api.close()

        return webhook

    def _first_delivery(self, event: Dict[str, Any]) -> bool:
        """False when this event (its webhookEventId) was received before: LINE redelivers events."""
        key = event.get("webhookEventId") or (event.get("message") or {}).get("id") or event.get("replyToken")
        if not key:
            return True
        if self.seen.get(str(key)):
            return False
        self.seen.put(str(key), True)
        return True

    # -- events ---------------------------------------------------------------------------------

    async def _handle(self, event: Dict[str, Any], on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> None:
        """Answer one event: a text message, a feedback postback, a follow, or another message."""
        if event.get("mode") == "standby":
            return  # another module channel has the chat
        source = cast(Dict[str, Any], event.get("source") if isinstance(event.get("source"), dict) else {})
        chat = source.get(_SOURCE_IDS.get(str(source.get("type")), "userId"))
        token = event.get("replyToken")
        if not isinstance(token, str) or not token:
            return  # unfollow, leave, unsend: nothing can be replied
        problem = sender_problem(chat)
        if problem:
            logger.warning("LINE: ignored an event whose chat id %s.", problem)
            return
        assert isinstance(chat, str)  # sender_problem() refuses every other type
        kind = event.get("type")
        if kind == "follow":
            await self._reply(token, [text_message(self.renderer.bilingual("welcome"))])
        elif kind == "postback":
            data = str((event.get("postback") or {}).get("data") or "")
            if data.startswith(FEEDBACK_DATA):
                await self._rate(chat, data, token)
        elif kind == "message":
            message = cast(Dict[str, Any], event.get("message") if isinstance(event.get("message"), dict) else {})
            if message.get("type") == "text" and isinstance(message.get("text"), str):
                text = clean_user_text(message["text"])
                if text:
                    await self._ask(chat, text, message.get("id"), token, on_new_message)
            else:
                await self._reply(token, [text_message(self.renderer.bilingual("text_only"))])

    async def _ask(
        self,
        chat: str,
        text: str,
        message_id: Any,
        token: str,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
    ) -> None:
        """Pass the text to the bot; reply with the fitted answer and its buttons."""
        collector = CollectingOutput(self.name())
        message = UserMessage(
            text,
            collector,
            conversation_id(self.name(), chat),
            input_channel=self.name(),
            message_id=f"line-{message_id}" if message_id else None,
        )
        await answer_or_apologise(on_new_message, message, "LINE")  # an apology rather than silence
        reply = self.renderer.render(collector.messages, TEXT_LIMIT, utf16_units, numbered=False)
        if not reply.text:
            return
        rated = is_rated(collector.messages)
        ratings = rating_buttons(self.renderer.texts, reply.lang) if rated else []
        if rated:
            self.answers.put(chat, Answered(answer_text(collector.messages), reply.lang, reply.suggestions))
        await self._reply(token, [text_message(reply.text, quick_reply(reply.suggestions, ratings))])

    async def _rate(self, chat: str, data: str, token: str) -> None:
        """A feedback button: the rating of the chat's last answer (quick replies vanish after the next
        message, so a button always belongs to it); thanks, with that answer's suggestions again."""
        answered = self.answers.get(chat)
        if answered is None:
            problem: Optional[str] = "no answer of this chat is remembered (the bot restarted, or a week passed)"
        else:
            problem = await store_rating(self.agent, self.name(), chat, data, answered.text)
        if problem or answered is None:
            logger.warning("LINE: a feedback button press from %s was not stored: %s.", log_id(chat), problem)
            return
        thanks = self.renderer.texts.get("channels.feedback_thanks", answered.lang)
        await self._reply(token, [text_message(thanks, quick_reply(answered.suggestions, []))])

    async def _reply(self, token: str, messages: List[Dict[str, Any]]) -> None:
        """One call of the reply API; a refusal or network error is logged (the reply token is then spent)."""
        try:
            await self.api.post(REPLY_PATH, {"replyToken": token, "messages": messages})
        except PlatformError as error:
            logger.error(
                "LINE: the reply was refused: %s. A reply token works once and expires after about a "
                "minute; 401 means LINE_CHANNEL_ACCESS_TOKEN is wrong or revoked.",
                error,
            )
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as error:
            logger.error(
                "LINE: could not reach the Messaging API at %s: %s: %s",
                self.settings.api_url,
                type(error).__name__,
                error,
            )


__all__: List[str] = ["LineInput", "LineSettings", "quick_reply", "signature_valid", "text_message"]
