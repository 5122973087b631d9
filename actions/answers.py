"""Answers from curated facts: knowledge questions, follow-ups, claim checks, low-confidence messages."""

from __future__ import annotations

import re

from typing import Any, Optional, Text

from actions.base import ASKS_FOR_EVIDENCE, BotAction, Turn, announces_questions
from bot.kb import Fact
from bot.kb.selection import ANIMAL_OVERVIEW_FACT, HUMAN_VS_ANIMAL_FACT, SKIN_OVERVIEW, STUDY_LEVELS, Selection
from bot.nlu.segments import is_question, split_segments
from bot.reply import Reply
from bot.services import Services

# Messages up to this many characters may refer to the previous question ("那安全吗？", "and skin?").
SHORT_MESSAGE = 24
# The topic of the human skin studies (data/facts/skin.yml) and the levels of a trial in people: after an answer
# about a method or an idea, "有真人做過實驗嗎" asks for the trial in people that answer lists as related.
SKIN_TOPIC = "skin_human"
# (After a mechanism, "喺真人度都係咁?" asks whether the mechanism holds in people: the caveat, not a trial.)
MECHANISMS_TOPIC = "mechanisms"
HUMAN_STUDY_LEVELS = ("human_trial", "human_uncontrolled")
# A question about the previous answer this long at most, naming nothing new, gets that answer again.
RESTATE_MAX_CHARS = 40
# "Is any of that shown in humans or is it all models?" after an answer about mechanisms: their caveat.
MECHANISM_CAVEAT_FACT = "mechanism.caveat"
# A conclusion asked after an answer about drips, shots or their claim: the advice about such products.
SYSTEMIC_FACTS = ("claims.systemic_injection", "advice.systemic_products", "delivery.iv_route", "safety.injection")
SYSTEMIC_ADVICE_FACT = "advice.systemic_products"
VERDICT_FACT = "verdict.overall"
# The facts of the field as a whole: what a conclusion asked of a narrower answer is taken for.
GENERAL_FACTS = ("verdict.overall", "overview.evidence")
# The trial that compared exosomes with PRP: "and compared with exosomes?" right after a question about PRP.
PRP_TRIAL_FACT = "skin.trial_vs_prp"
MECHANISM_FOLLOW_UP_CHARS = 80
# "Only in mice?" asks about the limits of animal studies, not for the animal study of the topic.
ONLY_ANIMALS = re.compile(r"只有|只是|净是|净系|淨係|全是|全部是|\b(?:only|just|all)\b", re.IGNORECASE)
# "Is it safe though?" after a question about drips or shots keeps their route: the classifier, taught on
# questions that stand alone, reads a bare safety question as one about skin products.
TOPICAL_SAFETY, INJECTION_SAFETY = "safety.topical", "safety.injection"
# A message that corrects what the bot took the previous question to mean ("no I meant the cream", "唔係 我講
# 塗面嗰隻", normalised to 不是 我讲…).
CORRECTION = re.compile(
    r"^\W*(?:no+\b|nope\b|nah\b|i meant\b|i mean\b|不是|不对|我是说|我是讲|我讲紧|我指的是|我问的是)"
)


# Sentences and clauses of a greeting that announces questions.
ANNOUNCEMENT_BREAK = re.compile(r"[，,。.！!？?;；\n]+")
# "几个关于外泌体的问题": the questions announced, not one asked ("几" is no question word there).
ANNOUNCED_QUESTIONS = re.compile(r"(?:几|一些|一点|些)个?[^,.?!，。？！]{0,12}?(?:问题|疑问)")


