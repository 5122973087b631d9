"""Input guard: classify messages the bot cannot read, and blank out markup before understanding."""

from __future__ import annotations

import re
import unicodedata
from typing import Optional

from bot.contract import MAX_MESSAGE_CHARS

EMPTY = "empty"
TOO_LONG = "too_long"
UNREADABLE = "unreadable"
EMOJI_ONLY = "emoji_only"
MARKUP = "markup"
PROBLEMS = (EMPTY, TOO_LONG, UNREADABLE, EMOJI_ONLY, MARKUP)

# Tags, comments and script/style blocks; `javascript:` URLs.
_MARKUP = re.compile(
    r"<(script|style)\b.*?(</\s*\1\s*>|$)" r"|<!--.*?(-->|$)" r"|</?[a-zA-Z][^<>]*>" r"|\bjavascript\s*:\S*",
    re.IGNORECASE | re.DOTALL,
)
_ALLOWED_CONTROL = {"\n", "\r", "\t"}


def blank_markup(text: str) -> str:
    """Replace HTML tags, script blocks and `javascript:` URLs with spaces, keeping offsets."""
    return _MARKUP.sub(lambda m: " " * len(m.group()), text)


def _category(char: str) -> str:
    """The Unicode category, with emoji newer than this Python's Unicode tables (🥹, 🫶: "Cn" here) as symbols."""
    category = unicodedata.category(char)
    if category == "Cn" and _is_emoji_plane(char):
        return "So"
    return category


def _is_emoji_plane(char: str) -> bool:
    return 0x1F000 <= ord(char) <= 0x1FAFF


def _is_noncharacter(char: str) -> bool:
    code = ord(char)
    return 0xFDD0 <= code <= 0xFDEF or (code & 0xFFFE) == 0xFFFE


def _is_unreadable(char: str) -> bool:
    if char in _ALLOWED_CONTROL:
        return False
    category = _category(char)
    # Unassigned code points are unreadable only as noncharacters: newer emoji and CJK characters than this
    # Python's tables know are still text.
    return char == "\ufffd" or category in ("Cc", "Cs", "Co") or (category == "Cn" and _is_noncharacter(char))


def _has_words(text: str) -> bool:
    return any(unicodedata.category(c)[0] in ("L", "N") for c in text)


def inspect(text: Optional[str]) -> Optional[str]:
    """Return the problem of a message (one of PROBLEMS) or None when the bot can read it."""
    if text is None or not text.strip():
        return EMPTY
    if len(text) > MAX_MESSAGE_CHARS:
        return TOO_LONG
    if any(_is_unreadable(c) for c in text):
        return UNREADABLE
    readable = blank_markup(text)
    if _has_words(readable):
        return None
    if readable != text:
        return MARKUP
    if any(_category(c) in ("So", "Sk") for c in readable):
        return EMOJI_ONLY
    return None  # punctuation only: understood as a normal (unclear) message
