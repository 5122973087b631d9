"""Telegram channel: Rasa's Telegram output on a configurable Bot API server, with a checked webhook.

Settings come from the environment: TELEGRAM_TOKEN (required), TELEGRAM_WEBHOOK_SECRET (the
`secret_token` given to setWebhook; updates without it are refused) and TELEGRAM_API_URL (default
https://api.telegram.org; a self-hosted Bot API server or a test fake). Route: POST
/webhooks/telegram/webhook. Each answer goes out as one sendMessage with the visible text (never the
contract payload as JSON) and the suggestions as inline keyboard buttons, one per row. A photo (or a
picture sent as a file) is fetched with getFile from the same Bot API server, read (bot.ocr) and answered
like the same text typed.
"""

from __future__ import annotations

import dataclasses
import hmac
import logging
from typing import Any, Awaitable, Callable, Dict, List, Mapping, Optional, Sequence, Text

from aiogram import Bot
from aiogram.bot.api import TelegramAPIServer, check_token
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.exceptions import TelegramAPIError, ValidationError
from rasa.core.channels.channel import UserMessage
from rasa.core.channels.telegram import TelegramOutput
from rasa.shared.exceptions import RasaException
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.door import EnvChannel, log_id
from bot.channels.images import DOWNLOAD_TIMEOUT, problem_text, read_picture
from bot.channels.messaging import FEEDBACK_DATA, is_rated, rating_buttons, store_rating
from bot.channels.plain import PlainRenderer, RecentMap, Suggestion, clean_user_text, utf16_units
from bot.channels.rest import answer_or_apologise
from bot.conversations import conversation_id, platform_sender
from bot.lang import detect_script, script_of_language_tag
from bot.ocr import ImageProblem, shared_reader
from bot.texts import default_texts

logger = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.telegram.org"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
TEXT_LIMIT = 4096  # Telegram's limit for a message text, in UTF-16 code units
CALLBACK_DATA_BYTES = 64  # Telegram's limit for an inline button's callback_data
BUTTON_INDEX = "#"  # callback_data "#2": the second suggestion of the message the button belongs to
# Feedback buttons (callback_data "fb:helpful", under the replies users may rate) work as on LINE and
# WhatsApp: bot.channels.messaging.


@dataclasses.dataclass(frozen=True)
class TelegramSettings:
    """Bot token, webhook secret and Bot API base URL."""

    token: str
    secret: str = ""
    api_url: str = DEFAULT_API_URL

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "TelegramSettings":
        """Read TELEGRAM_TOKEN, TELEGRAM_WEBHOOK_SECRET and TELEGRAM_API_URL; raise a clear error when wrong."""
        settings = cls(
            token=env.get("TELEGRAM_TOKEN", "").strip(),
            secret=env.get("TELEGRAM_WEBHOOK_SECRET", "").strip(),
            api_url=(env.get("TELEGRAM_API_URL", "").strip() or DEFAULT_API_URL).rstrip("/"),
        )
        try:
            check_token(settings.token)
        except ValidationError:
            raise RasaException(
                "Telegram channel: TELEGRAM_TOKEN is not a bot token (digits, a colon, then "
                "letters). Copy it from @BotFather (see README, Messaging apps)."
            ) from None
        if not settings.api_url.startswith(("http://", "https://")):
            raise RasaException(f"Telegram channel: TELEGRAM_API_URL {settings.api_url!r} is not an http(s) URL.")
        return settings


class ContractTelegramOutput(TelegramOutput):
    """Rasa's Telegram output, talking to the configured Bot API server, sending text and buttons only."""

    @classmethod
    def name(cls) -> Text:
        """Channel name."""
        return "telegram"

    def __init__(self, settings: TelegramSettings, renderer: PlainRenderer, memory: RecentMap) -> None:
        """An aiogram bot on `settings.api_url` (validated token)."""
        Bot.__init__(self, settings.token, server=TelegramAPIServer.from_base(settings.api_url))
        self.renderer = renderer
        self.memory = memory

    async def send_response(self, recipient_id: Text, message: Dict[Text, Any]) -> None:
        """One sendMessage: the visible text (fitted to 4096) with the suggestions as buttons."""
        recipient_id = platform_sender(recipient_id)  # the chat id of conversation `telegram:<chat id>`
        reply = self.renderer.render([message], TEXT_LIMIT, utf16_units, numbered=False)
        if not reply.text:
            if message.get("image"):
                await self.send_image_url(recipient_id, message["image"])
            return  # a payload without text is for software, not for the user
        ratings = rating_buttons(self.renderer.texts, reply.lang) if is_rated([message]) else []
        markup = keyboard(reply.suggestions, ratings) if reply.suggestions or ratings else None
        self.memory.put(str(recipient_id), reply.suggestions)
        await self.send_message(recipient_id, reply.text, reply_markup=markup)

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        """A bare text, whole (Rasa's version splits it at blank lines)."""
        await self.send_message(platform_sender(recipient_id), text)


