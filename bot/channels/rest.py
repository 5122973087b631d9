"""REST channel that never leaves a user in silence, and the apology every channel shares.

Rasa 3.6 logs the exception of a custom action that failed (action server down, hung, or erroring) and
sends nothing at all (rasa.core.processor.MessageProcessor._run_action). Our channels watch each turn:
when it produced no bot message, they send one apology instead (data/texts.yml `replies.unavailable`),
with a contract payload of type `fallback` that carries `"unavailable": true`.

Loading this channel also applies bot.runtime (a short action server timeout, ACTION_TIMEOUT).
"""

from __future__ import annotations

import functools
import json
import logging
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, OutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from rasa.utils.endpoints import bool_arg
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import runtime
from bot.channels.door import log_id, sender_problem, typed_text
from bot.channels.images import problem_key, read_upload
from bot.conversations import conversation_id
from bot.lang import LANGS, detect_script
from bot.texts import default_texts

logger = logging.getLogger(__name__)


@functools.lru_cache(maxsize=1)
def _composer() -> Any:
    from bot.kb import default_knowledge_base
    from bot.reply import ReplyComposer

    return ReplyComposer(default_knowledge_base(), default_texts())


def apology(user_text: Optional[str]) -> Dict[str, Any]:
    """The bot message sent when a turn produced no answer: text and payload, in the user's language."""
    composer = _composer()
    lang = detect_script(user_text or "") or composer.texts.default_lang
    text, payload = composer.render(composer.message("fallback", "replies.unavailable", lang, suggestions=()))
    payload["unavailable"] = True
    return {"text": text, "custom": payload}


class ReplyWatch(OutputChannel):
    """Stands in for a turn's output channel: forwards every bot message and notes that one was sent."""

    def __init__(self, inner: OutputChannel) -> None:
        """Watch `inner`."""
        self.inner = inner
        self.sent = False

    def name(self) -> Text:  # type: ignore[override]
        """The watched channel's name (Rasa picks channel-specific responses by it)."""
        return self.inner.name()

    async def send_response(self, recipient_id: Text, message: Dict[Text, Any]) -> None:
        """Forward the message whole."""
        self.sent = True
        await self.inner.send_response(recipient_id, message)

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        """Forward a bare text."""
        self.sent = True
        await self.inner.send_text_message(recipient_id, text, **kwargs)

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self.inner, attribute)


async def answer_or_apologise(
    on_new_message: Callable[[UserMessage], Awaitable[Any]], message: UserMessage, channel: str
) -> bool:
    """Run one turn; when it sent no bot message (or failed before sending one), send the apology.

    Returns True when it apologised. An error raised after a message went out (e.g. the messaging
    platform could not be reached) is raised again, for the channel to handle.
    """
    output = message.output_channel
    watch = ReplyWatch(output)
    message.output_channel = watch
    try:
        await on_new_message(message)
    except Exception:
        if watch.sent:
            raise
        logger.exception("%s: the bot failed on a message from %s.", channel, log_id(message.sender_id))
    finally:
        message.output_channel = output
    if watch.sent:
        return False
    logger.warning(
        "%s: no reply to %s (is the action server down, hung or failing?); sent the apology.",
        channel,
        log_id(message.sender_id),
    )
    await output.send_response(message.sender_id, apology(message.text))
    return True


NO_MODEL = (
    "This Rasa server has no model loaded: loading it failed when the server started (its log says why). "
    "Retrain (make train) or correct the model path, then restart."
)


