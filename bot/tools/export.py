"""`bot export`: conversations from the tracker store as JSON Lines, one conversation per line."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Dict, Iterable, TextIO

from bot.conversations import channel_of
from bot.tools.tracker import Conversation, Message


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).astimezone().isoformat(timespec="milliseconds")


def message_record(m: Message) -> Dict[str, Any]:
    """One message as JSON: user messages with intent and channel, bot messages with their payload, ratings
    with the answer they rate (its time, type and facts)."""
    record: Dict[str, Any] = {"time": _iso(m.time), "from": m.by, "text": m.text}
    if m.by == "user":
        record.update(intent=m.intent, confidence=m.confidence, channel=m.channel)
        if m.picture:
            record["picture"] = m.picture  # the text was read in a picture the user sent
    elif m.by == "feedback":
        rating = m.payload or {}
        record.update(
            rating=rating.get("rating"),
            reason=rating.get("reason"),
            question=m.question,
            answer_time=_iso(rating["answer_timestamp"]) if rating.get("answer_timestamp") else None,
            answer_type=rating.get("answer_type"),
            answer_facts=rating.get("answer_facts") or [],
        )
        del record["text"]
    else:
        record["payload"] = m.payload
    return record


def conversation_record(c: Conversation) -> Dict[str, Any]:
    """One conversation as JSON: its id and channel, first and last message time, counts and messages."""
    stored = next((m.channel for m in c.messages if m.by == "user" and m.channel), None)
    return {
        "sender": c.sender,
        "channel": channel_of(c.sender, stored),
        "started": _iso(c.messages[0].time) if c.messages else None,
        "ended": _iso(c.messages[-1].time) if c.messages else None,
        "user_messages": sum(m.by == "user" for m in c.messages),
        "messages": [message_record(m) for m in c.messages],
    }


# Characters that str.splitlines() and many JSON Lines readers take for line ends, which json.dumps leaves
# unescaped with ensure_ascii=False: a user's message may contain them.
_LINE_BREAKS = {"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"}


def json_line(record: Dict[str, Any]) -> str:
    """One JSON object on one line, whatever line separators its strings hold (readable Chinese kept)."""
    line = json.dumps(record, ensure_ascii=False)
    for char, escaped in _LINE_BREAKS.items():
        line = line.replace(char, escaped)
    return line


def write_jsonl(conversations: Iterable[Conversation], out: TextIO) -> int:
    """Write one JSON object per conversation and line; returns how many were written."""
    count = 0
    for conversation in conversations:
        if not conversation.messages:
            continue
        out.write(json_line(conversation_record(conversation)) + "\n")
        count += 1
    return count
