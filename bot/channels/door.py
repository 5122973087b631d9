"""What every channel checks at its door: sender and session ids, and typed text that is only text.

A sender id becomes a row key of the tracker store (`events.sender_id`, 255 characters): an id the
database cannot store (a lone surrogate, a NUL byte) or a longer one is refused at the door with a clear
error, instead of failing deep inside Rasa. And Rasa reads a message that starts with "/" as an intent
("/restart", "/ask_reference{...}"), skipping the NLU: typed text is never allowed to do that.
"""

from __future__ import annotations

import hashlib
import unicodedata
from typing import Any, Optional

# The tracker store's column for conversation ids (Rasa's SQLTrackerStore: String(255)).
MAX_SENDER_CHARS = 255
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
    # Rasa strips surrounding whitespace, so the guard is a word joiner (invisible, removed by the NLU).
    return "\u2060" + text if text.startswith("/") else text


def log_id(sender: Any) -> str:
    """A sender id as logs show it: a short hash, so logs name no OpenID or chat id (privacy)."""
    return "id:" + hashlib.sha256(str(sender).encode("utf-8", "surrogatepass")).hexdigest()[:12]