def keyboard(suggestions: tuple[Suggestion, ...], ratings: Sequence[tuple[str, str]] = ()) -> InlineKeyboardMarkup:
    """Inline buttons: the rating buttons (label, callback data) side by side in the first row, then one
    suggestion per row, whose question is the callback data when it fits 64 bytes."""
    markup = InlineKeyboardMarkup()
    if ratings:
        markup.row(*(InlineKeyboardButton(label, callback_data=data) for label, data in ratings))
    for index, suggestion in enumerate(suggestions, 1):
        data = suggestion["payload"]
        too_long = len(data.encode("utf-8")) > CALLBACK_DATA_BYTES
        if too_long or data.startswith(BUTTON_INDEX) or data.startswith(FEEDBACK_DATA):
            data = f"{BUTTON_INDEX}{index}"
        markup.row(InlineKeyboardButton(suggestion["title"], callback_data=data))
    return markup


def pressed(data: str, remembered: tuple[Suggestion, ...], message: Dict[str, Any]) -> str:
    """The question a button press asks: its callback data, or the suggestion its index names."""
    if not data.startswith(BUTTON_INDEX):
        return data
    number = data[len(BUTTON_INDEX) :]
    # ASCII digits only ("²" is a digit to str.isdigit() but not to int()), and a sane length.
    index = int(number) - 1 if number.isascii() and number.isdigit() and len(number) <= 3 else -1
    if 0 <= index < len(remembered):
        return remembered[index]["payload"]
    # Not remembered (e.g. after a restart): the button's own title, from the message it belongs to.
    rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    for row in rows:
        for button in row:
            if isinstance(button, dict) and button.get("callback_data") == data:
                return str(button.get("text") or "")
    return ""


