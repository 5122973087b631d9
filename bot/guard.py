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


def _is_unreadable(char: str) -> bool:
    if char in _ALLOWED_CONTROL:
        return False
    category = unicodedata.category(char)
    return char == "\ufffd" or category in ("Cc", "Cs", "Co", "Cn")


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
    if any(unicodedata.category(c) in ("So", "Sk") for c in readable):
        return EMOJI_ONLY
    return None  # punctuation only: understood as a normal (unclear) message
