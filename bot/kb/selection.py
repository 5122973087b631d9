"""Choose the fact that answers a message: the learned fact ranking (bot/nlu/facts.py) and the keyword
rules of the knowledge base together, with the previous turn as context for follow-ups.

Neither signal is a gate: a fact is chosen when the classifier is sure of it, when a specific keyword
names it, or when both lean the same way; "not covered" only when both are unsure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Mapping, Optional, Sequence

from bot.kb.models import Fact, KnowledgeBase
from bot.kb.retrieval import FactRetriever, has_cjk, keyword_span
from bot.lang import localize, normalize

NONE_LABEL = "__none__"
_NOT_WORD = re.compile(r"[\W_]+")


@dataclass(frozen=True)
class Weights:
    """How the signals combine; measured on the development set (README, "Fact selection")."""

    # A keyword match as strong as a specific keyword adds this much (weaker matches add less); small,
    # because the classifier already has the keyword rules among its features.
    keyword: float = 0.05
    # Follow-ups: a fact of the previous answer's topic, or related to it, gets this much more.
    context: float = 0.3
    # Follow-ups: keywords of the previous question count this much (at full strength).
    context_keywords: float = 0.15
    # The classifier alone answers from this confidence on.
    learned_sure: float = 0.15
    # The combined score answers from this value on.
    combined_sure: float = 0.25
    # "No fact" at least this confident declines, unless a specific keyword names a fact.
    none_sure: float = 0.45
    # Sentences of a longer message: how much their own ranking counts (question, other sentence).
    segment_question: float = 1.0
    segment_other: float = 0.5
    # ... and the whole message, when one of its sentences is a question (less in a long message).
    segment_whole: float = 0.7
    segment_whole_long: float = 0.5
    # A second question of the same message is offered when its own ranking is at least this sure,
    # and answered in the same reply (a second part, with its own grade) from `compose_sure` on.
    second_sure: float = 0.25
    compose_sure: float = 0.5
    # When the intent points elsewhere (fallback, decline), a fact still answers from this confidence on.
    clear_learned: float = 0.5
    # A follow-up at most this long that only names a new subject keeps the previous answer's topic.
    continuation_chars: int = 24
    # A follow-up ("那打针呢？") answers from this classifier confidence on, when "no fact" is lower.
    follow_up_sure: float = 0.15
    # A message that names exosomes answers from this confidence on, when "no fact" is lower: it is
    # about our subject, and the closest fact beats "not covered".
    exosome_sure: float = 0.1
    # When the writer denies the systemic claim ("I know a drip can't make you younger, but ...") or asks
    # about the mouse studies, the facts about the claim count this much: the question is about something
    # else. When the claim is simply not made (no flag), they count `unflagged_claim`.
    negated_claim: float = 0.05
    unflagged_claim: float = 0.3
    # A question whether something works ("老婆去做外泌体微针 有没有用") that names no safety word: the safety
    # facts count this much (the classifier links stories about a treatment with its safety).
    unasked_safety: float = 0.5
    # A skin product used at home ("exosome face cream … any good for wrinkles", "面霜 真的有用不") with no
    # procedure word: the facts about microneedling in a clinic count this much; a general question whether
    # skin products work: the one study of them (SINGLE_STUDY_FACTS). The rest moves to the skin overview.
    kept_from_overview: float = 0.5


# Sentences from which a message counts as long: context around a question.
LONG_MESSAGE_SEGMENTS = 4

# Facts about the systemic-injection claim itself, which a denied claim does not ask about.
CLAIM_FACTS = ("claims.systemic_injection", "advice.systemic_products")
# Facts about a procedure in a clinic (microneedling), which a question about a cream or serum at home does not ask.
PROCEDURE_FACTS = ("skin.trial_microneedling", "advice.skin", "delivery.microneedle")
# One study of skin products: a general question ("does an exosome facial make skin look younger or is it just
# a glow?", "what human evidence exists for topical products?") that names no study asks about them all.
SINGLE_STUDY_FACTS = ("skin.trial_platelet",)
# What such a question asks instead: the human skin studies as a whole (the score taken from the procedure
# facts moves to it).
SKIN_OVERVIEW = "skin.overview"
# The topic of the safety facts (data/facts/safety.yml).
SAFETY_TOPIC = "safety"
# The general "what was shown in people and what only in animals" fact: after an answer about one animal or
# lab study, "in humans??" asks about that study, whose own text says where it was done.
HUMAN_VS_ANIMAL_FACT = "overview.human_vs_animal"
STUDY_LEVELS = ("animal", "in_vitro")
# After an answer about people or an organ, "and in mice?" asks for the animal study behind that topic (a fact
# it lists as related); with none, for the overview of the animal studies.
ANIMAL_OVERVIEW_FACT = "animal.overview"


@dataclass(frozen=True)
class Candidate:
    """One fact with the signals behind its score (for the staff view)."""

    fact: str
    score: float
    learned: float
    keyword: float
    keywords: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        """JSON form."""
        return {
            "fact": self.fact,
            "score": round(self.score, 3),
            "learned": round(self.learned, 3),
            "keyword": round(self.keyword, 3),
            "keywords": list(self.keywords),
        }


@dataclass(frozen=True)
class Context:
    """The previous turn a follow-up leans on."""

    question: str
    facts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Selection:
    """The chosen fact (None: not covered), a second question's fact, and the ranking behind them."""

    lead: Optional[Fact]
    second: Optional[Fact] = None
    candidates: tuple[Candidate, ...] = ()
    none: float = 0.0
    reason: str = ""
    extra: dict = field(default_factory=dict, compare=False)
    second_answered: bool = False  # the second question is clear enough to answer, not just offer

    def answered(self, exclude: str = "") -> list[Fact]:
        """The facts to answer, in order: the lead, then a clear second question's (never `exclude`)."""
        facts = [self.lead] if self.lead is not None and self.lead.id != exclude else []
        if self.second is not None and self.second_answered and self.second.id != exclude:
            facts.append(self.second)
        return facts

    def offered(self, exclude: str = "") -> list[str]:
        """A second question's fact that is offered rather than answered."""
        if self.second is None or self.second_answered or self.second.id == exclude:
            return []
        return [self.second.id]


