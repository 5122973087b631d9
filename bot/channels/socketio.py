"""socket.io channel that delivers each bot message whole: its text and the contract payload together.

Rasa 3.6's stock output splits texts at blank lines into several events and emits custom JSON as
keyword arguments of `emit` (which fails for most payloads). This channel sends one `bot_uttered`
event per bot message: `{"text": "...", "custom": {contract payload}}`.

Rasa 3.6 also calls python-socketio's `enter_room` without `await` (it is a coroutine since
python-socketio 5.10; RasaHQ/rasa#13027), so with `session_persistence` no socket ever joins its
session's room and no reply arrives. This channel registers a `session_request` handler that awaits it.

A turn that produced no bot message (action server down or failing) gets the apology of
bot.channels.rest.answer_or_apologise instead of silence.

Delivery (issue 13): the widget gives each message a client id (`user_uttered` {message, session_id,
client_id, attempt}) and sends it again after a reconnection, a reload or "Retry" until it is answered.
The channel confirms receipt at once with `user_received` {client_id}, tags each bot message with
`reply_to` (the client id) and `message_id`, and answers a client id once: a re-sent id gets the bot
messages of its turn again (to the session's room, marked `replay`), never a second turn. The turns are
remembered in memory for an hour; the client id is also stored in the user event's metadata in the
tracker store, so a re-send after a server restart is answered from the stored conversation.

Pictures (issue 18): the widget posts a picture to `/webhooks/socketio/picture` (see `_register_picture`);
the text read in it is answered as a message of the session, led by "I read this in your image: …".

Several Rasa processes (bot.workers) or servers: emits also reach the sessions held by the others (over Redis
with REDIS_URL, else over Unix sockets with EXOBOT_SOCKETIO_BUS; bot.channels.socket_bus), so a staff
reply sent by any of them arrives.

Staff view: a `user_uttered` with `explain: true` (the widget with `?debug=1`) is followed by
`bot_explained` {reply_to, why} to that socket: the NLU's reading of the message (bot.explain).
"""

from __future__ import annotations

import inspect
import logging
import os
import re
import uuid
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text

from rasa.core.channels.channel import OutputChannel, UserMessage
from rasa.core.channels.socketio import SocketIOInput, SocketIOOutput
from rasa.shared.core.events import BotUttered, UserUttered
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import runtime
from bot.channels.door import log_id, sender_problem, typed_text
from bot.channels.socket_bus import SOCKETIO_BUS_ENV, attach_bus, attach_redis, start_listening
from bot.channels.plain import RecentMap
from bot.channels.images import read_upload
from bot.channels.rest import answer_or_apologise, apology, picture_problem
from bot.conversations import channel_of, conversation_id, platform_sender
from bot.explain import explanation
from bot.feedback import read_feedback, record_feedback
from bot.lang import LANGS

logger = logging.getLogger(__name__)

# A client message id: 8 to 64 letters, digits, "-" or "_" (the widget sends 32 hex digits).
CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
CLIENT_ID_KEY = "client_id"  # the key of the client id in the user event's metadata
TURNS_KEPT = 2048  # turns remembered per server process (older ones are read from the tracker store)
TURN_MEMORY_SECONDS = 3600.0


def client_id_of(data: Dict[str, Any]) -> Optional[str]:
    """The client message id of a `user_uttered` event, or None when it has none (or an unusable one)."""
    value = data.get(CLIENT_ID_KEY)
    return value if isinstance(value, str) and CLIENT_ID.match(value) else None


class Turn:
    """The bot messages sent for one client message id, in order; `done` once the turn has ended."""

    def __init__(self) -> None:
        """An empty turn, running."""
        self.messages: List[Dict[str, Any]] = []
        self.done = False


def stored_reply(tracker: Any, client_id: str) -> Optional[List[Dict[str, Any]]]:
    """The bot messages that answered the user event with this client id in a stored conversation, as
    `bot_uttered` events (the apology when the turn sent none); None when no user event has this id."""
    events = list(tracker.events) if tracker is not None else []
    for i, event in enumerate(events):
        if isinstance(event, UserUttered) and (event.metadata or {}).get(CLIENT_ID_KEY) == client_id:
            replies = []
            for later in events[i + 1 :]:
                if isinstance(later, UserUttered):
                    break
                if isinstance(later, BotUttered):
                    replies.append(bot_event({"text": later.text, **(later.data or {})}))
            return [r for r in replies if r] or [bot_event(apology(event.text))]
    return None


