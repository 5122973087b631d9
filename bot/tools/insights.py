"""`bot insights`: what consumers asked and what the bot could not answer, from the tracker store."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import datetime
from typing import Any, Dict, Iterable, List, Optional

from bot.contract import RATINGS
from bot.kb import KnowledgeBase, default_knowledge_base
from bot.lang import normalize
from bot.tools.tracker import Conversation

UNANSWERED_TYPES = ("fallback", "out_of_scope")
_EDGE = re.compile(r"^[\s\W_]+|[\s\W_]+$")
_SPACE = re.compile(r"\s+")


def question_key(text: str) -> str:
    """Group key of a question: normalised script and case, no outer punctuation, single spaces."""
    return _SPACE.sub(" ", _EDGE.sub("", normalize(text or "")))


def _iso(timestamp: Optional[float]) -> Optional[str]:
    return datetime.fromtimestamp(timestamp).astimezone().isoformat(timespec="seconds") if timestamp else None


class _Groups:
    """Messages grouped by question_key, each group shown by its most frequent wording."""

    def __init__(self) -> None:
        self.wordings: Dict[str, Counter] = defaultdict(Counter)
        self.senders: Dict[str, set] = defaultdict(set)
        self.last: Dict[str, float] = {}
        self.extra: Dict[str, Counter] = defaultdict(Counter)

    def add(self, text: str, sender: str, time: float, extra: Optional[str] = None) -> None:
        """Count one message (with its reply type or flag code as `extra`)."""
        key = question_key(text)
        self.wordings[key][text.strip()] += 1
        self.senders[key].add(sender)
        self.last[key] = max(self.last.get(key, 0.0), time)
        if extra:
            self.extra[key][extra] += 1

    def ranked(self, limit: int, extra_name: str) -> List[Dict[str, Any]]:
        """The groups, most frequent first, at most `limit`."""
        rows = [
            {
                "question": wordings.most_common(1)[0][0],
                "count": sum(wordings.values()),
                "conversations": len(self.senders[key]),
                "variants": sorted(wordings, key=lambda w: -wordings[w])[1:],
                "last_seen": _iso(self.last[key]),
                extra_name: dict(self.extra[key].most_common()),
            }
            for key, wordings in self.wordings.items()
        ]
        rows.sort(key=lambda r: (-r["count"], -r["conversations"], r["question"]))
        return rows[:limit]


def _shares(counter: Counter) -> List[Dict[str, Any]]:
    total = sum(counter.values())
    return [{"name": name, "count": count, "share": round(count / total, 4)} for name, count in counter.most_common()]


def insights(
    conversations: Iterable[Conversation],
    since: Optional[float] = None,
    until: Optional[float] = None,
    top: int = 20,
    kb: Optional[KnowledgeBase] = None,
) -> Dict[str, Any]:
    """Unanswered questions (grouped, most frequent first), flagged claims, language mix, top topics."""
    kb = kb or default_knowledge_base()
    unanswered, flagged = _Groups(), _Groups()
    languages: Counter[str]
    topics: Counter[str]
    types: Counter[str]
    channels: Counter[str]
    flag_codes: Counter[str]
    languages, topics, types, channels, flag_codes = Counter(), Counter(), Counter(), Counter(), Counter()
    ratings: Counter = Counter()
    unhelpful = _Groups()
    senders, user_messages, replies, pictures, first, last = 0, 0, 0, 0, None, None
    for conversation in conversations:
        senders += 1
        for m in conversation.messages:
            first = m.time if first is None else min(first, m.time)
            last = m.time if last is None else max(last, m.time)
            if m.by == "user":
                user_messages += 1
                pictures += 1 if m.picture else 0
                channels[m.channel or "unknown"] += 1
                continue
            if m.by == "feedback":
                rating = (m.payload or {}).get("rating") or "unknown"
                ratings[rating] += 1
                if rating == "not_helpful":
                    unhelpful.add(m.question or "", m.sender, m.time, extra=m.text or None)
                continue
            if m.payload is None:
                continue
            replies += 1
            p = m.payload
            kind = p.get("type") or "unknown"
            types[kind] += 1
            languages[p.get("lang") or "unknown"] += 1
            if p.get("topic"):
                topics[p["topic"]] += 1
            question = m.question or ""
            if kind in UNANSWERED_TYPES:
                unanswered.add(question, m.sender, m.time, extra=kind)
            for flag in p.get("flags") or []:
                flag_codes[flag.get("code")] += 1
                flagged.add(question, m.sender, m.time, extra=flag.get("code"))
    answered = sum(c for t, c in types.items() if t not in UNANSWERED_TYPES)
    return {
        "format": "exobot-insights",
        "period": {
            "since": _iso(since),
            "until": _iso(until),
            "first_message": _iso(first),
            "last_message": _iso(last),
        },
        "totals": {
            "conversations": senders,
            "user_messages": user_messages,
            "pictures": pictures,  # user messages that are the text read in a picture
            "replies": replies,
            "answered": answered,
            "unanswered": sum(types[t] for t in UNANSWERED_TYPES),
            "flagged": sum(flag_codes.values()),
        },
        "unanswered": unanswered.ranked(top, "types"),
        "flagged_claims": {
            "by_code": dict(flag_codes.most_common()),
            "questions": flagged.ranked(top, "codes"),
        },
        "languages": _shares(languages),
        "topics": [
            {**row, "title": kb.topics[row["name"]].title["en"] if row["name"] in kb.topics else row["name"]}
            for row in _shares(topics)[:top]
        ],
        "reply_types": _shares(types),
        "channels": _shares(channels),
        "feedback": {
            "by_rating": {r: ratings[r] for r in RATINGS},
            "not_helpful": unhelpful.ranked(top, "reasons"),
        },
    }
