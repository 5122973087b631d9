"""What every channel checks at its door: sender and session ids, and typed text that is only text.

A sender id becomes a row key of the tracker store (`events.sender_id`, 255 characters): an id the
database cannot store (a lone surrogate, a NUL byte) or a longer one is refused at the door with a clear
error, instead of failing deep inside Rasa. And Rasa reads a message that starts with "/" as an intent
("/restart", "/ask_reference{...}"), skipping the NLU: typed text is never allowed to do that.
"""

from __future__ import annotations

import logging
import os
import unicodedata
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.conversations import PREFIX_ROOM
from bot.privacy import log_id  # noqa: F401  (a sender id as logs show it: a short hash)

logger = logging.getLogger(__name__)

# The tracker store's column for conversation ids (Rasa's SQLTrackerStore: String(255)), less the room
# for the channel prefix (bot.conversations).
MAX_SENDER_CHARS = 255 - PREFIX_ROOM
# Unicode categories an id may not contain: controls (NUL included), surrogates, private use, unassigned,
# and line or paragraph separators.
_REFUSED = {"Cc", "Cs", "Co", "Cn", "Zl", "Zp"}


def sender_problem(sender: Any) -> Optional[str]:
    """Why a sender or session id cannot be used (None when it can)."""
    if not isinstance(sender, str):
        return "must be a string"
    if not sender.strip():
        return "must not be empty"
    if len(sender) > MAX_SENDER_CHARS:
        return f"is longer than {MAX_SENDER_CHARS} characters"
    for char in sender:
        if unicodedata.category(char) in _REFUSED:
            return f"contains a character that cannot be stored (U+{ord(char):04X})"
    return None


def typed_text(text: str) -> str:
    """Text a person typed, made safe to store and to parse: characters no database can store (lone
    surrogates, NUL) become U+FFFD, so the input guard answers "unreadable"; and Rasa's "/intent" syntax
    is defused with an invisible leading character, so "/restart" is just text."""
    text = "".join("\ufffd" if char == "\x00" or 0xD800 <= ord(char) <= 0xDFFF else char for char in text)
    # Rasa strips surrounding whitespace (" /restart" is "/restart" to it), so the text is checked stripped,
    # and the guard is a word joiner (not whitespace, so Rasa keeps it; invisible, removed by the NLU).
    stripped = text.strip()
    return "\u2060" + stripped if stripped.startswith("/") else text


class OffChannel(InputChannel):
    """A messaging channel whose settings are missing: Rasa starts, its webhook answers 503 and says
    which setting turns it on (logged once at start). Plain `rasa run` works with credentials.yml."""

    def __init__(self, channel: str, setting: str) -> None:
        """Channel `channel` (its URL name), off until `setting` is set."""
        self.channel, self.setting = channel, setting
        logger.warning(
            "%s channel: off, because %s is not set (set it to turn the channel on; see README).", channel, setting
        )

    def name(self) -> Text:  # type: ignore[override]
        """The channel's own name, so its URL stays /webhooks/<name>/webhook."""
        return self.channel

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """Every route answers 503 with the setting that turns the channel on."""
        off = Blueprint(f"{self.channel}_off", __name__)

        async def closed(request: Request) -> HTTPResponse:
            return response.json({"error": f"the {self.channel} channel is off: set {self.setting}"}, status=503)

        off.add_route(closed, "/", methods=["GET"])
        off.add_route(closed, "/webhook", methods=["GET", "POST"], name="webhook")
        return off


class EnvChannel(InputChannel):
    """A messaging channel configured from the environment: on when `required_setting` is set, else an
    OffChannel (credentials.yml holds no secrets for it)."""

    channel_name: str = ""  # the URL name: /webhooks/<channel_name>/webhook
    required_setting: str = ""  # without it the channel is off (its webhook answers 503)
    settings_class: Any = None  # has `from_env(env)`, raising a clear error for a wrong setting

    @classmethod
    def name(cls) -> Text:
        """The channel's name; its routes live under /webhooks/<name>/."""
        return cls.channel_name

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        """The channel from the environment, or the OffChannel that says which setting turns it on."""
        if not os.environ.get(cls.required_setting, "").strip():
            return OffChannel(cls.name(), cls.required_setting)
        return cls(cls.settings_class.from_env(os.environ))  # type: ignore[call-arg]
