"""User feedback on answers (contract 1.1, section 3): "helpful" or "not helpful", with an optional reason.

A rating is stored in the tracker store as an event of its conversation: a `SlotSet` of the slot
`feedback` (declared in domain.yml with `influence_conversation: false`, so it never changes what the bot
predicts next), whose value names the answer it rates: the bot message's timestamp, its facts and type.
The client names the answer by its text (the widget and Telegram have it); the latest bot message of the
conversation with that text is the one rated. Channels call `record_feedback` with the Rasa agent.
"""

from __future__ import annotations

import time
import unicodedata
from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, cast

from rasa.shared.core.events import BotUttered, SlotSet

from bot.contract import FEEDBACK_SLOT, MAX_REASON_CHARS, RATINGS
from bot.stores import stored_conversation

MAX_ANSWER_CHARS = 20000


@dataclass(frozen=True)
class Feedback:
    """One rating of one answer, as a client sent it."""

    rating: str
    answer_text: str
    reason: str = ""


def read_feedback(data: Any) -> tuple[Optional[Feedback], Optional[str]]:
    """The feedback in a client's message `{"rating", "answer", "reason"?}`, or why it is refused."""
    if not isinstance(data, Mapping):
        return None, 'feedback must be an object: {"rating": "helpful" | "not_helpful", "answer": "<text>"}'
    rating = data.get("rating")
    if rating not in RATINGS:
        return None, f"'rating' must be one of {', '.join(RATINGS)}"
    answer = data.get("answer")
    if not isinstance(answer, str) or not answer.strip() or len(answer) > MAX_ANSWER_CHARS:
        return None, "'answer' must be the text of the answer rated"
    reason = data.get("reason") or ""
    if not isinstance(reason, str):
        return None, "'reason' must be a string"
    # A short reason of printable text: controls, surrogates and line breaks become spaces.
    reason = "".join(" " if unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") else c for c in reason)
    return Feedback(rating, answer, " ".join(reason.split())[:MAX_REASON_CHARS]), None


def _rated(tracker: Any, answer_text: str) -> Optional[BotUttered]:
    """The latest bot message with this text; a plain-text channel may have shortened it, so a text
    that the bot message starts with the same first line of also counts."""
    bots = [e for e in reversed(tracker.events) if isinstance(e, BotUttered) and e.text]
    exact = next((e for e in bots if e.text == answer_text), None)
    if exact is not None:
        return exact
    first_line = answer_text.strip().split("\n", 1)[0]
    # cast: `bots` holds only bot messages with a text
    return next((e for e in bots if first_line and cast(str, e.text).split("\n", 1)[0] == first_line), None)


def feedback_value(feedback: Feedback, answer: BotUttered, channel: Optional[str]) -> Dict[str, Any]:
    """The slot value stored: the rating, its reason, and which answer it rates."""
    payload = (answer.data or {}).get("custom") or {}
    return {
        "rating": feedback.rating,
        "reason": feedback.reason or None,
        "answer_timestamp": answer.timestamp,
        "answer_type": payload.get("type"),
        "answer_facts": list(payload.get("facts") or []),
        "channel": channel,
        "rated_at": time.time(),
    }


async def record_feedback(agent: Any, conversation: str, feedback: Feedback, channel: Optional[str]) -> Optional[str]:
    """Store the rating as an event of `conversation`; returns why it could not be stored (None: stored)."""
    if agent is None or agent.tracker_store is None:
        return "the bot is not ready yet; try again in a moment"
    async with stored_conversation(agent, conversation) as tracker:
        if tracker is None:
            return "no such conversation"
        answer = _rated(tracker, feedback.answer_text)
        if answer is None:
            return "no answer with this text in the conversation"
        tracker.update(SlotSet(FEEDBACK_SLOT, feedback_value(feedback, answer, channel)))
    return None