# A question sentence at most this long (characters in Chinese, words in English) only tags what comes before it
# ("有冇證據㗎？", "true or not?").
TAG_QUESTION_CHARS = 8
TAG_QUESTION_WORDS = 3


def _is_tag(text: str) -> bool:
    """A short question sentence that names nothing of its own ("有冇證據㗎？", "is that true?")."""
    if has_cjk(text):
        return len(_NOT_WORD.sub("", text)) <= TAG_QUESTION_CHARS
    return len(text.split()) <= TAG_QUESTION_WORDS


def question_key(text: str) -> str:
    """A message reduced to its letters and characters, to recognise a tapped suggestion."""
    return _NOT_WORD.sub("", normalize(text))


class FactSelector:
    """Combines the learned ranking and the keyword scores into one choice."""

    def __init__(
        self,
        kb: KnowledgeBase,
        retriever: FactRetriever,
        weights: Optional[Weights] = None,
        contrast: Sequence[str] = (),
    ) -> None:
        """Index every fact's own question (all three scripts) for tapped suggestions; `contrast` are the
        words that set aside what follows them ("not", "不是", "唔係": lexicon.yml, cues.contrast_not)."""
        self.kb, self.retriever, self.weights = kb, retriever, weights or Weights()
        self.contrast = tuple(sorted({normalize(c).strip() for c in contrast if c.strip()}, key=len, reverse=True))
        self.questions: dict[str, str] = {}
        for fact in kb.facts.values():
            for lang in ("zh-Hans", "zh-Hant", "en"):
                self.questions.setdefault(question_key(localize(fact.question, lang)), fact.id)

    def suggestion(self, text: str) -> Optional[Fact]:
        """The fact whose question the message is, word for word (a tapped suggestion), or None."""
        fact_id = self.questions.get(question_key(text))
        return self.kb.facts.get(fact_id) if fact_id else None

    def _learned(
        self, ranking: Sequence[Mapping], segments: Sequence[Mapping], tag_questions: bool = True
    ) -> tuple[dict[str, float], float]:
        """Fact -> confidence, from the whole message and, for longer messages, its sentences: a
        question weighs more than the sentences of context around it."""
        w = self.weights
        questions = [seg for seg in segments if seg.get("question")]
        # "我阿媽話外泌體可以預防腦退化症。有冇證據㗎？": a question that only tags the sentence before it
        # names no topic, so the whole message decides.
        tags = tag_questions and bool(questions) and all(_is_tag(seg.get("text") or "") for seg in questions)
        whole_weight = w.segment_whole if questions and len(segments) > 1 and not tags else 1.0
        if questions and len(segments) >= LONG_MESSAGE_SEGMENTS and not tags:
            whole_weight = w.segment_whole_long  # a story around one question: the question decides
        learned: dict[str, float] = {}
        none = 0.0
        for item in ranking:
            if item["fact"] == NONE_LABEL:
                none = float(item["confidence"])
            elif item["fact"] in self.kb.facts:
                learned[item["fact"]] = whole_weight * float(item["confidence"])
        for segment in segments:
            weight = w.segment_question if segment.get("question") and not tags else w.segment_other
            for item in segment.get("ranking") or ():
                if item["fact"] in self.kb.facts:
                    learned[item["fact"]] = max(learned.get(item["fact"], 0.0), weight * float(item["confidence"]))
        return learned, none

    def _context_bonus(self, context: Optional[Context]) -> dict[str, float]:
        if context is None:
            return {}
        w = self.weights
        bonus: dict[str, float] = {}
        previous = [self.kb.facts[f] for f in context.facts if f in self.kb.facts]
        topics = {f.topic for f in previous}
        related = {r for f in previous for r in f.related}
        for fact in self.kb.facts.values():
            if fact.topic in topics or fact.id in related:
                bonus[fact.id] = w.context
        for fact_id, (score, _) in self.retriever.scores(context.question).items():
            bonus[fact_id] = bonus.get(fact_id, 0.0) + w.context_keywords * min(
                score / self.retriever.specific_score, 1.0
            )
        return bonus

    def select(
        self,
        text: str,
        ranking: Sequence[Mapping] = (),
        segments: Sequence[Mapping] = (),
        context: Optional[Context] = None,
        denied_claim: bool = False,
        about_exosomes: bool = False,
        claim_made: bool = False,
        asks_if_it_works: bool = False,
        home_product: bool = False,
        general_skin: bool = False,
        tag_questions: bool = True,
    ) -> Selection:
        """The fact for a (normalised) message, given the classifier's ranking and sentence rankings;
        `context` for a follow-up, `denied_claim` when the writer denies the systemic claim (or asks
        about the mouse studies), `about_exosomes` when it names them, `claim_made` when it is flagged,
        `asks_if_it_works` when it asks whether something works or helps, `home_product` when it is about a
        cream or serum used at home and names no procedure, `general_skin` when it asks in general whether
        skin products work or have evidence, naming no single study; `tag_questions` False when a short
        question sentence asks something of its own (a personal one: "她可以打吗？") and may not be read as a tag."""
        tapped = self.suggestion(text)
        if tapped is not None:
            return Selection(tapped, candidates=(Candidate(tapped.id, 1.0, 1.0, 0.0),), reason="suggestion")
        w = self.weights
        learned, none = self._learned(ranking, segments, tag_questions)
        keywords = self.retriever.scores(text)
        bonus = self._context_bonus(context)
        if context is not None:  # a correction leans on the previous turn ("no, I meant the creams")
            kept = self._without_contrasted(text, keywords)
            # What the writer sets aside ("it's Parkinson's, not stroke") gets no lift from the previous
            # question either, which named it.
            bonus = {fact: value for fact, value in bonus.items() if fact in kept or fact not in keywords}
            keywords = kept
        specific = self.retriever.specific_score
        # A safety word of its own ("副作用"), not one the other facts share ("微针").
        shared = {
            word for f, (_, words) in keywords.items() if self.kb.facts[f].topic != SAFETY_TOPIC for word in words
        }
        safety_named = any(
            set(words) - shared for f, (_, words) in keywords.items() if self.kb.facts[f].topic == SAFETY_TOPIC
        )
        candidates = []
        moved = 0.0  # taken from the procedure facts for a question about a product used at home
        for fact_id in set(learned) | set(keywords) | set(bonus):
            keyword_score, words = keywords.get(fact_id, (0.0, []))
            strength = min(keyword_score / specific, 1.0)
            score = learned.get(fact_id, 0.0) + w.keyword * strength + bonus.get(fact_id, 0.0)
            if fact_id in CLAIM_FACTS and not claim_made:
                score *= w.negated_claim if denied_claim else w.unflagged_claim
            if asks_if_it_works and not safety_named and self.kb.facts[fact_id].topic == SAFETY_TOPIC:
                score *= w.unasked_safety
            if SKIN_OVERVIEW in self.kb.facts and (
                (home_product and fact_id in PROCEDURE_FACTS) or (general_skin and fact_id in SINGLE_STUDY_FACTS)
            ):
                moved = max(moved, score * (1 - w.kept_from_overview))
                score *= w.kept_from_overview
            candidates.append(Candidate(fact_id, score, learned.get(fact_id, 0.0), keyword_score, tuple(words)))
        if moved:
            overview = next((c for c in candidates if c.fact == SKIN_OVERVIEW), Candidate(SKIN_OVERVIEW, 0.0, 0.0, 0.0))
            candidates = [c for c in candidates if c.fact != SKIN_OVERVIEW]
            candidates.append(replace(overview, score=overview.score + moved))
        candidates.sort(key=lambda c: (-c.score, -c.keyword, c.fact))  # a tie: the stronger keywords
        if not candidates:
            return Selection(None, none=none, reason="nothing matched")
        continued = self._continuation(text, context, candidates, keywords)
        if continued is not None:
            return Selection(
                self.kb.facts[continued.fact], None, tuple(candidates[:8]), none, "follow-up in the same topic"
            )
        best = candidates[0]
        named = best.keyword >= specific
        sure = best.learned >= w.learned_sure or best.score >= w.combined_sure or named
        if context is not None and best.learned >= w.follow_up_sure and best.learned > none:
            sure = True
        if about_exosomes and best.learned >= w.exosome_sure and best.learned > none:
            sure = True
        if none >= w.none_sure and not named and best.learned < none:
            return Selection(None, candidates=tuple(candidates[:8]), none=none, reason="classifier: no fact")
        if not sure:
            return Selection(None, candidates=tuple(candidates[:8]), none=none, reason="both signals unsure")
        lead = self.kb.facts[best.fact]
        skip = CLAIM_FACTS if claim_made else ()
        second, confidence = self._second(lead, segments, skip=skip)
        if second is None and named:
            second = self._also_named(best, candidates, skip)  # offered: "对中风和老年痴呆有用吗"
        return Selection(
            lead,
            second,
            tuple(candidates[:8]),
            none,
            "selected",
            second_answered=confidence >= self.weights.compose_sure,
        )

    def _set_aside(self, text: str, word: str) -> bool:
        """True when `word` first occurs right after a contrast word ("creams, not injections")."""
        span = keyword_span(word, text)
        if span is None:
            return False
        before = text[: span[0]].rstrip()
        for cue in self.contrast:
            if before.endswith(cue):
                start = len(before) - len(cue)
                if has_cjk(cue):
                    # "是不是" / "係唔係" ask "is it or not": a question, not a correction.
                    return not before[:start].endswith(("是", "系", "係"))
                return start == 0 or not before[start - 1].isalnum()
        return False

    def _without_contrasted(
        self, text: str, keywords: dict[str, tuple[float, list[str]]]
    ) -> dict[str, tuple[float, list[str]]]:
        """Drop the facts reached only by words the writer sets aside ("I meant the creams, not injections";
        "我是说涂脸那种 不是打针"), when the message also names something it keeps. A lone negation ("is it
        not safe?") keeps its keywords: it is a question, not a correction."""
        if not self.contrast or not keywords:
            return keywords
        text = normalize(text)
        words = {w for _, found in keywords.values() for w in found}
        aside = {w for w in words if self._set_aside(text, w)}
        if not aside or aside == words:
            return keywords
        return {fact: value for fact, value in keywords.items() if not set(value[1]) <= aside}

    def _continuation(
        self, text: str, context: Optional[Context], candidates: Sequence[Candidate], keywords: Mapping
    ) -> Optional[Candidate]:
        """A short follow-up that names a new subject in the previous answer's frame ("Are exosome facials
        safe?" → "and the IV ones?"): the fact of the previous topic that the new words reach."""
        if context is None or len(text.strip()) > self.weights.continuation_chars:
            return None
        previous = [self.kb.facts[f] for f in context.facts if f in self.kb.facts]
        topics = {f.topic for f in previous}
        same = [
            c
            for c in candidates
            if self.kb.facts[c.fact].topic in topics and c.fact not in context.facts and c.keyword > 0
        ]
        if not same:
            return None
        chosen = max(same, key=lambda c: (c.keyword, c.learned))
        named = max(candidates, key=lambda c: c.keyword)
        if named.keyword >= self.retriever.specific_score and named.keyword > chosen.keyword:
            return None  # "what is SASP?" names the previous answer's own fact more clearly than another one
        return chosen

    def is_clear(self, selection: Selection) -> bool:
        """A selection strong enough to overrule an intent that points elsewhere."""
        if selection.lead is None or not selection.candidates:
            return False
        if selection.reason == "suggestion":
            return True
        best = selection.candidates[0]
        if selection.none >= max(best.learned, self.weights.learned_sure):
            return False  # the classifier reads it as no fact at all (small talk, another product)
        return best.keyword >= self.retriever.specific_score or best.learned >= self.weights.clear_learned

    def _second(
        self, lead: Fact, segments: Sequence[Mapping], skip: Sequence[str] = ()
    ) -> tuple[Optional[Fact], float]:
        """The fact of another question in the same message and its confidence, when that question ranks it
        clearly or names it by its keywords (else None, 0); facts in `skip` (the flagged claim's) are not
        a second question."""
        passed = {lead.id, NONE_LABEL, *skip}
        for segment in segments:
            if not segment.get("question"):
                continue
            ranking = [r for r in segment.get("ranking") or [] if r["fact"] in self.kb.facts or r["fact"] == NONE_LABEL]
            first = ranking[0] if ranking else None
            if first is not None and first["fact"] != NONE_LABEL and first["fact"] in passed:
                continue  # the lead's own sentence, or the one that makes the claim
            if (
                first is not None
                and first["fact"] not in passed
                and float(first["confidence"]) >= self.weights.second_sure
            ):
                return self.kb.facts[first["fact"]], float(first["confidence"])
            named = self._named_in(str(segment.get("text") or ""), passed)
            if named is not None:
                return named, self.weights.compose_sure
        return None, 0.0

    def _also_named(self, best: Candidate, candidates: Sequence[Candidate], skip: Sequence[str]) -> Optional[Fact]:
        """Another fact the message names by specific keywords of its own, none shared with the lead's
        ("中风" and "老年痴呆" in one question, "端粒" and "miR-302b"), or None."""
        specific = self.retriever.specific_score
        for candidate in candidates[1:]:
            if candidate.fact in skip or candidate.keyword < specific:
                continue
            if not any(a in b or b in a for a in best.keywords for b in candidate.keywords):
                return self.kb.facts[candidate.fact]
        return None

    def _named_in(self, sentence: str, passed: set[str]) -> Optional[Fact]:
        """The fact a sentence names by its specific keywords ("搽面会不会敏感"), if one clearly leads."""
        if not sentence:
            return None
        scores = sorted(
            (
                (score, fact_id)
                for fact_id, (score, _) in self.retriever.scores(sentence).items()
                if fact_id not in passed
            ),
            reverse=True,
        )
        if (
            scores
            and scores[0][0] >= self.retriever.specific_score
            and (len(scores) == 1 or scores[0][0] > scores[1][0])
        ):
            return self.kb.facts[scores[0][1]]
        return None