class TelegramInput(EnvChannel):
    """Webhook for Telegram updates: text messages and button presses go to the bot."""

    channel_name = "telegram"
    required_setting = "TELEGRAM_TOKEN"
    settings_class = TelegramSettings

    def __init__(self, settings: TelegramSettings) -> None:
        """A channel for one bot."""
        self.settings = settings
        self.renderer = PlainRenderer(default_texts())
        self.memory: RecentMap[tuple] = RecentMap(size=100_000, ttl=7 * 24 * 3600.0)
        self.seen: RecentMap[bool] = RecentMap(size=4096, ttl=24 * 3600.0)
        self._output: Optional[ContractTelegramOutput] = None
        self.agent: Any = None  # the Rasa agent, from the first request (feedback is stored with it)
        if not settings.secret:
            logger.error(
                "Telegram channel: TELEGRAM_WEBHOOK_SECRET is not set, so every update is refused. "
                "Set it and pass the same value as secret_token to setWebhook."
            )
        logger.info("Telegram channel on (Bot API at %s).", settings.api_url)

    def get_output_channel(self) -> ContractTelegramOutput:
        """The one output of this channel (created on first use)."""
        if self._output is None:
            self._output = ContractTelegramOutput(self.settings, self.renderer, self.memory)
        return self._output

    def _authorised(self, request: Request) -> bool:
        """True when the secret-token header matches the configured secret."""
        given = request.headers.get(SECRET_HEADER) or ""
        return bool(self.settings.secret) and hmac.compare_digest(given.encode(), self.settings.secret.encode())

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """POST /webhook receives updates; a missing or wrong secret-token header gets 403."""
        webhook = Blueprint("contract_telegram_webhook", __name__)
        output = self.get_output_channel()

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if not self._authorised(request):
                logger.warning("Telegram: refused an update with a missing or wrong %s header.", SECRET_HEADER)
                return response.text("forbidden", status=403)
            try:
                update = request.json
            except Exception:
                update = None
            if not isinstance(update, dict):
                return response.text("bad request", status=400)
            update_id = str(update.get("update_id"))
            if self.seen.get(update_id):
                return response.text("success")  # Telegram re-sent an update already answered
            self.seen.put(update_id, True)
            try:
                self.agent = getattr(request.app.ctx, "agent", None)
                await self._handle(update, output, on_new_message)
            except (TelegramAPIError, OSError) as error:
                logger.error("Telegram: could not reach the Bot API at %s: %s", self.settings.api_url, error)
            return response.text("success")

        @webhook.listener("after_server_stop")
        async def close(*_: Any) -> None:
            await output.session.close()  # the HTTP session only (Bot.close is deprecated in aiogram 2)

        return webhook

    async def _handle(
        self,
        update: Dict[str, Any],
        output: ContractTelegramOutput,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
    ) -> None:
        """Answer one update: a button press, a (possibly edited) text message, or anything else."""
        query = update.get("callback_query")
        if isinstance(query, dict) and str(query.get("data") or "").startswith(FEEDBACK_DATA):
            await self._rate(query, output)
            return
        if isinstance(query, dict):
            message = query.get("message") or {}
            chat = (message.get("chat") or {}).get("id")
            text = pressed(str(query.get("data") or ""), self.memory.get(str(chat)) or (), message)
            if query.get("id"):
                await output.answer_callback_query(query["id"])  # stops the button's spinner
        else:
            message = update.get("message") or update.get("edited_message")
            if not isinstance(message, dict):
                return  # channel posts, membership changes and the like
            chat = (message.get("chat") or {}).get("id")
            raw = message.get("text")
            if chat is None:
                return
            if not isinstance(raw, str):
                file_id = picture_file(message)
                if file_id is None:
                    await output.send_message(chat, self.renderer.bilingual("text_only"))
                    return
                await self._ask_picture(str(chat), file_id, update, output, on_new_message)
                return
            if raw.strip().split("@", 1)[0] == "/start":
                await output.send_message(chat, self.renderer.bilingual("welcome"))
                return
            text = clean_user_text(raw)
        if chat is None or not text:
            return
        hint = script_of_language_tag(_language_code((query if isinstance(query, dict) else message).get("from")))
        await self._ask(str(chat), text, update.get("update_id"), output, on_new_message, hint)

    async def _rate(self, query: Dict[str, Any], output: ContractTelegramOutput) -> None:
        """A feedback button: the rating of the message it belongs to, stored in its conversation."""
        message = query.get("message") or {}
        chat = (message.get("chat") or {}).get("id")
        problem = (
            "the button's message names no chat"
            if chat is None
            else await store_rating(self.agent, self.name(), str(chat), str(query.get("data")), message.get("text"))
        )
        if problem:
            logger.warning("Telegram: a feedback button press was not stored: %s.", problem)
        if query.get("id"):
            lang = detect_script(str(message.get("text") or "")) or self.renderer.texts.default_lang
            thanks = None if problem else self.renderer.texts.get("channels.feedback_thanks", lang)
            await output.answer_callback_query(query["id"], text=thanks)

    async def _ask_picture(
        self,
        chat: str,
        file_id: str,
        update: Dict[str, Any],
        output: ContractTelegramOutput,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
    ) -> None:
        """A photo (or a picture sent as a file): fetched with getFile from the configured Bot API server,
        read, and answered like the same text typed; a note in the user's language when it cannot be read."""
        language = _language_code((update.get("message") or update.get("edited_message") or {}).get("from"))
        hint = script_of_language_tag(language)
        lang = hint or ("en" if isinstance(language, str) and language.lower().startswith("en") else None)
        reader = shared_reader()
        try:
            found = await output.get_file(file_id)
            if (found.file_size or 0) > reader.max_bytes:
                raise ImageProblem("too_large", f"{found.file_size} bytes, limit {reader.max_bytes}")
            data = (await output.download_file(found.file_path, timeout=DOWNLOAD_TIMEOUT)).getvalue()
        except ImageProblem as problem:
            await output.send_message(chat, problem_text(problem.kind, lang, self.renderer.texts))
            return
        except Exception as error:  # the Bot API refused or failed, the download broke or timed out
            logger.warning("Telegram: a picture of chat %s could not be fetched: %r", log_id(chat), error)
            await output.send_message(chat, problem_text("failed", lang, self.renderer.texts))
            return
        read = await read_picture(data, reader)
        if read.text is None:
            await output.send_message(chat, problem_text(read.problem or "failed", lang, self.renderer.texts))
            return
        await self._ask(chat, read.text, update.get("update_id"), output, on_new_message, hint, read.metadata)

    async def _ask(
        self,
        chat: str,
        text: str,
        update_id: Any,
        output: ContractTelegramOutput,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        script_hint: Optional[str] = None,
        metadata: Optional[Dict[str, Any]] = None,
    ) -> None:
        """Pass the text to the bot (with the script the user's Telegram is set to, for Chinese that reads
        the same in both scripts); the output sends the answer."""
        extra = {**(metadata or {}), **({"ui_lang": script_hint} if script_hint else {})}
        message = UserMessage(
            text,
            output,
            conversation_id(self.name(), chat),
            input_channel=self.name(),
            message_id=f"telegram-{update_id}" if update_id is not None else None,
            metadata=extra or None,
        )
        await answer_or_apologise(on_new_message, message, "Telegram")  # an apology rather than silence


def _language_code(sender: Any) -> Optional[str]:
    """The language its Telegram is set to, of an update's `from` user (None when not given)."""
    code = sender.get("language_code") if isinstance(sender, dict) else None
    return code if isinstance(code, str) else None


def picture_file(message: Mapping[str, Any]) -> Optional[str]:
    """The file id of a message's picture: the largest size of a photo, or a document sent as an image file."""
    sizes = [p for p in message.get("photo") or () if isinstance(p, dict) and isinstance(p.get("file_id"), str)]
    if sizes:
        return str(max(sizes, key=lambda p: int(p.get("width") or 0) * int(p.get("height") or 0))["file_id"])
    document = message.get("document")
    if isinstance(document, dict) and str(document.get("mime_type") or "").startswith("image/"):
        file_id = document.get("file_id")
        return file_id if isinstance(file_id, str) else None
    return None


__all__: List[str] = ["TelegramInput", "ContractTelegramOutput", "TelegramSettings", "keyboard", "pressed"]
