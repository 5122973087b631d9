"""Detects the unsupported systemic-injection claim (contract flag) with spaCy rules over both languages."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Text

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.contract import FLAG_SYSTEMIC_INJECTION
from bot.nlu.base import MessageComponent, normalized_text
from bot.nlu.constants import FLAGS
from bot.nlu.lexicon import claim_rules
from bot.nlu.matching import Hit, TermMatcher

# Sentence ends; an English full stop only when followed by space or the end ("i.v." stays inside).
_SENTENCE_END = re.compile(r"[。！？!?;；\n]+|\.(?=\s|$)")
# Clause breaks inside a sentence.
_CLAUSE_BREAK = re.compile(r"[，,、:：]|但是|不过|可是|\bbut\b|\bhowever\b|\balthough\b|\bwhile\b")
_ROLES = (
    "route", "effect_strong", "effect_weak", "reverse", "aging", "repair", "organ", "not_effect",
    "local", "subject", "negation", "negation_exceptions", "third_party", "animal", "human",
)
# Most characters between the two parts of a combined effect ("reversed her aging", "修复受损的肝脏").
_PAIR_GAP = 24


def _spans(text: str, breaks: re.Pattern[str]) -> list[tuple[int, int]]:
    spans, start = [], 0
    for m in breaks.finditer(text):
        spans.append((start, m.start()))
        start = m.end()
    spans.append((start, len(text)))
    return spans


def _within(hit: Hit, span: tuple[int, int]) -> bool:
    return span[0] <= hit.start < span[1]


@dataclass(frozen=True)
class ClaimHit:
    """One detected claim: the route and effect terms that make it, and the span they cover."""

    code: str
    start: int
    end: int
    route: str
    effect: str

    def as_dict(self, text: str) -> Dict[str, Any]:
        """The flag as stored on the message (offsets into the user's text)."""
        return {"code": self.code, "start": self.start, "end": self.end, "text": text[self.start : self.end]}


class ClaimDetector:
    """Rule logic of the detector, independent of Rasa (see data/nlu/claim_rules.yml)."""

    def __init__(self, rules: Optional[Dict[str, Sequence[str]]] = None) -> None:
        """Compiles the term lists of every role into one spaCy matcher."""
        rules = rules or claim_rules()
        missing = [role for role in _ROLES if role not in rules]
        if missing:
            raise ValueError(f"claim rules lack the roles {missing}; add them to data/nlu/claim_rules.yml.")
        self.matcher = TermMatcher({role: rules[role] for role in _ROLES})

    def detect(self, norm_text: str) -> List[ClaimHit]:
        """Claims in a normalised message (empty when there is none)."""
        hits = self.matcher.find(norm_text)
        by_role: Dict[str, List[Hit]] = {role: [] for role in _ROLES}
        for hit in hits:
            by_role[hit.label].append(hit)
        sentences = _spans(norm_text, _SENTENCE_END)
        effects = self._effects(norm_text, by_role)
        if not by_role["route"] or not effects:
            return []
        if not by_role["subject"] and not any("外泌" in h.text or "exo" in h.text for h in by_role["route"]):
            return []
        claims = []
        for effect in effects:
            claim = self._judge(norm_text, effect, by_role, sentences)
            if claim:
                claims.append(claim)
        return claims[:1]

    @staticmethod
    def _effects(text: str, by_role: Dict[str, List[Hit]]) -> List[Hit]:
        """Single-term effects plus pairs: reverse+aging (weak), repair+organ (strong)."""
        effects = by_role["effect_strong"] + by_role["effect_weak"]
        for first, second, label, ordered in (
            ("reverse", "aging", "effect_weak", True),
            ("repair", "organ", "effect_strong", False),
        ):
            for a in by_role[first]:
                for b in by_role[second]:
                    lo, hi = (a, b) if a.start <= b.start else (b, a)
                    if (ordered and lo is not a) or lo.end > hi.start or hi.start - lo.end > _PAIR_GAP:
                        continue
                    if _CLAUSE_BREAK.search(text, lo.end, hi.start) or _SENTENCE_END.search(text, lo.end, hi.start):
                        continue
                    effects.append(Hit(label, lo.start, hi.end, text[lo.start:hi.end]))
        masked = by_role["not_effect"]
        return [
            e for e in effects
            if not any(m.start <= e.start and e.end <= m.end for m in masked)
        ]

    def _judge(
        self, text: str, effect: Hit, by_role: Dict[str, List[Hit]], sentences: List[tuple[int, int]]
    ) -> Optional[ClaimHit]:
        index = next(i for i, s in enumerate(sentences) if _within(effect, s) or effect.start < s[1])
        window = (sentences[max(index - 1, 0)][0], sentences[min(index + 1, len(sentences) - 1)][1])
        routes = [r for r in by_role["route"] if _within(r, window)]
        if not routes:
            return None
        sentence = sentences[index]
        clause = next(
            ((sentence[0] + a, sentence[0] + b) for a, b in _spans(text[sentence[0]:sentence[1]], _CLAUSE_BREAK)
             if sentence[0] + a <= effect.start < sentence[0] + b),
            sentence,
        )
        in_clause = lambda role: [h for h in by_role[role] if _within(h, clause)]  # noqa: E731
        in_sentence = lambda role: [h for h in by_role[role] if _within(h, sentence)]  # noqa: E731
        if effect.label == "effect_weak" and in_clause("local"):
            return None
        route = min(routes, key=lambda r: abs(r.start - effect.start))
        near = (min(route.start, effect.start), max(route.end, effect.end))
        animal = [h for h in by_role["animal"] if _within(h, sentence) or near[0] <= h.start < near[1]]
        if animal and not in_sentence("human"):
            return None
        exceptions = in_clause("negation_exceptions")
        negations = [
            n for n in in_clause("negation")
            if n.start < effect.start and not any(x.start <= n.start < x.end for x in exceptions)
        ]
        if negations and not in_sentence("third_party"):
            return None
        return ClaimHit(FLAG_SYSTEMIC_INJECTION, near[0], near[1], route.text, effect.text)


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False)
class SystemicClaimDetector(MessageComponent):
    """Marks messages that state, ask about or quote the systemic-injection claim.

    Adds `flags` to the parse output: `[{"code": "unsupported_systemic_injection_claim", "start",
    "end", "text"}]`, or an empty list. Works on `norm_text` from `ScriptNormalizer`.
    """

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """Returns the component's default config."""
        return {
            # Rule file; None uses data/nlu/claim_rules.yml.
            "rules_path": None,
        }

    def __init__(self, config: Dict[Text, Any]) -> None:
        """Compiles the rules."""
        path = Path(config["rules_path"]) if config.get("rules_path") else None
        self.detector = ClaimDetector(claim_rules(path))


    def process_message(self, message: Message) -> None:
        """Sets `flags` on the message."""
        norm = normalized_text(message)
        if norm is not None:
            flags = [c.as_dict(message.get(TEXT)) for c in self.detector.detect(norm)]
            message.set(FLAGS, flags, add_to_output=True)
