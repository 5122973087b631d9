"""Builds every reply: the contract payload from facts and data texts only, and the visible text from the
payload (`lines`), the one renderer every text channel uses."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Mapping, Optional, Sequence

from bot.contract import LEVELS, NON_ANSWER_TYPES
from bot.kb import Fact, KnowledgeBase, Reference
from bot.lang import localize
from bot.texts import Texts


@dataclass(frozen=True)
class Part:
    """One statement of an answer with its own grade and citations: a fact, or a reference described."""

    text: str
    level: str
    refs: tuple[int, ...] = ()
    fact: Optional[str] = None


@dataclass(frozen=True)
class Reply:
    """What the bot says, before rendering: type, language, intro, parts (answers) or body (non-answers)."""

    type: str
    lang: str
    body: str = ""
    parts: tuple[Part, ...] = ()
    intro: Optional[str] = None
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

    @classmethod
    def of_parts(cls, type: str, lang: str, parts: Sequence[Part], **fields: Any) -> "Reply":
        """An answer whose grade is its first part's and whose citations are the union of its parts'."""
        if not parts:
            raise ValueError(f"a {type!r} reply needs at least one part; non-answers use ReplyComposer.message().")
        refs = tuple(sorted({n for p in parts for n in p.refs}))
        return cls(type=type, lang=lang, parts=tuple(parts), level=parts[0].level, refs=refs, **fields)


@dataclass(frozen=True)
class Section:
    """One unit of visible text: lines kept whole before (warnings, intro), a body a channel may shorten,
    and lines kept whole after it (grade and sources)."""

    head: tuple[str, ...]
    body: str
    closing: tuple[str, ...]
    refs: tuple[int, ...] = ()

    def lines(self) -> list[str]:
        """The section's lines, in order."""
        return [*self.head, *([self.body] if self.body else []), *self.closing]


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
        """An answer with one part per fact, each with its own grade and citations; the first fact leads.

        `intro_key`/`outro_key` add sentences from texts.yml before the parts (a closing note is shown
        with the intro, so that channels rendering from the payload keep it); `offer` lists fact ids to
        suggest first (for example the fact of a second question that was not answered).
        """
        lead = facts[0]
        intro = [self.texts.get(key, lang) for key in (intro_key, outro_key) if key]
        parts = [Part(text=localize(f.text, lang), level=f.level, refs=tuple(f.refs), fact=f.id) for f in facts]
        used = [f.id for f in facts]
        return Reply.of_parts(
            type or ("advice" if lead.is_advice else "answer"),
            lang,
            parts,
            intro=(" " if lang == "en" else "").join(intro) or None,
            topic=lead.topic,
            facts=tuple(used),
            flags=tuple(flags),
            suggestions=self.follow_ups(facts, exclude=used, first=offer),
        )

    def message(
        self, type: str, key: str, lang: str, suggestions: Optional[Sequence[str]] = None, **values: Any
    ) -> Reply:
        """A non-answer (greeting, fallback, out_of_scope, handoff, input_error) from texts.yml."""
        if type not in NON_ANSWER_TYPES:
            raise ValueError(f"message() builds non-answers only, not {type!r}; use from_facts().")
        offered = self.texts.default_suggestions if suggestions is None else suggestions
        return Reply(type=type, lang=lang, body=self.texts.get(key, lang, **values), suggestions=tuple(offered))

    def read_back(self, reply: Reply, quote: str) -> Reply:
        """The reply led by what was read in the user's image ("I read this in your image: …"): the first
        sentence of an answer's intro, or the first line of a non-answer."""
        line = self.texts.get("images.read_back", reply.lang, quote=quote)
        if reply.type in NON_ANSWER_TYPES:
            return replace(reply, body=f"{line}\n{reply.body}" if reply.body else line)
        return replace(reply, intro=(" " if reply.lang == "en" else "").join(filter(None, (line, reply.intro))))

    def follow_ups(
        self, facts: Sequence[Fact], exclude: Sequence[str] = (), first: Sequence[str] = ()
    ) -> tuple[str, ...]:
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

    def text(self, reply: Reply) -> str:
        """The visible text: warning lines, the intro, then each part followed by its grade and sources.

        Lines are joined by single newlines: Rasa's REST and socket.io channels split a text at blank
        lines into separate messages, and an answer must arrive whole, with its grade and sources.
        """
        return "\n".join(
            line for section in sections(self.payload(reply), self.texts, reply.body) for line in section.lines()
        )

    def payload(self, reply: Reply) -> dict[str, Any]:
        """The contract's JSON object for this reply."""
        answer = reply.type not in NON_ANSWER_TYPES
        for level in [reply.level] + [p.level for p in reply.parts]:
            if level is not None and level not in LEVELS:
                raise ValueError(f"reply level {level!r} is not a contract level; use one of {LEVELS}.")
        # Suggestions name facts; a smaller knowledge base (tests) may lack some defaults.
        questions = [localize(self.kb.facts[f].question, reply.lang) for f in reply.suggestions if f in self.kb.facts]
        return {
            "type": reply.type,
            "lang": reply.lang,
            "topic": reply.topic if answer else None,
            "facts": list(reply.facts) if answer else [],
            "evidence": (
                {"level": reply.level, "label": self.evidence_label(reply.level, reply.lang)}
                if answer and reply.level
                else None
            ),
            "citations": [r.citation() for r in self.citations(reply.refs)] if answer else [],
            "parts": [
                {
                    "fact": part.fact,
                    "text": part.text,
                    "evidence": {"level": part.level, "label": self.evidence_label(part.level, reply.lang)},
                    "refs": list(part.refs),
                }
                for part in reply.parts
            ]
            if answer
            else [],
            "intro": reply.intro if answer else None,
            "flags": [{"code": code, "message": self.texts.get(f"flags.{code}", reply.lang)} for code in reply.flags]
            if answer
            else [],
            "suggestions": [{"title": q, "payload": q} for q in questions],
            "confidence": round(float(reply.confidence), 4),
            "source": self.texts.source(reply.lang),
            "intent": reply.intent,
        }

    def render(self, reply: Reply) -> tuple[str, dict[str, Any]]:
        """Visible text and payload of a reply."""
        return self.text(reply), self.payload(reply)


