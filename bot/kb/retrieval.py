"""Pick the most specific facts for a question by weighted keyword matching."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

from bot.kb.models import Fact, KnowledgeBase
from bot.lang import has_cjk, normalize


@dataclass(frozen=True)
class Match:
    """A fact with its score and the keywords of the message that reached it."""

    fact: Fact
    score: float
    keywords: tuple[str, ...]


def keyword_pattern(keyword: str) -> re.Pattern[str]:
    """Chinese keywords match anywhere; English ones at a word start, whole word when short."""
    if has_cjk(keyword):
        return re.compile(re.escape(keyword))
    tail = r"(?![a-z0-9])" if len(keyword) <= 3 else ""
    return re.compile(rf"(?<![a-z0-9]){re.escape(keyword)}{tail}")


def _word_char(char: str) -> bool:
    return ("a" <= char <= "z") or ("0" <= char <= "9")


def keyword_span(keyword: str, text: str) -> Optional[tuple[int, int]]:
    """Where `keyword_pattern(keyword)` first matches `text`, found with plain string search (fast)."""
    if keyword not in text:
        return None
    if has_cjk(keyword):
        start = text.find(keyword)
        return start, start + len(keyword)
    whole = len(keyword) <= 3
    start = text.find(keyword)
    while start != -1:
        end = start + len(keyword)
        if (start == 0 or not _word_char(text[start - 1])) and not (
            whole and end < len(text) and _word_char(text[end])
        ):
            return start, end
        start = text.find(keyword, start + 1)
    return None


# Weight of weak keywords (generic words such as "what is" or "worth it"), counted once per fact:
# below any specific keyword.
WEAK_WEIGHT = 1.0
# A single Chinese character ("脸", "涂") says less than a word: its weight is scaled down.
SINGLE_HAN_FACTOR = 0.5


class FactRetriever:
    """Ranks the facts of a knowledge base against a message; rare keywords weigh more."""

    def __init__(self, kb: KnowledgeBase, context_weight: float = 0.4) -> None:
        """Index every fact's keywords; `context_weight` scales matches from the previous question."""
        self.kb = kb
        self.context_weight = context_weight
        # Per fact: (keyword, pattern, weak?) for its keywords and its weak keywords.
        self._index: list[tuple[Fact, list[tuple[str, bool]]]] = []
        document_frequency: dict[str, int] = {}
        for fact in kb.facts.values():
            words = sorted({w for lang_words in fact.keywords.values() for w in lang_words})
            weak = sorted({w for lang_words in fact.weak_keywords.values() for w in lang_words} - set(words))
            entries = [(w, False) for w in words] + [(w, True) for w in weak]
            self._index.append((fact, entries))
            for w in words:
                document_frequency[w] = document_frequency.get(w, 0) + 1
        self._words = frozenset(w for _, entries in self._index for w, _ in entries)
        total = max(len(kb.facts), 1)
        self._weight = {
            w: (1.0 + math.log(total / df)) * (SINGLE_HAN_FACTOR if len(w) == 1 and has_cjk(w) else 1.0)
            for w, df in document_frequency.items()
        }
        # The weight of a keyword that at most two facts share: a match this strong is specific.
        self.specific_score = 1.0 + math.log(total / 2)

    def scores(self, text: str) -> dict[str, tuple[float, list[str]]]:
        """Fact id -> (score, matched keywords); a keyword inside a longer match of the fact is dropped."""
        text = normalize(text)
        scores: dict[str, tuple[float, list[str]]] = {}
        # Each distinct keyword is looked for once; the facts then read where it was found.
        found = {w: span for w in self._words if w in text for span in [keyword_span(w, text)] if span}
        for fact, entries in self._index:
            spans = [(*found[w], w, weak) for w, weak in entries if w in found]
            kept = [
                s
                for s in spans
                if not any(o[0] <= s[0] and s[1] <= o[1] and (o[1] - o[0]) > (s[1] - s[0]) for o in spans)
            ]
            if kept:
                strong = sum(self._weight[w] for _, _, w, weak in kept if not weak)
                weak = WEAK_WEIGHT if any(weak for *_, weak in kept) else 0.0
                scores[fact.id] = (strong + weak, [w for _, _, w, _ in kept])
        return scores

    def rank(self, text: str, context: Optional[str] = None, limit: int = 5) -> list[Match]:
        """Best matches for `text`; keywords of `context` (the previous question) add a smaller weight."""
        current = self.scores(text)
        previous = self.scores(context) if context else {}
        order = {fact.id: i for i, (fact, _) in enumerate(self._index)}
        combined: dict[str, tuple[float, list[str]]] = {}
        for fact_id in set(current) | set(previous):
            score, words = current.get(fact_id, (0.0, []))
            if fact_id in previous:
                score += self.context_weight * previous[fact_id][0]
            combined[fact_id] = (score, words)
        ranked = sorted(
            combined.items(),
            key=lambda item: (-item[1][0], -len(item[1][1]), order[item[0]]),
        )
        return [Match(self.kb.facts[i], round(s, 3), tuple(w)) for i, (s, w) in ranked[:limit]]

    def best(self, text: str, context: Optional[str] = None) -> Optional[Match]:
        """The single best match for the message, or None when no keyword matches."""
        ranked = self.rank(text, context, limit=1)
        return ranked[0] if ranked and ranked[0].keywords else None

    def next_unseen(self, seen: Sequence[str]) -> Optional[Fact]:
        """For "tell me more": the first related or same-topic fact not yet given."""
        if not seen:
            return None
        last = self.kb.facts.get(seen[-1])
        if last is None:
            return None
        candidates: Iterable[str] = list(last.related) + [f.id for f in self.kb.facts_of_topic(last.topic)]
        for fact_id in candidates:
            if fact_id not in seen:
                return self.kb.facts[fact_id]
        return None
