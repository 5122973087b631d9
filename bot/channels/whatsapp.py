"""WhatsApp Cloud API channel: signed webhook notifications in, messages out through the Graph API.

Settings come from the environment: WHATSAPP_TOKEN (required: turns the channel on; the access token of
a system user), WHATSAPP_APP_SECRET (checks `X-Hub-Signature-256` on every POST), WHATSAPP_VERIFY_TOKEN
(the verify token of the webhook subscription), WHATSAPP_PHONE_NUMBER_ID (the business number that
answers) and WHATSAPP_API_URL (default https://graph.facebook.com/v21.0; the tests' fake). Routes:
GET/POST /webhooks/whatsapp/webhook.

GET answers Meta's subscription check (`hub.challenge` for the right `hub.verify_token`, 403 otherwise).
Every POST must carry `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body with the app
secret>`: 403 and no send otherwise. The webhook answers 200 at once and the messages are answered in the
background; status notifications (sent, delivered, read) are only acknowledged. A message id is answered
once (Meta re-sends a notification it got no quick 200 for).

An answer goes out as up to three messages (POST {WHATSAPP_API_URL}/{phone number id}/messages):
1. the plain-text answer as a `text` message (at most 4096 characters; longer answers are shortened
   keeping each part's grade and sources lines whole): an interactive message's body holds only 1024
   characters, too few for many answers, so the answer is never put in one;
2. for answers users may rate, an `interactive` `button` message asking whether it helped, with the two
   reply buttons `fb:helpful` / `fb:not_helpful` (WhatsApp allows only three buttons per message, too few
   for the ratings and the suggestions together);
3. when there are suggestions, an `interactive` `button` message whose body lists them numbered, whole,
   with a reply button for each of the first three (titles "1. …" clipped to 20 characters; the button id
   is the question). Replying with a number asks that suggestion too.
Conversation ids are `whatsapp:<wa_id>`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import json
import logging
from typing import Any, Awaitable, Callable, Dict, List, Mapping, Optional, Sequence, Text, Tuple

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
    JsonApi,
    PlatformError,
    answer_text,
    clip,
    hmac_sha256,
    is_rated,
    rating_buttons,
    store_rating,
)
from bot.channels.plain import PlainRenderer, RecentMap, Suggestion, clean_user_text, pick_suggestion, utf16_units
from bot.channels.rest import answer_or_apologise
from bot.conversations import conversation_id, platform_sender
from bot.texts import default_texts

logger = logging.getLogger(__name__)

DEFAULT_API_URL = "https://graph.facebook.com/v21.0"
SIGNATURE_HEADER = "X-Hub-Signature-256"
TEXT_LIMIT = 4096  # WhatsApp's limit for a text message body (counted here in UTF-16 units, the stricter count)
BODY_LIMIT = 1024  # WhatsApp's limit for an interactive message's body
BUTTONS = 3  # WhatsApp's limit for the reply buttons of one message
TITLE_LIMIT = 20  # WhatsApp's limit for a reply button's title
ID_LIMIT = 256  # WhatsApp's limit for a reply button's id
BUTTON_INDEX = "#"  # button id "#2": the second suggestion, when the question cannot be the id
# Messages that say nothing to answer: a reaction to a message, a number change, a deleted message.
_SILENT = frozenset({"reaction", "system", "ephemeral", "revoke"})
_SETTINGS = ("WHATSAPP_TOKEN", "WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN", "WHATSAPP_PHONE_NUMBER_ID")


@dataclasses.dataclass(frozen=True)
class WhatsAppSettings:
    """Access token, app secret, verify token, the answering phone number's id and the Graph API URL."""

    token: str
    app_secret: str
    verify_token: str
    phone_number_id: str
    api_url: str = DEFAULT_API_URL

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "WhatsAppSettings":
        """Read the WHATSAPP_* settings; raise a clear error when one is missing or wrong."""
        missing = [name for name in _SETTINGS if not env.get(name, "").strip()]
        if missing:
            raise RasaException(
                f"WhatsApp channel: {', '.join(missing)} not set, but the channel needs all of {', '.join(_SETTINGS)} "
                "(Meta App Dashboard: WhatsApp → API Setup, App settings → Basic → App secret, and the verify "
                "token you choose for the webhook; see README). Set them all, or unset WHATSAPP_TOKEN to leave it off."
            )
        settings = cls(
            token=env["WHATSAPP_TOKEN"].strip(),
            app_secret=env["WHATSAPP_APP_SECRET"].strip(),
            verify_token=env["WHATSAPP_VERIFY_TOKEN"].strip(),
            phone_number_id=env["WHATSAPP_PHONE_NUMBER_ID"].strip(),
            api_url=(env.get("WHATSAPP_API_URL", "").strip() or DEFAULT_API_URL).rstrip("/"),
        )
        if not settings.phone_number_id.isdigit():
            raise RasaException(
                "WhatsApp channel: WHATSAPP_PHONE_NUMBER_ID must be the phone number ID (digits) "
                "shown under WhatsApp → API Setup, not the phone number itself."
            )
        if not settings.api_url.startswith(("http://", "https://")):
            raise RasaException(f"WhatsApp channel: WHATSAPP_API_URL {settings.api_url!r} is not an http(s) URL.")
        return settings


