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
from bot.channels.rest import answer_or_apologise


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
            await self._send_message(recipient_id, event)


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
        return blueprint

    def _register_session_request(self) -> None:
        """Replace the stock `session_request` handler with one that really joins the session's room."""
        sio = self.sio

        @sio.on("session_request", namespace=self.namespace)
        async def session_request(sid: Text, data: Optional[Dict]) -> None:
            data = data if isinstance(data, dict) else {}
            if not isinstance(data.get("session_id"), str) or not data["session_id"]:
                data["session_id"] = uuid.uuid4().hex
            if self.session_persistence:
                joined = sio.enter_room(sid, data["session_id"], namespace=self.namespace)
                if inspect.isawaitable(joined):
                    await joined
            await sio.emit("session_confirm", data["session_id"], room=sid, namespace=self.namespace)
