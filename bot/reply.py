"""Builds every reply: the visible text and the contract payload, from facts and data texts only."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Optional, Sequence

from bot.contract import LEVELS, NON_ANSWER_TYPES
from bot.kb import Fact, KnowledgeBase, Reference
from bot.lang import localize
from bot.texts import Texts


@dataclass(frozen=True)
class Reply:
    """What the bot says, before rendering: type, language, body and what backs it."""

    type: str
    lang: str
    body: str
    topic: Optional[str] = None
    facts: tuple[str, ...] = ()
    level: Optional[str] = None
    refs: tuple[int, ...] = ()
    flags: tuple[str, ...] = ()
    suggestions: tuple[str, ...] = ()  # fact ids whose questions are offered
    confidence: float = 0.0
    intent: Optional[str] = None
    extra: dict = field(default_factory=dict, compare=False)

    def with_confidence(self, confidence: float, intent: Optional[str]) -> "Reply":
        """The same reply carrying the NLU's confidence and intent."""
        return replace(self, confidence=confidence, intent=intent)


class ReplyComposer:
    """Turns facts and text keys into `Reply` objects and renders them per the contract."""

    def __init__(self, kb: KnowledgeBase, texts: Texts, max_suggestions: int = 3) -> None:
        """Composer over a knowledge base and a text catalogue."""
        self.kb = kb
        self.texts = texts
        self.max_suggestions = max_suggestions

    # -- building -------------------------------------------------------------------------------

    def from_facts(
        self,
        facts: Sequence[Fact],
        lang: str,
        *,
        type: Optional[str] = None,
        intro_key: Optional[str] = None,
        outro_key: Optional[str] = None,
        flags: Iterable[str] = (),
        offer: Sequence[str] = (),
    ) -> Reply:
        """An answer built from facts; the first fact's level grades it, all their refs are cited.

        `outro_key` adds a closing sentence from texts.yml; `offer` lists fact ids to suggest first
        (for example the fact of a second question in the same message).
        """
        lead = facts[0]
        parts = [self.texts.get(intro_key, lang)] if intro_key else []
        parts += [localize(f.text, lang) for f in facts]
        if outro_key:
            parts.append(self.texts.get(outro_key, lang))
        refs = sorted({n for f in facts for n in f.refs})
        used = [f.id for f in facts]
        return Reply(
            type=type or ("advice" if lead.is_advice else "answer"),
            lang=lang,
            body=" ".join(parts) if lang == "en" else "".join(parts),
            topic=lead.topic,
            facts=tuple(used),
            level=lead.level,
            refs=tuple(refs),
            flags=tuple(flags),
            suggestions=self.follow_ups(facts, exclude=used, first=offer),
        )

    def message(self, type: str, key: str, lang: str, suggestions: Optional[Sequence[str]] = None, **values: Any) -> Reply:
        """A non-answer (greeting, fallback, out_of_scope, handoff, input_error) from texts.yml."""
        if type not in NON_ANSWER_TYPES:
            raise ValueError(f"message() builds non-answers only, not {type!r}; use from_facts().")
        offered = self.texts.default_suggestions if suggestions is None else suggestions
        return Reply(type=type, lang=lang, body=self.texts.get(key, lang, **values), suggestions=tuple(offered))

    def follow_ups(self, facts: Sequence[Fact], exclude: Sequence[str] = (), first: Sequence[str] = ()) -> tuple[str, ...]:
        """`first`, then related facts, then others of the same topics, then the defaults; never repeats."""
        candidates = list(first) + [r for f in facts for r in f.related]
        candidates += [o.id for f in facts for o in self.kb.facts_of_topic(f.topic)]
        candidates += list(self.texts.default_suggestions)
        chosen: list[str] = []
        for fact_id in candidates:
            if fact_id not in exclude and fact_id not in chosen and fact_id in self.kb.facts:
                chosen.append(fact_id)
        return tuple(chosen[: self.max_suggestions])

    # -- rendering ------------------------------------------------------------------------------

    def citations(self, refs: Iterable[int]) -> list[Reference]:
        """Reference objects for the numbers, in order."""
        return [self.kb.references[n] for n in refs]

    def evidence_label(self, level: str, lang: str) -> str:
        """The consumer wording of an evidence level."""
        return self.texts.get(f"levels.{level}", lang)

    def citation_line(self, refs: Iterable[int], lang: str) -> str:
        """`Sources: [6] Chen X et al., Nature Aging 2024; ...` in the reply's language."""
        separator = self.texts.get("format.citation_separator", lang)
        items = [self.texts.get("format.citation", lang, n=r.n, short=r.short) for r in self.citations(refs)]
        return self.texts.get("format.sources_line", lang, citations=separator.join(items))

    def text(self, reply: Reply) -> str:
        """The visible text: warning lines, the body, then the grade line and the sources line.

        Lines are joined by single newlines: Rasa's REST and socket.io channels split a text at blank
        lines into separate messages, and an answer must arrive whole, with its grade and sources.
        """
        blocks = [self.texts.get(f"flags.{code}", reply.lang) for code in reply.flags]
        blocks.append(reply.body)
        closing = []
        if reply.level:
            closing.append(self.texts.get("format.evidence_line", reply.lang, label=self.evidence_label(reply.level, reply.lang)))
        if reply.refs:
            closing.append(self.citation_line(reply.refs, reply.lang))
        elif reply.level and reply.type not in NON_ANSWER_TYPES:
            # The review's own judgement cites no study: the line names the review itself.
            closing.append(self.texts.get("format.review_source_line", reply.lang, **self.texts.source(reply.lang)))
        return "\n".join(blocks + closing)

    def payload(self, reply: Reply) -> dict[str, Any]:
        """The contract's JSON object for this reply."""
        answer = reply.type not in NON_ANSWER_TYPES
        if reply.level is not None and reply.level not in LEVELS:
            raise ValueError(f"reply level {reply.level!r} is not a contract level")
        # Suggestions name facts; a smaller knowledge base (tests) may lack some defaults.
        questions = [localize(self.kb.facts[f].question, reply.lang) for f in reply.suggestions if f in self.kb.facts]
        return {
            "type": reply.type,
            "lang": reply.lang,
            "topic": reply.topic if answer else None,
            "facts": list(reply.facts) if answer else [],
            "evidence": (
                {"level": reply.level, "label": self.evidence_label(reply.level, reply.lang)}
                if answer and reply.level else None
            ),
            "citations": [r.citation() for r in self.citations(reply.refs)] if answer else [],
            "flags": [
                {"code": code, "message": self.texts.get(f"flags.{code}", reply.lang)} for code in reply.flags
            ] if answer else [],
            "suggestions": [{"title": q, "payload": q} for q in questions],
            "confidence": round(float(reply.confidence), 4),
            "source": self.texts.source(reply.lang),
            "intent": reply.intent,
        }

    def render(self, reply: Reply) -> tuple[str, dict[str, Any]]:
        """Visible text and payload of a reply."""
        return self.text(reply), self.payload(reply)
