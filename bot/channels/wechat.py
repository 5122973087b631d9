"""WeChat Official Account (微信公众号) channel: signed XML in, passive XML replies out.

Settings come from the environment: WECHAT_TOKEN (required), WECHAT_APP_ID and WECHAT_AES_KEY (safe
mode). Routes: GET/POST /webhooks/wechat/webhook. Signatures and the AES frame are checked with
wechatpy; XML from the network is parsed with entity declarations and DTDs refused.

Pictures: an image message's `PicUrl` is fetched (only from WECHAT_MEDIA_HOSTS), read (bot.ocr) and answered
like the same text typed; voice with WeChat's `Recognition` is answered as that text.

Retries: WeChat re-sends a message it got no answer to within 5 s (same MsgId, up to three times).
Each MsgId is answered by the bot once; every delivery of it waits for that one answer and gets the
same reply (cached for ten minutes).

Slow answers: with WECHAT_APP_SECRET set (and WECHAT_APP_ID), a message whose answer is not ready within
WECHAT_REPLY_BUDGET seconds (4.0) is acknowledged with "success" and the answer is sent through the
customer-service message API when it is ready (bot/channels/wechat_api.py), so it is never lost. Without
the secret, deliveries before the third hold on until the answer is ready, so that WeChat's next retry can
pick it up; the third gives up after the budget with "success" rather than let WeChat tell the user the
account is unavailable, and an answer slower than WeChat's three tries (about 15 s) is lost.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import logging
import time
from typing import Any, Awaitable, Callable, Dict, List, Mapping, Optional, Text

from rasa.core.channels.channel import OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.replies import TextReply

from bot.channels.plain import PlainRenderer, RecentMap, Suggestion, clean_user_text, pick_suggestion, utf8_bytes
from bot.channels.door import EnvChannel, log_id, sender_problem
from bot.channels.images import (
    PictureRead,
    fetch_picture,
    known_lang,
    problem_text,
    read_picture,
)
from bot.channels.rest import answer_or_apologise
from bot.channels.wechat_api import CustomerService, WeChatAPIError
from bot.channels.wechat_protocol import (
    TIMESTAMP_WINDOW,
    UnsafeXML,
    WeChatSettings,
    parse_xml,
    wechat_signature,
)
from bot.conversations import conversation_id
from bot.ocr import ImageProblem, shared_reader
from bot.texts import default_texts

logger = logging.getLogger(__name__)

TEXT_LIMIT_BYTES = 2048  # WeChat's limit for the Content of a text reply
HOLD = 16.0  # seconds an early delivery waits, so the answer reaches one of WeChat's retries
DELIVERIES = 3  # WeChat sends a message at most this many times
MAX_BODY_BYTES = 64 * 1024
XML = "application/xml; charset=utf-8"


class WeChatOutput(OutputChannel):
    """Collects the bot's messages of one turn, whole (text and payload together)."""

    def __init__(self) -> None:
        """An empty collector."""
        self.messages: List[Dict[Text, Any]] = []

    @classmethod
    def name(cls) -> Text:
        """Channel name."""
        return "wechat"

    async def send_response(self, recipient_id: Text, message: Dict[Text, Any]) -> None:
        """Keep the message as Rasa built it; rendering happens once the turn is over."""
        self.messages.append(dict(message))

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        """Keep a bare text."""
        self.messages.append({"text": text})


@dataclasses.dataclass(frozen=True)
class _Answer:
    """One message's answer: the text, and who gets it from which account."""

    text: str
    user: str
    account: str

    def xml(self) -> str:
        """The passive reply."""
        return TextReply(source=self.account, target=self.user, content=self.text.replace("]]>", "]] >")).render()


@dataclasses.dataclass
class _Delivery:
    task: "asyncio.Future[Optional[_Answer]]"
    attempts: int = 0
    late: bool = False  # acknowledged with "success"; the answer goes through the customer-service API