def bot_event(message: Dict[str, Any]) -> Dict[str, Any]:
    """The `bot_uttered` event of one bot message: its text, payload and buttons."""
    event: Dict[str, Any] = {}
    if message.get("text"):
        event["text"] = message["text"]
    if message.get("custom"):
        event["custom"] = message["custom"]
    buttons = message.get("buttons") or message.get("quick_replies")
    if buttons:
        event["quick_replies"] = [{"title": b["title"], "payload": b["payload"]} for b in buttons]
    return event


class ContractSocketIOOutput(SocketIOOutput):
    """Emits one event per bot message with `text` and `custom` side by side; with a client message id,
    each event names it (`reply_to`, `message_id`) and is kept in the turn, to be sent again on request."""

    def __init__(
        self, sio: Any, bot_message_evt: Text, client_id: Optional[str] = None, turn: Optional[Turn] = None
    ) -> None:
        """Output on `sio`; `client_id` and `turn`: the message being answered and where its replies are kept."""
        super().__init__(sio, bot_message_evt)
        self.client_id, self.turn = client_id, turn

    @classmethod
    def name(cls) -> Text:
        """Same channel name as Rasa's socket.io output."""
        return "socketio"

    async def send_response(self, recipient_id: Text, message: Dict[Text, Any]) -> None:
        """One `bot_uttered` event holding the text, the payload and any buttons."""
        event = bot_event(message)
        if event and self.client_id and self.turn is not None:
            event["reply_to"] = self.client_id
            event["message_id"] = f"{self.client_id}:{len(self.turn.messages)}"
            self.turn.messages.append(event)  # before it goes out: a re-send meanwhile gets it too
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
            if not isinstance(message.output_channel, ContractSocketIOOutput):
                message.output_channel = ContractSocketIOOutput(self.sio, self.bot_message_evt)
            return await answer_or_apologise(on_new_message, message, "socket.io")

        runtime.apply()
        blueprint = super().blueprint(handle)
        self.app: Dict[str, Any] = {}
        bus = os.environ.get(SOCKETIO_BUS_ENV, "").strip()
        redis_url = os.environ.get("REDIS_URL", "").strip()
        if redis_url:  # several Rasa servers (machines): emits pass through Redis, python-socketio's way
            attach_redis(self.sio, redis_url, os.environ.get("REDIS_KEY_PREFIX", "exobot"))
        elif bus:  # several Rasa processes on one machine (bot.workers): over Unix sockets
            attach_bus(self.sio, Path(bus))

        @blueprint.listener("after_server_start")
        async def keep_app(server: Any, _loop: Any) -> None:
            self.app["agent"] = getattr(server.ctx, "agent", None)
            if bus or redis_url:
                start_listening(self.sio)

        self.turns: RecentMap[Turn] = RecentMap(size=TURNS_KEPT, ttl=TURN_MEMORY_SECONDS)
        self._register_session_request()
        self._register_user_uttered(handle)
        self._register_feedback(blueprint)
        self._register_picture(blueprint, handle)
        return blueprint

    def _register_picture(self, blueprint: Blueprint, handle: Callable[[UserMessage], Awaitable[Any]]) -> None:
        """`POST /webhooks/socketio/picture?session_id=…&client_id=…[&ui_lang=…]` with the picture as the body
        (the widget's upload; the server's own size limit, not the 64 KB of other requests). The text read
        in it is answered like a message with that client id: `user_received`, then `bot_uttered` to the
        session's room. A picture that cannot be read is answered there with a polite note (not a turn of
        the conversation). The HTTP answer says which: {"status": "answered" | "not_read", "problem"?}."""
        sio = self.sio
        assert sio is not None

        @blueprint.route("/picture", methods=["POST"], stream=True)
        async def picture(request: Request) -> HTTPResponse:
            session = request.args.get("session_id")
            client_id = client_id_of({CLIENT_ID_KEY: request.args.get(CLIENT_ID_KEY)})
            problem = sender_problem(session) or (
                None if client_id else "'client_id' must be 8 to 64 letters or digits"
            )
            if problem or client_id is None:
                return response.json({"error": problem}, status=400)
            hint = request.args.get("ui_lang")
            hint = hint if hint in LANGS else None
            conversation = conversation_id(self.name(), session)
            room = platform_sender(conversation)
            turn = await self._claim_turn(conversation, client_id, 0)
            if turn is None:
                return response.json({"status": "answered"})  # this upload was answered before
            await sio.emit("user_received", {CLIENT_ID_KEY: client_id}, room=room, namespace=self.namespace)
            read = await read_upload(request)
            output = ContractSocketIOOutput(sio, self.bot_message_evt, client_id, turn)
            try:
                if read.text is None:
                    await output.send_response(conversation, picture_problem(read.problem or "failed", hint))
                    return response.json({"status": "not_read", "problem": read.problem})
                metadata = {**(read.metadata or {}), CLIENT_ID_KEY: client_id, **({"ui_lang": hint} if hint else {})}
                await handle(UserMessage(read.text, output, conversation, input_channel=self.name(), metadata=metadata))
            finally:
                turn.done = True
            return response.json({"status": "answered"})

    def _register_feedback(self, blueprint: Blueprint) -> None:
        """`feedback` events (`{"session_id", "rating", "answer", "reason"?}`): the rating is stored as an
        event of the conversation `web:<session>` and confirmed with `feedback_confirm`, or refused with
        `error`. It never reaches the NLU and never changes the conversation's flow."""
        sio = self.sio
        assert sio is not None  # set by SocketIOInput.blueprint(), which registers the handlers
        app = self.app

        @sio.on("feedback", namespace=self.namespace)
        async def feedback(sid: Text, data: Any = None) -> None:
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
            assert rating is not None  # read_feedback() gives a rating whenever it gives no problem
            await sio.emit("feedback_confirm", {"rating": rating.rating}, room=sid, namespace=self.namespace)

    def _register_user_uttered(self, handle: Callable[[UserMessage], Awaitable[Any]]) -> None:
        """Replace the stock `user_uttered` handler with one that checks the session id and the text at
        the door (an unusable id or a message that is not text is refused with an `error` event), and
        answers each client message id once."""
        sio = self.sio
        assert sio is not None  # set by SocketIOInput.blueprint(), which registers the handlers

        @sio.on(self.user_message_evt, namespace=self.namespace)
        async def user_uttered(sid: Text, data: Any = None) -> None:
            data = data if isinstance(data, dict) else {}
            sender = data.get("session_id") if self.session_persistence else sid
            problem = sender_problem(sender)
            if problem is None and not isinstance(data.get("message", ""), str):
                problem = "'message' must be a string"
            if problem:
                await sio.emit("error", {"error": f"refused: {problem}"}, room=sid, namespace=self.namespace)
                return
            metadata = data.get(self.metadata_key)
            metadata = dict(metadata) if isinstance(metadata, dict) else None
            conversation = conversation_id(self.name(), sender)
            client_id = client_id_of(data)
            turn = None
            if client_id is not None:
                await sio.emit("user_received", {"client_id": client_id}, room=sid, namespace=self.namespace)
                turn = await self._claim_turn(conversation, client_id, data.get("attempt"))
                if turn is None:
                    return  # answered before: sent again, not run again
                metadata = {**(metadata or {}), CLIENT_ID_KEY: client_id}
            message = UserMessage(
                typed_text(data.get("message", "")),
                ContractSocketIOOutput(sio, self.bot_message_evt, client_id, turn),
                conversation,
                input_channel=self.name(),
                metadata=metadata,
            )
            try:
                await handle(message)
            finally:
                if turn is not None:
                    turn.done = True
            if turn is not None and client_id is not None and data.get("explain") is True:
                await self._explain(sid, conversation, client_id)

    async def _claim_turn(self, conversation: str, client_id: str, attempt: Any) -> Optional[Turn]:
        """A new turn for this client message id, or None when it was answered (or is being answered)
        already: then its bot messages so far are sent again to the session's room (the rest follow as
        the turn sends them). A re-sent id (`attempt` > 0) unknown to this process is looked up in the
        stored conversation (the server may have restarted since)."""
        key = f"{conversation}\n{client_id}"
        turn = self.turns.get(key)
        if turn is not None:
            await self._replay(conversation, turn.messages)
            return None
        turn = Turn()
        self.turns.put(key, turn)  # claimed before any await: a second copy of the id finds it
        if isinstance(attempt, int) and attempt > 0:
            replies = await self._stored_reply(conversation, client_id)
            if replies is not None:
                for n, event in enumerate(replies):
                    turn.messages.append({**event, "reply_to": client_id, "message_id": f"{client_id}:{n}"})
                turn.done = True
                await self._replay(conversation, turn.messages)
                return None
        return turn

    async def _stored_reply(self, conversation: str, client_id: str) -> Optional[List[Dict[str, Any]]]:
        """The bot messages stored for this client message id, or None (not stored, or no store)."""
        agent = self.app.get("agent")
        store = getattr(agent, "tracker_store", None)
        if store is None:
            return None
        try:
            tracker = await store.retrieve(conversation)
        except Exception:  # the store is down: better answer twice than never
            logger.exception(
                "socket.io: could not read the conversation of %s to answer a re-sent message.", log_id(conversation)
            )
            return None
        return stored_reply(tracker, client_id)

    async def _explain(self, sid: Text, conversation: str, client_id: str) -> None:
        """The widget's staff view (`explain: true`): why the bot answered this message as it did
        (bot.explain), sent to the asking socket only as `bot_explained` {reply_to, why}. It tells the
        writer about their own message only."""
        agent = self.app.get("agent")
        store = getattr(agent, "tracker_store", None)
        if store is None or self.sio is None:
            return
        try:
            tracker = await store.retrieve(conversation)
        except Exception:
            logger.exception("socket.io: could not read the conversation of %s to explain it.", log_id(conversation))
            return
        parse: Dict[str, Any] = {}
        payload = None
        asked = False
        for event in getattr(tracker, "events", None) or []:
            if isinstance(event, UserUttered):
                asked = (event.metadata or {}).get(CLIENT_ID_KEY) == client_id
                if asked:
                    parse, payload = dict(event.parse_data or {}), None
            elif asked and isinstance(event, BotUttered) and payload is None:
                custom = (event.data or {}).get("custom")
                payload = custom if isinstance(custom, dict) else None
        if not parse:
            return
        why = explanation(parse, payload)
        await self.sio.emit("bot_explained", {"reply_to": client_id, "why": why}, room=sid, namespace=self.namespace)

    async def _replay(self, conversation: str, messages: List[Dict[str, Any]]) -> None:
        """Send bot messages again to every socket of the session (each names its message_id, so a
        widget shows each one once)."""
        room = platform_sender(conversation)
        assert self.sio is not None  # set by blueprint(), before any message
        for event in list(messages):
            await self.sio.emit(self.bot_message_evt, {**event, "replay": True}, room=room, namespace=self.namespace)

    def _register_session_request(self) -> None:
        """Replace the stock `session_request` handler with one that really joins the session's room."""
        sio = self.sio
        assert sio is not None  # set by SocketIOInput.blueprint(), which registers the handlers

        @sio.on("session_request", namespace=self.namespace)
        async def session_request(sid: Text, data: Optional[Dict] = None) -> None:
            data = data if isinstance(data, dict) else {}
            if sender_problem(data.get("session_id")) is not None:
                data["session_id"] = uuid.uuid4().hex  # an unusable id gets a fresh one, never stored
            if self.session_persistence:
                joined = sio.enter_room(sid, data["session_id"], namespace=self.namespace)
                if inspect.isawaitable(joined):
                    await joined
            await sio.emit("session_confirm", data["session_id"], room=sid, namespace=self.namespace)
