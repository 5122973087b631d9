"""Citation look-ups: a reference by number, journal, author, PMID or DOI; the last answer's sources."""

from __future__ import annotations

from dataclasses import replace
from typing import List, Optional, Text

from actions.answers import AnswerMixin
from actions.base import BotAction, Turn
from actions.conversation import ActionHandoff, asks_for_person
from bot.contract import LEVELS
from bot.kb import Fact, Reference
from bot.lang import localize, normalize
from bot.nlu.lexicon import journal_groups
from bot.reply import Part, Reply

# How many facts citing a reference are named when it is looked up on its own.
CITING_FACTS_SHOWN = 2
# A message this short that the classifier took for a citation request is one ("source?", "出处", "refs pls").
SHORT_CITATION_ASK = 12


def short_ask(turn: Turn) -> bool:
    """A message no longer than SHORT_CITATION_ASK: it names no topic of its own ("source?", "出处")."""
    return len((turn.norm_text or turn.text).strip()) <= SHORT_CITATION_ASK


class ActionLookupReference(AnswerMixin, BotAction):
    """`ask_reference`: full reference details with DOI and PubMed links, graded by study design."""

    def name(self) -> Text:
        """Action name."""
        return "action_lookup_reference"

    def respond(self, turn: Turn) -> Reply:
        """Resolve what the user points at, in order: explicit references, then the previous answer."""
        composer, kb = self.services.composer, self.services.kb
        numbers = [int(v) for v in turn.values("reference")] or [int(v) for v in turn.values("number")]
        if not numbers and asks_for_person(self.services.cues, turn.norm_text or turn.text):
            return ActionHandoff(self.services).respond(turn)  # "someone on your team I can ask about a citation?"
        unknown = [n for n in numbers if kb.reference(n) is None]
        if unknown:
            return composer.message("fallback", "replies.reference_unknown", turn.lang, suggestions=(), n=unknown[0])
        asks_for_citation = self.asks_for_citation(turn)
        refs = [kb.references[n] for n in numbers] or self.named(turn)
        small_talk = None if refs else self.small_talk(turn)  # "你好，想查询一些关于 exosome 的资料。"
        if small_talk is not None:
            return small_talk
        if not refs and asks_for_citation:
            refs = self.cited_by_named_fact(turn)
        if len(refs) == 1 and self.asks_for_finding(turn):
            answer = self.finding(turn, refs[0])
            if answer is not None:
                return answer
        if refs:
            return self.describe(refs, turn.lang)
        if not asks_for_citation:
            # No reference named and no citation asked for: a clinic, a price ("any med spa you'd send me to")
            # is declined; a question about what research shows ("how far is IV research, still rodents?")
            # is answered from the facts.
            if self.other_topic(turn):
                return self.decline_not_covered(turn)
            answer = self.answer_in_context(turn)  # "只是老鼠做的 study?"
            if answer is not None:
                return answer
        all_sources = self.services.cues.found("all_sources", turn.text)
        previous = self.previous_sources(turn)
        if previous is not None and not all_sources:
            return previous
        if turn.values("journal") or turn.values("author") or turn.values("pmid") or turn.values("doi"):
            return composer.message("fallback", "replies.reference_not_found", turn.lang, suggestions=())
        if not all_sources and not short_ask(turn):
            # No answer yet to take sources from: "有沒有人體的RCT可以引用" asks for the studies of a topic, answered
            # by its fact, whose citations the answer gives.
            answer = self.specific_answer(turn)
            if answer is not None:
                return answer
        return self.overview(turn.lang)

    def previous_sources(self, turn: Turn) -> Optional[Reply]:
        """The references of the previous answer, or None when there was none."""
        kb = self.services.kb
        previous = [kb.references[n] for n in turn.last_refs if n in kb.references]  # the facts may have changed
        return self.describe(previous, turn.lang, intro_key="replies.previous_sources") if previous else None

    def cited_by_named_fact(self, turn: Turn) -> List[Reference]:
        """ "Which journal was the split-face one in?": the references of the study the message names by a
        fact's specific keywords (not for a bare "source?", which means the previous answer). Asked only of
        a message that asks for citations."""
        if short_ask(turn):
            return []
        fact = self.named_fact(turn)
        refs = self.services.kb.references
        return [refs[n] for n in fact.refs if n in refs] if fact is not None else []

    def asks_for_citation(self, turn: Turn) -> bool:
        """ "Source?", "which journal", "DOI pls", "all your references": the message asks for citations."""
        text = turn.norm_text or turn.text
        found = self.services.cues.found_in(text)
        if found & {"citation_details", "all_sources"}:
            return True
        if not short_ask(turn) or self.named_fact(turn) is not None:
            return False  # "Parkinson's?" is a topic
        # "Source?" asks for the citations; "打静脉那个呢" ("and the IV one?") leans on the previous topic.
        return "follow_up" not in found or "reference" in found

    def named_fact(self, turn: Turn) -> Optional[Fact]:
        """The fact the message names by its specific keywords, if any."""
        selection = self.select(turn)
        best = selection.candidates[0] if selection.candidates else None
        if selection.lead is None or best is None or best.keyword < self.services.retriever.specific_score:
            return None
        return selection.lead

    def asks_for_finding(self, turn: Turn) -> bool:
        """ "What did the Cell Metabolism paper find?", "the Aesthetic Surgery Journal study: was there a control
        arm?": about the study's result or design, not its citation."""
        found = self.services.cues.found_in(turn.norm_text or turn.text)
        return ("finding" in found and "citation_details" not in found) or "study_design" in found

    def finding(self, turn: Turn, ref: Reference) -> Optional[Reply]:
        """The fact citing this reference that fits the message best, as an answer (None: no fact cites it)."""
        citing = [f.id for f in self.services.kb.facts_citing(ref.n)]
        if not citing:
            return None
        ranked = [c.fact for c in self.select(turn).candidates if c.fact in citing]
        fact = self.services.kb.fact((ranked or citing)[0])
        return self.services.composer.from_facts([fact], turn.lang)

    def named(self, turn: Turn) -> List[Reference]:
        """References matching the journals, first authors, PMIDs or DOIs in the message."""
        journals = set(turn.values("journal"))
        names = {n for group in journal_groups() if group[0] in journals for n in group}
        authors = set(turn.values("author"))
        pmids, dois = set(turn.values("pmid")), {d.lower() for d in turn.values("doi")}
        found = []
        for ref in self.services.kb.references.values():
            in_journal, by_author = normalize(ref.journal) in names, normalize(ref.surname) in authors
            if journals and authors:  # "the Zhang paper in Aging Cell": both must hold
                matches = in_journal and by_author
            else:
                matches = in_journal or by_author or ref.pmid in pmids or ref.doi.lower() in dois
            if matches:
                found.append(ref)
        return found

    def describe(self, refs: List[Reference], lang: str, intro_key: str = "") -> Reply:
        """Full details of the references, one part per study design (in the order asked), each graded
        by that design: a mouse study never sits under a human trial's grade."""
        texts, kb = self.services.texts, self.services.kb
        if not intro_key and len(refs) > 1:
            intro_key = "replies.references_matched"
        groups: dict[str, list[Reference]] = {}
        for ref in refs:
            groups.setdefault(ref.level, []).append(ref)
        parts = []
        for level, group in groups.items():
            details = [
                texts.get(
                    "replies.reference_one",
                    lang,
                    n=ref.n,
                    authors=ref.authors,
                    title=ref.title,
                    journal=ref.journal,
                    year=ref.year,
                    doi=ref.doi,
                    pmid=ref.pmid,
                    doi_url=ref.doi_url,
                    pubmed_url=ref.pubmed_url,
                )
                for ref in group
            ]
            parts.append(Part(text="\n".join(details), level=level, refs=tuple(r.n for r in group)))
        citing = kb.facts_citing(refs[0].n)[:CITING_FACTS_SHOWN] if len(refs) == 1 else []
        if citing:
            questions = " / ".join(localize(f.question, lang) for f in citing)
            used_for = texts.get("replies.reference_used_for", lang, questions=questions)
            parts[0] = replace(parts[0], text=f"{parts[0].text}\n{used_for}")
        return Reply.of_parts(
            "reference",
            lang,
            parts,
            intro=texts.get(intro_key, lang) if intro_key else None,
            topic=citing[0].topic if citing else None,
            facts=tuple(f.id for f in citing),
            suggestions=tuple(f.id for f in citing) or self.services.texts.default_suggestions[:3],
        )

    def overview(self, lang: str) -> Reply:
        """All sources: the article, then its references grouped by study design, each group graded."""
        texts, kb = self.services.texts, self.services.kb
        source = texts.source(lang)
        separator = texts.get("format.citation_separator", lang)
        parts = []
        for level in LEVELS:
            group = [r for r in kb.references.values() if r.level == level]
            if group:
                listed = separator.join(texts.get("format.citation", lang, n=r.n, short=r.short) for r in group)
                parts.append(Part(text=listed, level=level, refs=tuple(r.n for r in group)))
        return Reply.of_parts(
            "reference",
            lang,
            parts,
            intro=texts.get("replies.sources_overview", lang, title=source["title"], updated=source["updated"]),
            suggestions=texts.default_suggestions[:3],
        )