class ContractRestInput(RestInput):
    """Rasa's REST channel (same name and URL, /webhooks/rest/webhook) that apologises instead of silence."""

    @classmethod
    def name(cls) -> Text:
        """Keeps the stock name, so the URL and the tracker store's input channel stay `rest`."""
        return "rest"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        """The channel; also applies bot.runtime (e.g. Rasa's wait for the action server, ACTION_TIMEOUT)."""
        runtime.apply()
        return cls()

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """Rasa's two routes (GET / and POST /webhook, `?stream=true` too), with the request checked at
        the door (400 with a JSON error otherwise) and every turn watched for a missing answer."""
        webhook = Blueprint(f"custom_webhook_{type(self).__name__}", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            """200 when this process has a loaded model; 503, and why, when loading it failed (Rasa then
            runs on without one and could only apologise)."""
            agent = getattr(request.app.ctx, "agent", None)
            if agent is None or not agent.is_ready():
                return response.json({"status": "no model", "error": NO_MODEL}, status=503)
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            body, problem = read_body(request)
            if problem:
                return response.json({"error": problem}, status=400)
            metadata = body.get("metadata") if isinstance(body.get("metadata"), dict) else None
            return await self._answer(request, body["sender"], typed_text(body["message"]), metadata, on_new_message)

        @webhook.route("/picture", methods=["POST"], stream=True)
        async def picture(request: Request) -> HTTPResponse:
            # ?sender=<id>[&ui_lang=zh-Hant]; the body is the picture itself (its own size limit, not Sanic's).
            sender = request.args.get("sender")
            problem = sender_problem(sender)
            if problem:
                return response.json({"error": f"'sender' {problem}"}, status=400)
            hint = request.args.get("ui_lang")
            read = await read_upload(request)
            if read.text is None:
                note = picture_problem(read.problem or "failed", hint if hint in LANGS else None)
                return response.json([{**note, "recipient_id": sender}])
            metadata = {**(read.metadata or {}), **({"ui_lang": hint} if hint in LANGS else {})}
            return await self._answer(request, str(sender), read.text, metadata, on_new_message)

        return webhook

    async def _answer(
        self,
        request: Request,
        sender: str,
        text: str,
        metadata: Optional[Dict[str, Any]],
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
    ) -> HTTPResponse:
        """Run one turn and answer with the bot's messages (as lines with `?stream=true`)."""
        collector = CollectingOutputChannel()
        message = UserMessage(
            text, collector, conversation_id(self.name(), sender), input_channel=self.name(), metadata=metadata
        )
        try:
            await answer_or_apologise(on_new_message, message, "REST")
        except Exception:
            logger.exception("REST: a turn failed after its answer was sent.")
        # The caller reads its own sender id back, as from Rasa's REST channel (not `rest:<sender>`).
        answers = [{**m, "recipient_id": sender} for m in collector.messages]
        if bool_arg(request, "stream", default=False):
            lines = "".join(json.dumps(m) + "\n" for m in answers)
            return response.text(lines, content_type="text/event-stream")
        return response.json(answers)


# How deep a request's JSON may nest (metadata included). Rasa deep-copies the metadata with every event,
# which fails past a few hundred levels; a real client sends two or three.
MAX_JSON_DEPTH = 32


def json_depth(value: Any, limit: int = MAX_JSON_DEPTH) -> int:
    """How deep lists and objects nest in `value` (a scalar is 0), counted up to `limit` + 1."""
    deepest, stack = 0, [(value, 0)]
    while stack and deepest <= limit:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, depth + 1)
            stack.extend((child, depth + 1) for child in item if isinstance(child, (dict, list)))
    return deepest


def read_body(request: Request) -> tuple[Dict[str, Any], Optional[str]]:
    """The REST request's JSON object, or why it is refused (a message for the 400 answer)."""
    try:
        body = json.loads(request.body or b"")
    except (ValueError, RecursionError):  # RecursionError: JSON nested thousands of levels deep
        return {}, (
            "the body must be a JSON object, nested at most "
            f'{MAX_JSON_DEPTH} levels deep: {{"sender": "...", "message": "..."}}'
        )
    if not isinstance(body, dict):
        return {}, 'the body must be a JSON object: {"sender": "...", "message": "..."}'
    if json_depth(body) > MAX_JSON_DEPTH:
        return {}, f"the body nests more than {MAX_JSON_DEPTH} levels deep (in 'metadata'?); send flatter JSON"
    problem = sender_problem(body.get("sender"))
    if problem:
        return {}, f"'sender' {problem}"
    if not isinstance(body.get("message"), str):
        return {}, "'message' must be a string"
    return body, None


def picture_problem(kind: str, lang: Optional[str]) -> Dict[str, Any]:
    """The bot message for a picture that could not be read: an `input_error` with text and payload."""
    composer = _composer()
    key, values = problem_key(kind, composer.texts)
    reply = composer.message("input_error", key, lang or composer.texts.default_lang, suggestions=(), **values)
    text, payload = composer.render(reply)
    return {"text": text, "custom": {**payload, "image_problem": kind}}