def signature_valid(app_secret: str, body: bytes, header: str) -> bool:
    """True when `header` is "sha256=" and the hex HMAC-SHA256 of the raw body with the app secret."""
    expected = "sha256=" + hmac_sha256(app_secret, body).hex()
    return bool(header) and hmac.compare_digest(expected.encode(), header.strip().lower().encode())


def button_message(to: str, body: str, buttons: Sequence[Tuple[str, str]]) -> Dict[str, Any]:
    """An interactive reply-buttons message: `body` and buttons given as (title, id)."""
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "interactive",
        "interactive": {
            "type": "button",
            "body": {"text": body},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": data, "title": clip(title, TITLE_LIMIT)}}
                    for title, data in buttons
                ]
            },
        },
    }


def suggestion_buttons(suggestions: Sequence[Suggestion]) -> List[Tuple[str, str]]:
    """(title, id) of the reply buttons of the first three suggestions: "1. <title>" (clipped by
    button_message), the question as the id when WhatsApp allows it, else its position ("#1")."""
    buttons: List[Tuple[str, str]] = []
    for number, suggestion in enumerate(suggestions[:BUTTONS], 1):
        data = suggestion["payload"]
        if (
            len(data) > ID_LIMIT
            or data != data.strip()
            or not data
            or data in (d for _, d in buttons)
            or data.startswith(BUTTON_INDEX)
            or data.startswith(FEEDBACK_DATA)
        ):
            data = f"{BUTTON_INDEX}{number}"  # ids must be unique, at most 256 characters, unpadded
        buttons.append((f"{number}. {suggestion['title']}", data))
    return buttons


class WhatsAppOutput(OutputChannel):
    """Sends the bot's messages to a WhatsApp user: the answer as text, then the rating and suggestion buttons."""

    @classmethod
    def name(cls) -> Text:
        """Channel name."""
        return "whatsapp"

    def __init__(self, settings: WhatsAppSettings, renderer: PlainRenderer, api: JsonApi) -> None:
        """An output sending from the configured phone number."""
        self.renderer, self.api = renderer, api
        self.path = f"/{settings.phone_number_id}/messages"
        self.suggestions: RecentMap[tuple] = RecentMap(size=100_000, ttl=7 * 24 * 3600.0)
        self.last_rated: RecentMap[Answered] = RecentMap(size=100_000, ttl=7 * 24 * 3600.0)
        self.prompts: RecentMap[Answered] = RecentMap(size=100_000, ttl=7 * 24 * 3600.0)  # by the prompt's id

    async def send(self, message: Dict[str, Any]) -> str:
        """One POST to the messages endpoint; the id WhatsApp gave the message ("" when none)."""
        answer = await self.api.post(self.path, message)
        sent = answer.get("messages") or [{}]
        return str(sent[0].get("id") or "") if isinstance(sent[0], dict) else ""

    async def send_plain(self, to: str, text: str) -> str:
        """A text message (no link previews)."""
        return await self.send(
            {
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": to,
                "type": "text",
                "text": {"body": text, "preview_url": False},
            }
        )

    async def send_response(self, recipient_id: Text, message: Dict[Text, Any]) -> None:
        """The fitted answer text, then the feedback question and the suggestions as reply buttons."""
        to = platform_sender(recipient_id)  # the wa_id of conversation `whatsapp:<wa_id>`
        reply = self.renderer.render([message], TEXT_LIMIT, utf16_units, numbered=False)
        if not reply.text:
            return  # a payload without text is for software, not for the user
        await self.send_plain(to, reply.text)
        if is_rated([message]):
            answered = Answered(answer_text([message]) or reply.text, reply.lang, reply.suggestions)
            self.last_rated.put(to, answered)
            question = self.renderer.texts.get("channels.feedback_prompt", reply.lang)
            prompt = await self.send(button_message(to, question, rating_buttons(self.renderer.texts, reply.lang)))
            if prompt:
                self.prompts.put(prompt, answered)
        shown = self._fit(list(reply.suggestions), reply.lang)
        self.suggestions.put(to, tuple(shown))
        if shown:
            body = self.renderer.suggestion_list(shown, reply.lang)
            await self.send(button_message(to, body, suggestion_buttons(shown)))

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        """A bare text, fitted to WhatsApp's limit."""
        await self.send_response(recipient_id, {"text": text})

    def _fit(self, suggestions: List[Suggestion], lang: str) -> List[Suggestion]:
        """The suggestions whose numbered list fits an interactive body (dropped from the last)."""
        while suggestions and utf16_units(self.renderer.suggestion_list(suggestions, lang)) > BODY_LIMIT:
            suggestions = suggestions[:-1]
        return suggestions