class AnswerMixin:
    """Fact selection shared by the answering actions."""

    services: Services

    def only_announces(self, turn: Turn) -> bool:
        """A greeting that announces questions and names no topic or fact ("您好，想請教幾個關於外泌體的問題。";
        "hi 快问一下 外泌体抗衰的evidence到底solid伐" asks one), or that tells who is writing before it announces
        them and asks nothing ("你好。我是退休工程师，最近群里外泌体的广告很多，想向你请教几个问题。")."""
        text = turn.norm_text or turn.text
        cues = self.services.cues
        found = cues.found_in(text)
        if "greeting_words" not in found or not announces_questions(text, found):
            return False
        rest = ANNOUNCED_QUESTIONS.sub(" ", cues.blanked(("announces_questions", "greeting_words"), text))
        if any(self._asks_about_exosomes(s) for s in ANNOUNCEMENT_BREAK.split(rest) if s.strip()):
            return False  # "hi 你好, 我想问 exosome 到底是什么东西 ah?"; "不知道现在方不方便？" asks none
        sentences = [s for s in ANNOUNCEMENT_BREAK.split(text) if s.strip()]
        if len(sentences) > 1 and cues.found("announces_questions", sentences[-1]):
            return True
        if "domain" in found:
            return False
        specific = self.services.retriever.specific_score
        return all(score < specific for score, _ in self.services.retriever.scores(text).values())

    def _asks_about_exosomes(self, text: str) -> bool:
        """The text asks a question about exosomes or about something a fact covers."""
        if not is_question(text):
            return False
        return bool(self.services.cues.found_in(text) & {"exosome", "domain"}) or bool(
            self.services.retriever.scores(text)
        )

    def is_follow_up(self, turn: Turn) -> bool:
        """The message leans on the previous answer (a cue word, or short, with a previous question)."""
        if not turn.last_question:
            return False
        return (
            self.services.cues.found("follow_up", turn.norm_text or turn.text)
            or len(turn.text.strip()) <= SHORT_MESSAGE
        )

    def answer(self, turn: Turn, **kwargs: Any) -> Optional[Reply]:
        """An answer from the selected fact (a clear second question answered as a second part, a less clear
        one offered first), the next fact for
        "tell me more", or None when the facts do not cover the message."""
        composer = self.services.composer
        follow_up = self.is_follow_up(turn)
        wants_more = follow_up and self.services.cues.found("more", turn.norm_text or turn.text)
        selection = self.select(turn, follow_up=follow_up)  # type: ignore[attr-defined]
        names = any(c.keyword >= self.services.retriever.specific_score for c in selection.candidates)
        if wants_more and turn.last_facts and len(turn.text.strip()) <= SHORT_MESSAGE and not names:
            return self.more(turn, **kwargs)  # "tell me more"; "more on the joint one" names its fact
        conclusion = self.conclusion_of(turn, selection) if follow_up else None
        if conclusion is not None:
            return composer.from_facts([conclusion], turn.lang, **kwargs)
        if self.compares_with_prp_before(turn):
            return composer.from_facts([self.services.kb.fact(PRP_TRIAL_FACT)], turn.lang, **kwargs)
        animal = self.animal_side(turn, follow_up) or self.human_side(turn, follow_up)
        if animal is not None:
            return composer.from_facts([animal], turn.lang, **kwargs)
        if selection.lead is not None and self.about_that_study(turn, selection.lead.id, follow_up):
            return composer.from_facts([self.services.kb.facts[turn.last_facts[0]]], turn.lang, **kwargs)
        if selection.lead is not None and self.about_those_mechanisms(turn, selection.lead.id, follow_up):
            return composer.from_facts([self.services.kb.fact(MECHANISM_CAVEAT_FACT)], turn.lang, **kwargs)
        if selection.lead is not None and (
            self.keeps_injection_route(turn, selection, follow_up) or self.names_the_injection(turn, selection)
        ):
            return composer.from_facts([self.services.kb.fact(INJECTION_SAFETY)], turn.lang, **kwargs)
        if selection.lead is not None:
            return composer.from_facts(selection.answered(), turn.lang, offer=selection.offered(), **kwargs)
        if follow_up and turn.last_facts and wants_more:
            return self.more(turn, **kwargs)
        if self.asks_for_skin_evidence(turn):
            return composer.from_facts([self.services.kb.fact(SKIN_OVERVIEW)], turn.lang, **kwargs)
        return None

    def asks_for_skin_evidence(self, turn: Turn) -> bool:
        """No fact is sure, but the message asks whether a skin product works or has research behind it
        ("擦的这种有研究吗", "All these exosome serum sell in Watsons, got real evidence one?"), names no
        injection and is about exosomes: the overview of the human skin studies answers it."""
        text = turn.norm_text or turn.text
        questions = [text[s.start : s.end] for s in split_segments(text) if s.question] or [text]
        if SKIN_OVERVIEW not in self.services.kb.facts or self.services.claims.route_sentence(questions[-1]):
            return False  # "吊个盐水就后生廿年？冇可能。我想问搽面嗰啲有冇研究支持？" asks about the skin
        found = self.services.cues.found_in(questions[-1])
        whole = self.services.cues.found_in(text)
        if not found & {"skin_products", "exosome", "procedure", "route"}:
            found |= whole & {
                "skin_products"
            }  # "…外泌体精华，往脸上抹的，她说…，这玩意儿真管用吗？": the product named before
        about_exosomes = "exosome" in whole or bool(turn.last_facts)
        if "skin_products" not in found or not about_exosomes:
            return False
        if not found & ASKS_FOR_EVIDENCE:
            return False
        return not self.must_decline(turn) and not self.other_topic(turn)  # type: ignore[attr-defined]

    def conclusion_of(self, turn: Turn, selection: Selection) -> Optional[Fact]:
        """ "So it doesn't work then?", "所以结论是？" right after an answer, naming nothing new: the conclusion of
        that answer's subject: the advice about drips and shots after one about them, a skin answer or advice
        again (they state their own conclusion), else the overall verdict; None for anything else."""
        text = turn.norm_text or turn.text
        if (
            not turn.last_facts
            or len(text.strip()) > SHORT_MESSAGE * 2
            or not self.services.cues.found("conclusion", text)
        ):
            return None
        if self.services.retriever.scores(self.services.cues.blanked(("conclusion",), text)):
            return None  # "so it doesn't work for the knees?" names its own fact
        top = selection.candidates[0] if selection.candidates else None
        if (
            top is not None
            and top.learned >= self.services.selector.weights.clear_learned
            and top.fact not in GENERAL_FACTS
        ):
            return None  # "系統性回顧的結論是什麼呢？": the classifier is sure of a fact of its own
        kb = self.services.kb
        previous = kb.facts.get(turn.last_facts[0])
        if previous is None:
            return None
        if previous.id in SYSTEMIC_FACTS:
            return kb.facts.get(SYSTEMIC_ADVICE_FACT, previous)
        if previous.topic == SKIN_TOPIC or previous.kind == "advice":
            return previous  # a skin answer, or advice, states its own conclusion
        return kb.facts.get(VERDICT_FACT, previous)

    def compares_with_prp_before(self, turn: Turn) -> bool:
        """A short comparison ("那跟外泌體比呢 哪個比較好", "has anyone compared it head to head w exosomes") right
        after a question about PRP, which the facts declined or answered: the trial that compared the two."""
        text = turn.norm_text or turn.text
        if (
            not turn.previous_text
            or len(text.strip()) > SHORT_MESSAGE * 3
            or PRP_TRIAL_FACT not in self.services.kb.facts
        ):
            return False
        found = self.services.cues.found_in(text)
        if "versus_or_with" not in found or found & {"prp", "other_product", "other_products", "price", "shopping"}:
            return False
        return self.services.cues.found("prp", turn.previous_text)

    def keeps_injection_route(self, turn: Turn, selection: Selection, follow_up: bool) -> bool:
        """A safety follow-up that names no route of its own ("is it even safe tho") after a question that
        named drips or shots (and did not deny their claim) is about their safety, not the skin products'.
        Words only the skin products' safety has ("红肿", "抹脸的", microneedling) name a route."""
        if selection.lead is None or selection.lead.id != TOPICAL_SAFETY or not follow_up or not turn.last_question:
            return False
        if INJECTION_SAFETY not in self.services.kb.facts:
            return False  # a knowledge base without it (a test's small one)
        if turn.values("route") or self.names_skin_safety(selection):
            return False
        claims = self.services.claims
        text = turn.norm_text or turn.text
        if claims.route_sentence(text) is not None:
            return False
        previous = turn.last_question
        return claims.route_sentence(previous) is not None and not claims.negated(previous)

    def names_skin_safety(self, selection: Selection) -> bool:
        """The skin products' safety is reached by a word of its own ("红肿", "抹脸的", microneedling), not only by the
        safety words it shares with the injections' safety."""
        kb = self.services.kb
        shared = {w for ws in kb.fact(TOPICAL_SAFETY).keywords.values() for w in ws} & {
            w for ws in kb.fact(INJECTION_SAFETY).keywords.values() for w in ws
        }
        lead = next((c for c in selection.candidates if c.fact == TOPICAL_SAFETY), None)
        return lead is not None and not set(lead.keywords) <= shared

    def names_the_injection(self, turn: Turn, selection: Selection) -> bool:
        """The skin products' safety leads, but the message names a drip or shot and no skin product or word of the
        skin products' safety ("美容院有个「冻龄能量吊针」 入面有外泌体 呢种安唔安全架"): the injections' safety answers it."""
        if (
            selection.lead is None
            or selection.lead.id != TOPICAL_SAFETY
            or INJECTION_SAFETY not in self.services.kb.facts
        ):
            return False
        text = turn.norm_text or turn.text
        if self.services.cues.found_in(text) & {"skin_products", "home_product"} or self.names_skin_safety(selection):
            return False
        claims = self.services.claims
        return claims.route_sentence(text) is not None and not claims.negated(text)

    def about_those_mechanisms(self, turn: Turn, lead: str, follow_up: bool) -> bool:
        """ "Has any of that been shown in humans?" after a review's answer about how exosomes might work:
        whether those mechanisms hold in people (the caveat fact), not the general humans-versus-animals fact
        (after one animal or lab study, `about_that_study` gives that study)."""
        if not (follow_up and lead == HUMAN_VS_ANIMAL_FACT and turn.last_facts):
            return False
        previous = self.services.kb.facts.get(turn.last_facts[0])
        short = len(turn.text.strip()) <= MECHANISM_FOLLOW_UP_CHARS
        return (
            previous is not None and previous.topic == "mechanisms" and previous.id != MECHANISM_CAVEAT_FACT and short
        )

    def about_that_study(self, turn: Turn, lead: str, follow_up: bool) -> bool:
        """A short "in humans?" / "那是在人身上还是老鼠身上？" after an answer about an animal or lab study:
        that study is meant (its text says where it was done), not the general humans-versus-animals fact."""
        if not (follow_up and lead == HUMAN_VS_ANIMAL_FACT and turn.last_facts):
            return False
        previous = self.services.kb.facts.get(turn.last_facts[0])
        short = len(turn.text.strip()) <= SHORT_MESSAGE * 2
        return previous is not None and previous.id != lead and previous.level in STUDY_LEVELS and short

    def human_side(self, turn: Turn, follow_up: bool) -> Optional[Fact]:
        """A short "那有真人做過實驗嗎" after an answer about a method or an idea (microneedle delivery, the skin
        mechanisms, the advice on skin) that lists a trial in people as related: that trial; None otherwise."""
        text = turn.norm_text or turn.text
        if not (follow_up and turn.last_facts) or len(text.strip()) > SHORT_MESSAGE * 2:
            return None
        found = self.services.cues.found_in(text)
        if "human_study" not in found or "animal_words" in found:
            return None
        kb = self.services.kb
        previous = kb.facts.get(turn.last_facts[0])
        if previous is None or previous.topic in (SKIN_TOPIC, MECHANISMS_TOPIC):
            return None
        trials = [
            kb.facts[f]
            for f in previous.related
            if f in kb.facts and kb.facts[f].topic == SKIN_TOPIC and kb.facts[f].level in HUMAN_STUDY_LEVELS
        ]
        return trials[0] if trials else None

    def animal_side(self, turn: Turn, follow_up: bool) -> Optional[Fact]:
        """A short "and in mice?" / "那老鼠呢" after an answer about people or an organ: the animal study the
        previous fact lists as related, else the overview of the animal studies; None for anything else."""
        text = turn.norm_text or turn.text
        if not (follow_up and turn.last_facts) or len(text.strip()) > SHORT_MESSAGE * 2:
            return None
        found = self.services.cues.found_in(text)
        if "animal_words" not in found or found & {"human_study", "exosome", "people_words"}:
            return None
        if ONLY_ANIMALS.search(text):
            return None  # "即係淨係老鼠得？", "just mice?": whether it is only animals, not "and in mice?"
        kb = self.services.kb
        previous = kb.facts.get(turn.last_facts[0])
        if previous is None or previous.level in STUDY_LEVELS:
            return None
        related = [kb.facts[f] for f in previous.related if f in kb.facts and kb.facts[f].level == "animal"]
        return related[0] if related else kb.facts.get(ANIMAL_OVERVIEW_FACT)

    def more(self, turn: Turn, **kwargs: Any) -> Reply:
        """The next related fact not given yet, or "that's all" with other questions offered."""
        composer = self.services.composer
        following = self.services.retriever.next_unseen(turn.last_facts)
        if following:
            return composer.from_facts([following], turn.lang, **kwargs)
        last = self.services.kb.fact(turn.last_facts[-1])
        offered = composer.follow_ups([last], exclude=turn.last_facts)
        return composer.message("out_of_scope", "replies.more_none", turn.lang, suggestions=offered)

    def follow_up_answer(self, turn: Turn) -> Optional[Reply]:
        """A short message after an answer ("人试过未?", "in humans too?") whose intent came out as something
        else, answered in the previous answer's frame; None when it is not such a follow-up."""
        if not turn.last_facts or not self.is_follow_up(turn) or self.other_topic(turn):  # type: ignore[attr-defined]
            return None
        return self.answer(turn) or self.restate(turn) or self.corrected_to_same(turn)

    def corrected_to_same(self, turn: Turn) -> Optional[Reply]:
        """A correction that names what the previous answer was already about ("唔係 我講塗面嗰隻" after the
        skin products' safety): that answer again; None for anything else."""
        text = turn.norm_text or turn.text
        if not turn.last_facts or not self.is_follow_up(turn) or not CORRECTION.search(text):
            return None
        if self.must_decline(turn):  # type: ignore[attr-defined]
            return None
        previous = turn.last_facts[0]
        found = self.services.retriever.scores(text).get(previous)
        fact = self.services.kb.facts.get(previous)
        return self.services.composer.from_facts([fact], turn.lang) if found and fact is not None else None

    def answer_in_context(self, turn: Turn) -> Optional[Reply]:
        """An answer when the intent pointed elsewhere: a follow-up ("and the IV ones?") is read in the
        previous answer's frame first, anything else needs a fact the message clearly asks about."""
        if turn.last_facts and self.is_follow_up(turn):
            return self.follow_up_answer(turn) or self.specific_answer(turn)  # type: ignore[attr-defined]
        return self.specific_answer(turn) or self.follow_up_answer(turn)  # type: ignore[attr-defined]

    def restate(self, turn: Turn) -> Optional[Reply]:
        """A short question about the previous answer that names nothing new ("why?", "only in vitro?",
        "six weeks? that short"): the previous answer's lead fact again, whose text says why and how much
        is known; None for anything else."""
        text = (turn.norm_text or turn.text).strip()
        if not turn.last_facts or len(text) > RESTATE_MAX_CHARS or not is_question(text):
            return None
        # Other topics are declined by every caller before this; personal questions are not, by all of them.
        if self.must_decline(turn):  # type: ignore[attr-defined]
            return None
        fact = self.services.kb.facts.get(turn.last_facts[0])
        return self.services.composer.from_facts([fact], turn.lang) if fact is not None else None

    def not_covered(self, turn: Turn) -> Reply:
        """The honest "my facts don't cover that" (a greeting or thanks is answered as one), with what they
        do cover nearby."""
        small_talk = self.small_talk(turn)  # type: ignore[attr-defined]
        if small_talk is not None:
            return small_talk
        return self.services.composer.message(
            "out_of_scope",
            "replies.not_covered",
            turn.lang,
            suggestions=self.related_suggestions(turn),  # type: ignore[attr-defined]
        )