class WeChatInput(EnvChannel):
    """Official Account server endpoint (服务器配置): URL verification and passive replies."""

    channel_name = "wechat"
    required_setting = "WECHAT_TOKEN"
    settings_class = WeChatSettings

    def __init__(self, settings: WeChatSettings, hold: float = HOLD) -> None:
        """A channel for one Official Account."""
        self.settings = settings
        self.reply_budget, self.hold = settings.reply_budget, hold
        self.media_hosts = settings.media_hosts
        self.agent: Any = None  # the Rasa agent, from the first request (a picture's note uses its store)
        self.service = (
            CustomerService(settings.app_id, settings.app_secret, settings.api_url) if settings.app_secret else None
        )
        self.crypto = WeChatCrypto(settings.token, settings.aes_key, settings.app_id) if settings.aes_key else None
        self.renderer = PlainRenderer(default_texts())
        self.deliveries: RecentMap[_Delivery] = RecentMap(size=4096, ttl=600.0)
        self.suggestions: RecentMap[tuple] = RecentMap(size=100_000, ttl=7 * 24 * 3600.0)
        # (timestamp, nonce) -> digest of the body it signed: WeChat's retries repeat both, a replay of a
        # captured URL with another body does not.
        self.nonces: RecentMap[str] = RecentMap(size=200_000, ttl=2.0 * TIMESTAMP_WINDOW)
        logger.info(
            "WeChat channel on (%s mode; slow answers %s).",
            "plaintext and safe" if self.crypto else "plaintext",
            "sent by the customer-service API"
            if self.service
            else "lost after WeChat's third try: set WECHAT_APP_SECRET to send them later",
        )

    def get_output_channel(self) -> Optional[OutputChannel]:
        """Messages can only be sent as replies, so outside a request they are collected and dropped."""
        return WeChatOutput()

    # -- HTTP ---------------------------------------------------------------------------------

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """GET verifies the URL, POST receives messages; both only with a valid signature."""
        webhook = Blueprint("wechat_webhook", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["GET"])
        async def verify(request: Request) -> HTTPResponse:
            echostr = request.args.get("echostr")
            if not self._signed(request.args) or echostr is None:
                return _forbidden("a URL verification", "a missing or wrong signature")
            return response.text(echostr)

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if not self._signed(request.args):
                return _forbidden("a message", "a missing or wrong signature")
            if len(request.body or b"") > MAX_BODY_BYTES:
                return response.text("message too large", status=413)
            if not self._first_use(request.args, request.body or b""):
                return _forbidden("a message", "a signed URL already used for another body (a replay)")
            encrypted = request.args.get("encrypt_type", "raw").lower() == "aes"
            try:
                fields = self._open(request, encrypted)
            except InvalidSignatureException:
                return _forbidden("a safe-mode message", "a missing or wrong msg_signature")
            except InvalidAppIdException:
                return _forbidden("a safe-mode message", "another AppID in its encrypted frame")
            except UnsafeXML as error:
                logger.warning("WeChat: refused a message body: %s.", error)
                return response.text("bad request", status=400)
            except _NoCrypto:
                logger.error(
                    "WeChat: got a safe-mode (AES) message but WECHAT_AES_KEY is not set; set it to "
                    "the account's EncodingAESKey, with WECHAT_APP_ID."
                )
                return response.text("safe mode is not configured", status=400)
            problem = sender_problem(fields.get("FromUserName"))
            if problem:  # the channel's door (bot/channels/door.py): the id becomes a tracker store key
                logger.warning("WeChat: refused a message whose FromUserName %s.", problem)
                return response.text("bad request", status=400)
            self.agent = getattr(request.app.ctx, "agent", None)
            key = f"{fields.get('FromUserName')}:{fields.get('MsgId') or fields.get('CreateTime')}"
            answer = await self._deliver(str(key), lambda: self._respond(fields, on_new_message))
            if answer is None:
                return response.text("success")
            reply = answer.xml()
            if encrypted:
                assert self.crypto is not None  # _open() raised _NoCrypto for a safe-mode message without it
                reply = self.crypto.encrypt_message(reply, request.args.get("nonce"))
            return response.text(reply, content_type=XML)

        return webhook

    def _signed(self, args: Mapping[str, Any]) -> bool:
        """True when `signature` matches token, timestamp and nonce, and the timestamp is recent."""
        signature, timestamp, nonce = (args.get(k) for k in ("signature", "timestamp", "nonce"))
        if not (signature and timestamp and nonce):
            return False
        timestamp = str(timestamp)
        # ASCII digits only: "²" is a digit to str.isdigit() but not to int(); and at most 12 of them.
        if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
            return False
        if abs(time.time() - int(timestamp)) > TIMESTAMP_WINDOW:
            return False
        expected = wechat_signature(self.settings.token, timestamp, nonce)
        # As bytes: compare_digest refuses str with non-ASCII characters (TypeError, a 500 before).
        return hmac.compare_digest(expected.encode(), str(signature).encode("utf-8", "surrogatepass"))

    def _first_use(self, args: Mapping[str, Any], body: bytes) -> bool:
        """False when this timestamp and nonce already signed a different body (a replayed URL)."""
        key = f"{args.get('timestamp')}:{args.get('nonce')}"
        digest = hashlib.sha256(body).hexdigest()
        seen = self.nonces.get(key)
        if seen is None:
            self.nonces.put(key, digest)
            return True
        return hmac.compare_digest(seen, digest)

    def _open(self, request: Request, encrypted: bool) -> Dict[str, Any]:
        """The message fields, decrypted in safe mode (msg_signature and AppID checked by wechatpy)."""
        outer = parse_xml(request.body or b"")
        if not encrypted:
            return outer
        if self.crypto is None:
            raise _NoCrypto()
        if not isinstance(outer.get("Encrypt"), str):
            raise UnsafeXML("a safe-mode message without <Encrypt>")
        args = request.args
        if not args.get("msg_signature"):
            raise InvalidSignatureException()
        try:
            inner = self.crypto.decrypt_message(
                outer, args.get("msg_signature"), args.get("timestamp"), args.get("nonce")
            )
        except (InvalidSignatureException, InvalidAppIdException):
            raise
        except Exception as error:  # bad base64, bad padding, bad frame
            raise UnsafeXML(f"the encrypted frame could not be decrypted ({type(error).__name__})") from None
        return parse_xml(inner)

    async def _deliver(self, key: str, respond: Callable[[], Awaitable[Optional[_Answer]]]) -> Optional[_Answer]:
        """The answer for this message id: computed once, shared by every delivery of it; None when the
        request is to be acknowledged with "success" (no answer, or an answer sent later by the API)."""
        delivery = self.deliveries.get(key)
        if delivery is None:
            delivery = _Delivery(asyncio.ensure_future(respond()))
            self.deliveries.put(key, delivery)
        delivery.attempts += 1
        if delivery.late:
            return None  # a retry of a message whose answer goes through the customer-service API
        last_try = self.service is not None or delivery.attempts >= DELIVERIES
        wait = self.reply_budget if last_try else self.hold
        try:
            return await asyncio.wait_for(asyncio.shield(delivery.task), timeout=wait)
        except asyncio.TimeoutError:
            if self.service is not None:
                delivery.late = True
                asyncio.ensure_future(self._send_late(key, delivery))
                logger.info(
                    "WeChat: the answer to %s takes longer than %.1f s; it will be sent by the "
                    "customer-service API.",
                    log_id(key),
                    wait,
                )
            else:
                logger.warning(
                    "WeChat: no answer to %s within %.1f s (delivery %d).", log_id(key), wait, delivery.attempts
                )
            return None

    async def _send_late(self, key: str, delivery: _Delivery) -> None:
        """Send an answer that missed the passive-reply window through the customer-service API."""
        assert self.service is not None
        try:
            answer = await delivery.task
            if answer is not None:
                await self.service.send_text(answer.user, answer.text)
        except WeChatAPIError as error:
            logger.error("WeChat: the late answer to %s was not delivered: %s", log_id(key), error)
        except Exception:
            logger.exception("WeChat: the late answer to %s failed.", log_id(key))

    # -- conversation -------------------------------------------------------------------------

    async def _respond(
        self, fields: Dict[str, Any], on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Optional[_Answer]:
        """The answer to one message, or None for "no reply"."""
        user, account = fields.get("FromUserName"), fields.get("ToUserName")
        if not isinstance(user, str) or not user or not isinstance(account, str):
            return None
        kind = str(fields.get("MsgType") or "").lower()
        if kind == "event":
            if str(fields.get("Event") or "").lower() != "subscribe":
                return None  # unsubscribe, menu clicks, location reports: nothing to say
            text = self.renderer.bilingual("welcome")
        elif kind == "text" or (
            kind == "voice" and isinstance(fields.get("Recognition"), str) and fields["Recognition"].strip()
        ):
            words = fields.get("Content") if kind == "text" else fields.get("Recognition")
            text = await self._ask(user, words if isinstance(words, str) else "", fields.get("MsgId"), on_new_message)
        elif kind == "image" and isinstance(fields.get("PicUrl"), str):
            text = await self._ask_picture(user, fields["PicUrl"], fields.get("MsgId"), on_new_message)
        else:
            text = self.renderer.bilingual("text_only")
        if not text:
            return None
        return _Answer(text, user, account)

    async def _ask_picture(
        self, user: str, url: str, msg_id: Any, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> str:
        """A picture message: downloaded from `PicUrl` (only from WECHAT_MEDIA_HOSTS), read, and answered like
        the same text typed; a note in both languages when it cannot be read."""
        try:
            data = await fetch_picture(url, self.media_hosts, shared_reader().max_bytes)
            read = await read_picture(data)
            problem = read.problem
        except ImageProblem as error:
            logger.warning("WeChat: the picture of %s was not fetched: %s.", log_id(user), error)
            read, problem = PictureRead(), error.kind
        if read.text is None:
            # In the conversation's language so far; in both when it is new.
            lang = await known_lang(self.agent, conversation_id(self.name(), user))
            return problem_text(problem or "failed", lang, self.renderer.texts)
        return await self._ask(user, read.text, msg_id, on_new_message, read.metadata)

    async def _ask(
        self,
        user: str,
        words: str,
        msg_id: Any,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        metadata: Optional[Dict[str, Any]] = None,
    ) -> str:
        """Ask the bot (a lone number picks a suggestion of the last reply); the fitted plain text."""
        remembered = self.suggestions.get(user) or ()
        text = (None if metadata else pick_suggestion(words, remembered)) or clean_user_text(words)
        output = WeChatOutput()
        message = UserMessage(
            text,
            output,
            conversation_id(self.name(), user),
            input_channel=self.name(),
            message_id=f"wechat-{msg_id}" if msg_id else None,
            metadata=metadata,
        )
        await answer_or_apologise(on_new_message, message, "WeChat")  # an apology rather than silence
        reply = self.renderer.render(output.messages, TEXT_LIMIT_BYTES, utf8_bytes, numbered=True)
        shown: tuple[Suggestion, ...] = reply.suggestions
        self.suggestions.put(user, shown)
        return reply.text


class _NoCrypto(Exception):
    """A safe-mode message arrived but no EncodingAESKey is configured."""


def _forbidden(what: str, why: str) -> HTTPResponse:
    logger.warning("WeChat: refused %s with %s (check WECHAT_TOKEN / WECHAT_APP_ID if this is WeChat).", what, why)
    return response.text("forbidden", status=403)