class WhatsAppInput(EnvChannel):
    """Webhook for WhatsApp Cloud API notifications: text messages and button replies go to the bot."""

    channel_name = "whatsapp"
    required_setting = "WHATSAPP_TOKEN"
    settings_class = WhatsAppSettings

    def __init__(self, settings: WhatsAppSettings) -> None:
        """A channel for one WhatsApp business phone number."""
        self.settings = settings
        self.renderer = PlainRenderer(default_texts())
        self.api = JsonApi("WhatsApp", settings.api_url, settings.token)
        self.seen: RecentMap[bool] = RecentMap(size=4096, ttl=24 * 3600.0)
        self.background = Background("WhatsApp")
        self._output = WhatsAppOutput(settings, self.renderer, self.api)
        self.agent: Any = None  # the Rasa agent, from the first request (feedback is stored with it)
        logger.info("WhatsApp channel on (Cloud API at %s).", settings.api_url)

    def get_output_channel(self) -> WhatsAppOutput:
        """The one output of this channel."""
        return self._output

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """GET /webhook answers Meta's subscription check; POST /webhook receives signed notifications."""
        webhook = Blueprint("whatsapp_webhook", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["GET"])
        async def verify(request: Request) -> HTTPResponse:
            given = request.args.get("hub.verify_token") or ""
            challenge = request.args.get("hub.challenge")
            if (
                request.args.get("hub.mode") != "subscribe"
                or challenge is None
                or not hmac.compare_digest(given.encode(), self.settings.verify_token.encode())
            ):
                logger.warning(
                    "WhatsApp: refused a subscription check with a wrong hub.mode or hub.verify_token "
                    "(it must equal WHATSAPP_VERIFY_TOKEN)."
                )
                return response.text("forbidden", status=403)
            return response.text(challenge)

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            body = request.body or b""
            if not signature_valid(self.settings.app_secret, body, request.headers.get(SIGNATURE_HEADER) or ""):
                logger.warning(
                    "WhatsApp: refused a notification with a missing or wrong %s (check "
                    "WHATSAPP_APP_SECRET if this is Meta).",
                    SIGNATURE_HEADER,
                )
                return response.text("forbidden", status=403)
            try:
                document = json.loads(body)
            except ValueError:
                return response.text("bad request", status=400)
            if not isinstance(document, dict):
                return response.text("bad request", status=400)
            self.agent = getattr(request.app.ctx, "agent", None)
            for message in self._messages(document):
                self.background.spawn(self._handle(message, on_new_message))
            return response.text("OK")

        @webhook.listener("after_server_stop")
        async def close(*_: Any) -> None:
            await self.background.finish()
            await self.api.close()

        return webhook

    def _messages(self, document: Dict[str, Any]) -> List[Dict[str, Any]]:
        """The new user messages to this phone number in a notification (statuses and repeats left out)."""
        found = []
        for entry in document.get("entry") or ():
            for change in (entry.get("changes") or ()) if isinstance(entry, dict) else ():
                value = change.get("value") if isinstance(change, dict) else None
                if not isinstance(value, dict) or change.get("field") != "messages":
                    continue
                number = str((value.get("metadata") or {}).get("phone_number_id") or "")
                if number != self.settings.phone_number_id:
                    if value.get("messages"):
                        logger.warning(
                            "WhatsApp: ignored messages to phone number id %s; this bot answers for "
                            "WHATSAPP_PHONE_NUMBER_ID %s.",
                            number,
                            self.settings.phone_number_id,
                        )
                    continue
                for message in value.get("messages") or ():
                    if isinstance(message, dict) and self._first_delivery(message):
                        found.append(message)
        return found

    def _first_delivery(self, message: Dict[str, Any]) -> bool:
        """False when this message id was received before."""
        key = str(message.get("id") or "")
        if not key:
            return True
        if self.seen.get(key):
            return False
        self.seen.put(key, True)
        return True

    # -- messages -------------------------------------------------------------------------------

    async def _handle(self, message: Dict[str, Any], on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> None:
        """Answer one message; a refusal of the Cloud API or a network error is logged."""
        user = message.get("from")
        problem = sender_problem(user)
        if problem:
            logger.warning("WhatsApp: ignored a message whose sender id %s.", problem)
            return
        try:
            await self._answer(str(user), message, on_new_message)
        except PlatformError as error:
            logger.error(
                "WhatsApp: a message to %s was refused: %s. 401 means WHATSAPP_TOKEN is wrong or expired; "
                "a re-engagement error means the user wrote more than 24 hours ago.",
                log_id(user),
                error,
            )
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as error:
            logger.error(
                "WhatsApp: could not reach the Cloud API at %s: %s: %s",
                self.settings.api_url,
                type(error).__name__,
                error,
            )

    async def _answer(
        self, user: str, message: Dict[str, Any], on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> None:
        """A text, a button reply (a rating or a suggestion), a first contact, or another kind of message."""
        output, kind = self._output, str(message.get("type") or "")
        remembered = output.suggestions.get(user) or ()
        if kind == "text":
            words = str((message.get("text") or {}).get("body") or "")
            text = pick_suggestion(words, remembered) or clean_user_text(words)
        elif kind == "interactive":
            interactive = message.get("interactive") or {}
            chosen = interactive.get("button_reply") or interactive.get("list_reply") or {}
            data = str(chosen.get("id") or "")
            if data.startswith(FEEDBACK_DATA):
                await self._rate(user, data, str((message.get("context") or {}).get("id") or ""))
                return
            text = self._pressed(data, remembered, str(chosen.get("title") or ""))
        elif kind == "button":  # a quick-reply button of a template message
            button = message.get("button") or {}
            text = clean_user_text(str(button.get("text") or button.get("payload") or ""))
        elif kind == "request_welcome":  # the user opened the chat for the first time
            await output.send_plain(user, self.renderer.bilingual("welcome"))
            return
        elif kind in _SILENT:
            return
        else:
            await output.send_plain(user, self.renderer.bilingual("text_only"))
            return
        if text:
            turn = UserMessage(
                text,
                output,
                conversation_id(self.name(), user),
                input_channel=self.name(),
                message_id=f"whatsapp-{message.get('id')}" if message.get("id") else None,
            )
            await answer_or_apologise(on_new_message, turn, "WhatsApp")  # an apology rather than silence

    @staticmethod
    def _pressed(data: str, remembered: Sequence[Suggestion], title: str) -> str:
        """The question a suggestion button asks: its id, or the suggestion its position names."""
        if not data.startswith(BUTTON_INDEX):
            return clean_user_text(data)
        number = data[len(BUTTON_INDEX) :]
        index = int(number) - 1 if number.isascii() and number.isdigit() and len(number) <= 3 else -1
        if 0 <= index < len(remembered):
            return remembered[index]["payload"]
        return clean_user_text(title.split(". ", 1)[-1].rstrip("…"))  # not remembered: the button's title

    async def _rate(self, user: str, data: str, prompt_id: str) -> None:
        """A feedback button: the rating of the answer its message asked about, stored; thanks sent."""
        # The answer the pressed question was sent under; else (not remembered) the user's last rated answer.
        answered = (self._output.prompts.get(prompt_id) if prompt_id else None) or self._output.last_rated.get(user)
        if answered is None:
            problem: Optional[str] = "no answer of this user is remembered (the bot restarted, or a week passed)"
        else:
            problem = await store_rating(self.agent, self.name(), user, data, answered.text)
        if problem or answered is None:
            logger.warning("WhatsApp: a feedback button press from %s was not stored: %s.", log_id(user), problem)
            return
        await self._output.send_plain(user, self.renderer.texts.get("channels.feedback_thanks", answered.lang))


__all__: List[str] = [
    "WhatsAppInput",
    "WhatsAppOutput",
    "WhatsAppSettings",
    "button_message",
    "signature_valid",
    "suggestion_buttons",
]