class ActionAnswer(AnswerMixin, BotAction):
    """`ask_knowledge`: the most specific curated fact, or an honest "my facts don't cover that"."""

    def name(self) -> Text:
        """Action name."""
        return "action_answer"

    def respond(self, turn: Turn) -> Reply:
        """Answer from facts, or decline with pointers; dosing and personal situations get the doctor advice."""
        if self.must_decline(turn):
            return self.decline_medical(turn)
        if self.other_topic(turn):
            return self.decline_not_covered(turn)
        if self.only_announces(turn):
            return self.services.composer.message("greeting", "replies.greeting", turn.lang)
        return self.answer(turn) or self.restate(turn) or self.corrected_to_same(turn) or self.not_covered(turn)


class ActionCheckClaim(AnswerMixin, BotAction):
    """`check_claim`: what the evidence says about a quoted claim (flagged claims are handled first)."""

    def name(self) -> Text:
        """Action name."""
        return "action_check_claim"

    def respond(self, turn: Turn) -> Reply:
        """Weigh the claim against the facts it touches, or say the facts don't cover it."""
        if self.must_decline(turn):
            return self.decline_medical(turn)
        if self.other_topic(turn):  # "is this brand worth buying?", "milk has exosomes too, so drink milk?"
            return self.not_covered(turn)
        if self.asks_about_named_study(turn):  # "my grandson mentioned a Nature Aging study: who wrote it?"
            return self.reference_lookup().respond(turn)
        if self.only_announces(turn):  # "你好。…群里外泌体的广告很多，想向你请教几个问题。"
            return self.services.composer.message("greeting", "replies.greeting", turn.lang)
        return self.answer(turn, type="claim_check", intro_key="replies.claim_intro") or self.not_covered(turn)

    def asks_about_named_study(self, turn: Turn) -> bool:
        """The message names a study (journal, author, PMID, DOI) and asks for its citation details."""
        names_study = any(turn.values(entity) for entity in ("journal", "author", "pmid", "doi"))
        return names_study and "citation_details" in self.services.cues.found_in(turn.norm_text or turn.text)


class ActionFallback(AnswerMixin, BotAction):
    """Low NLU confidence: answer when a specific fact clearly matches, otherwise say so and suggest."""

    def name(self) -> Text:
        """Action name."""
        return "action_fallback"

    def respond(self, turn: Turn) -> Reply:
        """A clear keyword match is answered; a greeting that only announces questions ("你好，我想问几个外泌体的
        问题") is greeted; anything else gets the fallback reply."""
        if self.must_decline(turn):
            return self.decline_medical(turn)
        if self.other_topic(turn):  # "and should it go in the fridge?", "is that brand any good?"
            return self.decline_not_covered(turn)
        answer = self.answer_in_context(turn) or self.small_talk(turn)
        return answer or self.services.composer.message("fallback", "replies.fallback", turn.lang)
