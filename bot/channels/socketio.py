"""socket.io channel that delivers each bot message whole: its text and the contract payload together.

Rasa 3.6's stock output splits texts at blank lines into several events and emits custom JSON as
keyword arguments of `emit` (which fails for most payloads). This channel sends one `bot_uttered`
event per bot message: `{"text": "...", "custom": {contract payload}}`.

Rasa 3.6 also calls python-socketio's `enter_room` without `await` (it is a coroutine since
python-socketio 5.10; RasaHQ/rasa#13027), so with `session_persistence` no socket ever joins its
session's room and no reply arrives. This channel registers a `session_request` handler that awaits it.

A turn that produced no bot message (action server down or failing) gets the apology of
bot.channels.rest.answer_or_apologise instead of silence.
"""

from __future__ import annotations

import inspect
import uuid
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import OutputChannel, UserMessage
from rasa.core.channels.socketio import SocketIOInput, SocketIOOutput
from sanic import Blueprint

from bot import runtime
from bot.channels.door import sender_problem, typed_text
from bot.channels.rest import answer_or_apologise
from bot.conversations import channel_of, conversation_id, platform_sender
from bot.feedback import read_feedback, record_feedback


class ContractSocketIOOutput(SocketIOOutput):
    """Emits one event per bot message with `text` and `custom` side by side."""

    @classmethod
    def name(cls) -> Text:
        """Same channel name as Rasa's socket.io output."""
        return "socketio"

    async def send_response(self, recipient_id: Text, message: Dict[Text, Any]) -> None:
        """One `bot_uttered` event holding the text, the payload and any buttons."""
        event: Dict[Text, Any] = {}
        if message.get("text"):
            event["text"] = message["text"]
        if message.get("custom"):
            event["custom"] = message["custom"]
        buttons = message.get("buttons") or message.get("quick_replies")
        if buttons:
            event["quick_replies"] = [{"title": b["title"], "payload": b["payload"]} for b in buttons]
        if event:
            # Conversation `web:<session>` is answered in the socket.io room of <session>.
            await self._send_message(platform_sender(recipient_id), event)


class ContractSocketIOInput(SocketIOInput):
    """Rasa's socket.io input with `ContractSocketIOOutput` as its output channel."""

    @classmethod
    def name(cls) -> Text:
        """Keeps the stock name, so the tracker store and tools see `socketio`."""
        return "socketio"

    def get_output_channel(self) -> Optional[OutputChannel]:
        """Output for messages triggered from outside a socket conversation."""
        if self.sio is None:
            return super().get_output_channel()
        return ContractSocketIOOutput(self.sio, self.bot_message_evt)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """The stock blueprint, with every incoming message answered through our output."""

        async def handle(message: UserMessage) -> Any:
            message.output_channel = ContractSocketIOOutput(self.sio, self.bot_message_evt)
            return await answer_or_apologise(on_new_message, message, "socket.io")

        runtime.apply()
        blueprint = super().blueprint(handle)
        self._register_session_request()
        self._register_user_uttered(handle)
        self._register_feedback(blueprint)
        return blueprint

    def _register_feedback(self, blueprint: Blueprint) -> None:
        """`feedback` events (`{"session_id", "rating", "answer", "reason"?}`): the rating is stored as an
        event of the conversation `web:<session>` and confirmed with `feedback_confirm`, or refused with
        `error`. It never reaches the NLU and never changes the conversation's flow."""
        sio = self.sio
        app: Dict[str, Any] = {}

        @blueprint.listener("after_server_start")
        async def keep_app(server: Any, _loop: Any) -> None:
            app["agent"] = getattr(server.ctx, "agent", None)

        @sio.on("feedback", namespace=self.namespace)
        async def feedback(sid: Text, data: Any) -> None:
            data = data if isinstance(data, dict) else {}
            session = data.get("session_id") if self.session_persistence else sid
            problem = sender_problem(session)
            rating, problem = (None, problem) if problem else read_feedback(data)
            if rating is not None:
                conversation = conversation_id(self.name(), session)
                problem = await record_feedback(app.get("agent"), conversation, rating, channel_of(conversation))
            if problem:
                await sio.emit("error", {"error": f"feedback refused: {problem}"}, room=sid, namespace=self.namespace)
                return
            await sio.emit("feedback_confirm", {"rating": rating.rating}, room=sid, namespace=self.namespace)

    def _register_user_uttered(self, handle: Callable[[UserMessage], Awaitable[Any]]) -> None:
        """Replace the stock `user_uttered` handler with one that checks the session id and the text at
        the door: an unusable id or a message that is not text is refused with an `error` event."""
        sio = self.sio

        @sio.on(self.user_message_evt, namespace=self.namespace)
        async def user_uttered(sid: Text, data: Any) -> None:
            data = data if isinstance(data, dict) else {}
            sender = data.get("session_id") if self.session_persistence else sid
            problem = sender_problem(sender)
            if problem is None and not isinstance(data.get("message", ""), str):
                problem = "'message' must be a string"
            if problem:
                await sio.emit("error", {"error": f"refused: {problem}"}, room=sid, namespace=self.namespace)
                return
            metadata = data.get(self.metadata_key)
            message = UserMessage(
                typed_text(data.get("message", "")), ContractSocketIOOutput(sio, self.bot_message_evt),
                conversation_id(self.name(), sender), input_channel=self.name(),
                metadata=metadata if isinstance(metadata, dict) else None,
            )
            await handle(message)

    def _register_session_request(self) -> None:
        """Replace the stock `session_request` handler with one that really joins the session's room."""
        sio = self.sio

        @sio.on("session_request", namespace=self.namespace)
        async def session_request(sid: Text, data: Optional[Dict]) -> None:
            data = data if isinstance(data, dict) else {}
            if sender_problem(data.get("session_id")) is not None:
                data["session_id"] = uuid.uuid4().hex  # an unusable id gets a fresh one, never stored
            if self.session_persistence:
                joined = sio.enter_room(sid, data["session_id"], namespace=self.namespace)
                if inspect.isawaitable(joined):
                    await joined
            await sio.emit("session_confirm", data["session_id"], room=sid, namespace=self.namespace)