def sections(payload: Mapping[str, Any], texts: Texts, text: str = "") -> list[Section]:
    """The visible text of a contract payload, as sections (for channels that shorten bodies).

    An answer is rendered from its `flags`, `intro` and `parts`; a payload without parts (non-answers,
    messages of other senders) shows `text` after its warning lines.
    """
    lang = payload.get("lang") or texts.default_lang
    warnings = [str(f.get("message") or "") for f in payload.get("flags") or () if isinstance(f, Mapping)]
    parts = [p for p in payload.get("parts") or () if isinstance(p, Mapping)]
    if not parts:
        lines = [line for line in text.split("\n") if line.strip() not in warnings] if text else []
        return [Section(head=tuple(warnings), body="\n".join(lines).strip(), closing=())]
    shorts = {c.get("ref"): c.get("short") for c in payload.get("citations") or () if isinstance(c, Mapping)}
    head = warnings + ([payload["intro"]] if payload.get("intro") else [])
    result = []
    for part in parts:
        refs = tuple(int(n) for n in part.get("refs") or ())
        closing = []
        evidence = part.get("evidence") or {}
        if evidence.get("label"):
            closing.append(texts.get("format.evidence_line", lang, label=evidence["label"]))
        cited = [texts.get("format.citation", lang, n=n, short=shorts.get(n, "")) for n in refs]
        body = str(part.get("text") or "")
        if cited and not all(c in body for c in cited):
            separator = texts.get("format.citation_separator", lang)
            closing.append(texts.get("format.sources_line", lang, citations=separator.join(cited)))
        elif not cited and evidence.get("level"):
            # The review's own judgement cites no study: the line names the review itself.
            closing.append(texts.get("format.review_source_line", lang, **texts.source(lang)))
        result.append(Section(head=tuple(head), body=body, closing=tuple(closing), refs=refs))
        head = []
    return result
