"""Conversation ids name their channel (contract 1.1, section 3): `web:<session>`, `rest:<sender>`,
`wechat:<openid>`, `telegram:<chat id>`, `line:<user id>`, `whatsapp:<number>`.

The channels build the id from the platform's own sender id, so a sender on one channel can never read or
write a conversation of another: a REST caller who sends `"sender": "wechat:o6_bm..."` writes to
`rest:wechat:o6_bm...`. Ids without a known prefix are conversations stored before contract 1.1; they stay
readable, and the staff tools take their channel from the stored `input_channel`.
"""

from __future__ import annotations

from typing import Optional, Tuple

# Rasa's input channel name → the prefix of its conversation ids.
PREFIXES = {
    "socketio": "web",
    "rest": "rest",
    "wechat": "wechat",
    "telegram": "telegram",
    "line": "line",
    "whatsapp": "whatsapp",
}
# Room left for the prefix in the tracker store's 255-character id column.
PREFIX_ROOM = 1 + max(len(prefix) for prefix in PREFIXES.values())


def conversation_id(channel: str, sender: str) -> str:
    """The conversation id of `sender` on Rasa input channel `channel` (for example `wechat:<openid>`)."""
    try:
        return f"{PREFIXES[channel]}:{sender}"
    except KeyError:
        raise ValueError(
            f"no conversation-id prefix for channel {channel!r}; add it to bot.conversations.PREFIXES."
        ) from None


def split_id(conversation: str) -> Tuple[Optional[str], str]:
    """(prefix, the platform's sender id) of a conversation id; (None, id) for an id stored before 1.1."""
    prefix, sep, sender = str(conversation).partition(":")
    if sep and prefix in PREFIXES.values():
        return prefix, sender
    return None, str(conversation)


def platform_sender(conversation: str) -> str:
    """The platform's own sender id (socket.io room, Telegram chat id, OpenID) of a conversation id."""
    return split_id(conversation)[1]


def channel_of(conversation: str, stored_channel: Optional[str] = None) -> Optional[str]:
    """The channel a conversation belongs to, as staff tools show it (the id's prefix: `web`, `rest`,
    `wechat`, ...); for older conversations, the prefix of the channel stored with its messages."""
    prefix, _ = split_id(conversation)
    if prefix:
        return prefix
    return PREFIXES.get(stored_channel, stored_channel) if stored_channel else None
