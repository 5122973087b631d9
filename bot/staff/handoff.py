"""Hand-off to a person (issue 14): the conversation's state in the tracker store, staff replies stored as
bot messages of the conversation and delivered on the user's own channel.

The state is the slot `handoff` (domain.yml, `influence_conversation: false`): "waiting" after the user
asked for a person, "staff" once a person replied, empty when the bot answers. While it is set the actions
stay quiet (actions/base.py); "release" empties it and tells the user the bot answers again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Iterable, Optional

from rasa.shared.core.events import BotUttered, SlotSet

from bot.conversations import split_id
from bot.reply import ReplyComposer
from bot.staff import HANDOFF_SLOT
from bot.stores import stored_conversation


class HandoffError(RuntimeError):
    """A hand-off action could not be done (unknown conversation, a channel that cannot be reached)."""


@dataclass(frozen=True)
class Delivery:
    """Whether a staff message reached the user, and if not, why."""

    delivered: bool
    reason: str = ""


def _channel(input_channels: Iterable[Any], name: str) -> Any:
    return next((c for c in input_channels or () if getattr(c, "name", lambda: "")() == name), None)


async def deliver(input_channels: Iterable[Any], conversation: str, text: str, payload: Dict[str, Any]) -> Delivery:
    """Send a staff message to the user on the conversation's channel: the widget live over socket.io,
    Telegram by sendMessage, WeChat by the customer-service API (when WECHAT_APP_SECRET is set)."""
    prefix, sender = split_id(conversation)
    if prefix == "web":
        channel = _channel(input_channels, "socketio")
        if channel is None or getattr(channel, "sio", None) is None:
            return Delivery(False, "the widget channel (socket.io) is not running")
        await channel.sio.emit(
            channel.bot_message_evt, {"text": text, "custom": payload}, room=sender, namespace=channel.namespace
        )
        return Delivery(True)
    if prefix == "telegram":
        channel = _channel(input_channels, "telegram")
        if channel is None or not hasattr(channel, "get_output_channel"):
            return Delivery(False, "the Telegram channel is off (TELEGRAM_TOKEN is not set)")
        await channel.get_output_channel().send_message(sender, text)
        return Delivery(True)
    if prefix == "wechat":
        channel = _channel(input_channels, "wechat")
        service = getattr(channel, "service", None)
        if service is None:
            return Delivery(False, "WeChat users can only be reached with WECHAT_APP_SECRET set (customer-service API)")
        await service.send_text(sender, text)
        return Delivery(True)
    return Delivery(
        False,
        f"conversations of channel {prefix or 'unknown'!r} cannot receive messages later "
        "(REST answers only the request it gets)",
    )


def status_of(tracker: Any) -> str:
    """ "waiting", "staff" or "bot"."""
    value = tracker.get_slot(HANDOFF_SLOT) if tracker is not None else None
    return value if value in ("waiting", "staff") else "bot"


async def _update(agent: Any, conversation: str, *events: Any) -> Any:
    async with stored_conversation(agent, conversation) as tracker:
        if tracker is None:
            raise HandoffError(f"no conversation {conversation!r} in the tracker store")
        for event in events:
            tracker.update(event)
        return tracker


async def conversation_lang(agent: Any, conversation: str, default: str) -> str:
    """The language the conversation's replies are in (its `lang` slot)."""
    tracker = await agent.tracker_store.retrieve(conversation)
    lang = tracker.get_slot("lang") if tracker is not None else None
    return lang or default


async def staff_message(
    agent: Any,
    input_channels: Iterable[Any],
    composer: ReplyComposer,
    conversation: str,
    key: str,
    status: Optional[str],
    **values: Any,
) -> tuple[Delivery, Dict[str, Any]]:
    """Store a message of the support team (text `key` of texts.yml) as a bot message of the conversation,
    set the hand-off state to `status`, and deliver it on the user's channel."""
    lang = await conversation_lang(agent, conversation, composer.texts.default_lang)
    text, payload = composer.render(composer.message("handoff", key, lang, suggestions=(), **values))
    payload["intent"] = "request_human"
    await _update(agent, conversation, BotUttered(text, data={"custom": payload}), SlotSet(HANDOFF_SLOT, status))
    return await deliver(input_channels, conversation, text, payload), payload
