"""Shared machinery of our actions: read the turn, guard the input, reply, remember context."""

from __future__ import annotations

import abc
import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot.contract import FLAG_APPROVAL, FLAG_DISEASE_CURE, FLAG_OVERSTATED_PROOF, FLAG_SYSTEMIC_INJECTION
from bot.kb.selection import Context, Selection
from bot.ocr import short_quote
from bot.nlu.segments import is_question, split_segments
from bot.reply import Reply
from bot.services import Services, default_services
from bot.staff import HANDOFF_SLOT, STAFF, WAITING

from actions.claims import ClaimTurns
from actions.turn import Turn, from_image

if TYPE_CHECKING:
    from actions.references import ActionLookupReference

CLAIM_FACT = "claims.systemic_injection"
FURTHER_CODES = (FLAG_DISEASE_CURE, FLAG_OVERSTATED_PROOF, FLAG_APPROVAL)
# A message this short with a reference number in it asks for that reference ("那 [7] 呢？", "and ref 14?").
SHORT_REFERENCE_ASK = 16
# A message longer than this tells a story: a comparison, price or shop in it is mentioned in passing.
STORY_CHARS = 150
# A greeting this long at most that announces questions ("你好，我想问几个外泌体的问题") asks none yet.
ANNOUNCEMENT_MAX_CHARS = 60
# The end of a first sentence ("有冇source? 我想print俾佢睇"): question and exclamation marks, a full stop.
SENTENCE_MARK = re.compile(r"[?？!！。]+")
# Cue lists (data/nlu/lexicon.yml) that make a question personal medical advice, always declined.
PERSONAL_MEDICAL_CUES = frozenset({"dosing", "condition", "advice_request"})
# ... and those of a question that names someone or asks for permission ("她可以打吗？"): never a general one.
PERSONAL_QUESTION_CUES = PERSONAL_MEDICAL_CUES | {"personal", "person_words", "asks_for_someone"}
# Cue lists of a message that asks for evidence or whether something works ("有研究证明吗", "any good?").
ASKS_FOR_EVIDENCE = frozenset({"evidence_words", "asks_if_it_works", "is_it_true"})
# An age under 18 ("my daughter is 15", "17岁", "十五歲"): advice for a child, declined.
# Chinese needs a person before the age: "年轻五岁" is "five years younger", "七十岁" no child.
_MINOR = re.compile(
    r"(?<![\d.])(?:1[0-7]|[1-9])\s*(?:yrs?|years?)[\s-]*old\b(?!\s*(?:dog|cat|pup|puppy|lab|horse|pet|car))"
    r"|(?<![\d.])(?:1[0-7]|[1-9])\s*(?:yo|y/o)\b"
    r"|(?:孙|孙子|孙女|孙仔|女儿|儿子|个女|个仔|孩子|小孩|细路|客人|顾客|妹妹|弟弟|我妹|我弟|细妹|细佬|学生|侄子|侄女|外孙)"
    r"[^，。？！,.?!\d一二三四五六七八九十]{0,6}(?<![一二三四五六七八九十\d])"
    r"(?:十[一二三四五六七]?|[一二三四五六七八九]|1[0-7]|[1-9])\s*岁"
    # "我 11 岁女儿", "十五岁的儿子": the age before the person.
    r"|(?<![\d.一二三四五六七八九十])(?:十[一二三四五六七]?|[一二三四五六七八九]|1[0-7]|[1-9])\s*岁\s*的?\s*"
    r"(?:女儿|儿子|孩子|小孩|个女|个仔|孙子|孙女|孙仔|外孙|侄子|侄女|妹妹|弟弟|细路)"
    # "我孙子今年十五": the age after 今年 needs no 岁.
    # "我16岁", "我今年十五岁": one's own age, said right after 我 ("我打完年轻了5岁" is no age).
    r"|[我她他](?:才|今年|只有)?(?:十[一二三四五六七]?|[一二三四五六七八九]|1[0-7]|[1-9])\s*岁"
    r"|(?:孙|孙子|孙女|孙仔|女儿|儿子|个女|个仔|孩子|小孩|细路|妹妹|弟弟|侄子|侄女|外孙)[^，。？！,.?!\d]{0,4}今年"
    r"(?:十[一二三四五六七]?|[一二三四五六七八九]|1[0-7]|[1-9])(?![\d十百])"
    r"|\b(?:daughter|son|kid|child|girl|boy|niece|nephew|grandson|granddaughter|brother|sister|cousin|sis|bro)\b"
    r"[^.?!]{0,12}?(?:\b(?:is|aged?)\s+|\s)(?:1[0-7]|[1-9])\b(?!\s*(?:%|k\b|cm|kg|min|hours?|days?|weeks?|months?|times?|years? ago))"
    # "im 17", "she's 16": an age said of oneself or of her/him ("explain like im 5" is none).
    r"|(?<!like )\b(?:i'?m|i am|she'?s|he'?s|she is|he is)\s+(?:1[0-7]|[1-9])\b(?!\s*(?:%|k\b|cm|kg|min|hours?|days?|weeks?|months?|times?|years? ago))",
    re.IGNORECASE,
)


def announces_questions(text: str, found: set[str]) -> bool:
    """A short message that announces questions to come ("你好，我想问几个外泌体的问题"); `found`: its cue lists."""
    return "announces_questions" in found and len(text) <= ANNOUNCEMENT_MAX_CHARS


def minor_age(text: str) -> bool:
    """True when the message gives someone's age as under 18."""
    return bool(_MINOR.search(text or ""))


class BotAction(ClaimTurns, Action, metaclass=abc.ABCMeta):
    """Base of every action: input guard and claim flag first, then `respond`, then context slots.

    Subclasses implement `name` and `respond`; they never write user-facing text themselves.
    """

    def __init__(self, services: Optional[Services] = None) -> None:
        """Use the given services (tests) or the project's, built once per process."""
        self._services = services

    @property
    def services(self) -> Services:
        """The knowledge base, texts and helpers this action works with."""
        if self._services is None:
            self._services = default_services()
        return self._services

    # Greetings, thanks and goodbyes are answered while a hand-off waits for a person (not once one holds it).
    small_talk_while_waiting = False

    @abc.abstractmethod
    def name(self) -> Text:
        """The action's name in domain.yml."""

    @abc.abstractmethod
    def respond(self, turn: Turn) -> Reply:
        """The reply to a readable message without a flagged claim."""

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[Dict[Text, Any]]:
        """Reply once with text and payload; return the slot events that keep the context. While a person of
        the support team holds the conversation (hand-off), the bot stays quiet: a payload, no text."""
        turn = Turn.from_tracker(tracker, self.services.texts.default_lang)
        handoff = tracker.get_slot(HANDOFF_SLOT)
        reply = None
        if handoff == WAITING and self.small_talk_while_waiting:
            # Until a person takes the conversation, "thanks, bye" still gets its goodbye (nothing more).
            reply = self.reply_to(turn)
            if reply.type != "greeting":
                reply = None
        if reply is None and handoff in (WAITING, STAFF) and self.name() != "action_handoff":
            _, payload = self.services.composer.render(Reply(type="handoff", lang=turn.lang))
            dispatcher.utter_message(json_message={**payload, "intent": turn.intent})
            return [SlotSet("lang", turn.lang)]
        reply = reply or self.reply_to(turn)
        reply = reply.with_confidence(turn.confidence, reply.intent or turn.intent)
        if from_image(tracker):
            reply = self.services.composer.read_back(reply, short_quote(turn.text))
        text, payload = self.services.composer.render(reply)
        dispatcher.utter_message(text=text, json_message=payload)
        return self.remember(turn, reply)

    def reply_to(self, turn: Turn) -> Reply:
        """Input problems and flagged claims take precedence over the action's own answer."""
        composer = self.services.composer
        if turn.problem:
            return composer.message("input_error", f"input_errors.{turn.problem}", turn.lang, suggestions=())
        tapped = self.services.selector.suggestion(turn.norm_text or turn.text)
        if tapped is not None and FLAG_SYSTEMIC_INJECTION not in turn.flags:
            # A suggestion the bot offered and the user tapped: that fact's answer, whatever the intent.
            return composer.from_facts([tapped], turn.lang)
        if self.name() != "action_handoff" and self.services.cues.found("talk_to_person", turn.norm_text or turn.text):
            from actions.conversation import ActionHandoff  # conversation.py builds on this module

            return ActionHandoff(self.services).respond(turn)  # "有沒有真人可以問 我想問細一點的"
        further = [code for code in turn.flags if code in FURTHER_CODES]
        cell_therapy = {"cell_therapy", "not_exosome"} <= self.services.cues.found_in(turn.norm_text or turn.text)
        if (FLAG_SYSTEMIC_INJECTION in turn.flags or self.claim_across_turns(turn)) and not cell_therapy:
            # (Stem cells themselves, "not exosomes", are another treatment: declined by the action below.)
            # A personal phrasing keeps the flag; the reply adds that personal advice is for a doctor. A
            # second question in the message ("is it safe, and does it make you live longer?") is offered.
            other = self.select(turn, claim_made=True)
            second = [f for f in other.answered() if f.id != CLAIM_FACT and f is other.second]
            if not second and other.lead is not None and self.asked_apart(turn, other.lead.id):
                second = [other.lead]  # "drip reverses ageing? and the serum, side effects?": both answered
            offer = [f.id for f in (other.second, other.lead) if f is not None and f.id != CLAIM_FACT][:1]
            apart = self.question_apart_from_claim(turn)
            if apart is not None and apart not in second and apart.id not in offer:
                offer = [apart.id, *offer][:2]  # "do exosome drips reverse aging? and are they even safe"
            return composer.from_facts(
                [self.services.kb.fact(CLAIM_FACT), *second],
                turn.lang,
                type="claim_check",
                intro_key="replies.claim_intro",
                flags=[FLAG_SYSTEMIC_INJECTION, *further],
                outro_key="replies.medical_note" if self.is_personal_medical(turn) else None,
                offer=offer,
            )
        if further and self.must_decline(turn) and is_question(turn.norm_text or turn.text):
            # Asked for a baby, a pregnancy, one's own medication or a dose: declined with the doctor advice,
            # also when the message repeats a cure claim ("朋友说外泌体能修复皮肤 可以给宝宝抹一点吗"); a decline
            # carries no flags (shared/CONTRACT.md). The systemic claim above keeps its flag instead, and an
            # ad that only names them ("孕妇都能用") is no question: its claims are flagged.
            return self.decline_medical(turn)
        if further and not cell_therapy:  # (stem cells themselves: declined by the action below)
            return self.check_further_claims(turn, further)
        asked = self.sources_request(turn) if self.name() != "action_lookup_reference" else None
        if asked is not None:
            return self.reference_lookup().respond(asked)  # "source?" whatever the intent came out as
        return self.respond(turn)

    def reference_lookup(self) -> "ActionLookupReference":
        """The reference look-up on the same services, for a message another action received."""
        from actions.references import ActionLookupReference  # references.py builds on this module

        return ActionLookupReference(self.services)

    def sources_request(self, turn: Turn) -> Optional[Turn]:
        """ "Source?", "refs pls 🙏", "出处呢？": a message of citation words only (and fillers), or one whose
        first sentence is that and whose rest only says why ("有冇source? 我想print俾佢睇"); the turn with
        just the request, else None."""
        text = turn.norm_text or turn.text
        if self._citation_only(text):
            return turn
        if turn.values("reference") and len(text.strip()) <= SHORT_REFERENCE_ASK:
            return turn  # "那 [7] 呢？", "ref 7?": that reference
        parts = SENTENCE_MARK.split(text, maxsplit=1)
        if len(parts) < 2 or not self._citation_only(parts[0]):
            return None
        # The rest asks nothing (no further question mark) and names no fact ("…and is it safe?" does).
        rest = parts[1]
        if SENTENCE_MARK.search(rest) or self.services.selector.retriever.scores(rest):
            return None
        return replace(turn, text=parts[0], norm_text=parts[0])

    def _citation_only(self, text: str) -> bool:
        cues = self.services.cues
        return cues.consists_of(("citation_words", "citation_fillers"), text) and bool(
            cues.found("citation_words", text)
        )

    def is_personal_medical(self, turn: Turn) -> bool:
        """Dosing, or a personal situation (pregnancy, a child, own medication), or the medical intent."""
        return self.must_decline(turn) or turn.intent == "ask_medical_advice"

    def must_decline(self, turn: Turn) -> bool:
        """Dosing, personal situations (pregnancy, a child under 18, own illness or medication) and "should I
        get it" are always declined with the doctor advice (tapped suggestions, the bot's own questions, are
        answered before this is asked)."""
        text = turn.norm_text or turn.text
        found = self.services.cues.found_in(text)
        if "animal_patient" in found:
            return False  # a pet's treatment: not covered, and "my dog is 14" is no child (other_topic)
        personal = found & PERSONAL_MEDICAL_CUES
        if "price" in found:
            personal.discard("dosing")  # "how much per session?", "几多钱一支": a price, not a dose
        if personal == {"advice_request"} and self.story_then_general_question(text):
            personal.clear()  # "…姑姑一直吵著要帶她去做。…所以外泌體對阿茲海默到底有沒有人體研究？"
        return bool(personal) or minor_age(text)

    def story_then_general_question(self, text: str) -> bool:
        """Several sentences whose wish to have a treatment is told, not asked, and whose last question names
        no one and asks nothing personal ("…一直吵著要帶她去做。…所以外泌體對阿茲海默到底有沒有人體研究？")."""
        segments = split_segments(text)
        questions = [text[s.start : s.end] for s in segments if s.question]
        if len(segments) < 2 or not questions:
            return False
        cues = self.services.cues.found_in(questions[-1])
        return not cues & PERSONAL_QUESTION_CUES

    def other_topic(self, turn: Turn) -> bool:
        """The message is about something the facts never cover: another product or topic (fish oil,
        retinol, the weather), a cell therapy that is explicitly not exosomes, prices, where to buy or book,
        which brand, a use of exosomes such as cancer tests, or an animal patient."""
        text = turn.norm_text or turn.text
        found = self.services.cues.found_in(text)
        about_exosomes = "exosome" in found and "not_exosome" not in found
        if {"prp", "versus_or_with"} <= found:
            return False  # "and vs PRP?", "跟那个PRP比呢": a trial compares the two
        other_product = bool(found & {"other_product", "other_products"})
        if (other_product or "cell_therapy" in found) and not about_exosomes:
            return True
        story = len(text) > STORY_CHARS
        compares = other_product and "versus_or_with" in found and "prp" not in found
        if compares and not story:
            return True  # "is NMN better than exosomes?", "serum with retinol, ok?"
        if story:
            # A story compares, or mentions a price or a shop, in passing ("…and at the till she asked for a
            # discount. My question: …"): only its last question counts.
            questions = [text[seg.start : seg.end] for seg in split_segments(text) if seg.question]
            found = self.services.cues.found_in(questions[-1]) if questions else found
        return bool(found & {"price", "shopping", "other_use", "animal_patient"})

    def small_talk(self, turn: Turn) -> Optional[Reply]:
        """The reply to a greeting, thanks or goodbye that asks nothing ("Good morning, I have a few questions
        about exosomes", "ok 明白 唔該晒"), whatever intent it was given; None for anything else."""
        text = turn.norm_text or turn.text
        found = self.services.cues.found_in(text)
        if (is_question(text) and not announces_questions(text, found)) or self.other_topic(turn):
            return None
        if "thanks_words" in found:
            return self.services.composer.message("greeting", "replies.thanks", turn.lang)
        if "goodbye_words" in found:
            return self.services.composer.message("greeting", "replies.goodbye", turn.lang, suggestions=())
        if "greeting_words" in found:
            return self.services.composer.message("greeting", "replies.greeting", turn.lang)
        return None

    def decline_not_covered(self, turn: Turn) -> Reply:
        """The polite decline of a message the facts never cover, with facts near it as suggestions."""
        reply = self.services.composer.message(
            "out_of_scope", "replies.out_of_scope", turn.lang, suggestions=self.related_suggestions(turn)
        )
        return replace(reply, intent="out_of_scope")

    def decline_medical(self, turn: Turn) -> Reply:
        """The doctor advice, with general evidence offered."""
        reply = self.services.composer.message(
            "out_of_scope", "replies.medical", turn.lang, suggestions=self.related_suggestions(turn)
        )
        return replace(reply, intent="ask_medical_advice")

    @staticmethod
    def remember(turn: Turn, reply: Reply) -> List[Dict[Text, Any]]:
        """Slots for follow-ups: language always; the question, facts and sources after an answer; a hand-off
        (whichever action gave it) waits for a person."""
        events = [SlotSet("lang", reply.lang)]
        if reply.type == "handoff":
            events.append(SlotSet(HANDOFF_SLOT, WAITING))
        if reply.facts and reply.type != "reference":
            events += [
                SlotSet("last_question", turn.norm_text or turn.text),
                SlotSet("last_facts", list(reply.facts)),
                SlotSet("last_refs", list(reply.refs)),
            ]
        return events

    # Helpers shared by several actions ------------------------------------------------------

    def select(self, turn: Turn, follow_up: bool = False, claim_made: bool = False) -> Selection:
        """The fact for the message (learned ranking and keywords), with the previous turn for a follow-up."""
        context = Context(turn.last_question or "", turn.last_facts) if follow_up and turn.last_question else None
        text = turn.norm_text or turn.text
        negated = bool(self.services.claims.negated(text))
        denied = negated or self.services.claims.about_animals(text)
        exosomes = self.services.cues.found("exosome", text)
        ranking, segments = turn.ranking, turn.segments
        asked = self.asked_after_denial(turn) if negated and context is None else None
        if asked is not None:  # "我知吊鹽水唔會返老還童㗎喇 唔使講 我淨係想知做外泌體facial安唔安全"
            text, ranking, segments = asked.get("text") or text, asked.get("ranking") or ranking, ()
        return self.services.selector.select(
            text,
            ranking,
            segments,
            context,
            denied_claim=denied,
            about_exosomes=exosomes,
            claim_made=claim_made,
            asks_if_it_works=self.services.cues.found("asks_if_it_works", text),
            home_product=self.at_home(text),
            general_skin=context is None and self.asks_about_skin_in_general(text),  # not "that study"
            tag_questions=not self.asks_personally(segments),
        )

    def asks_personally(self, segments: Sequence[Mapping[str, Any]]) -> bool:
        """A question sentence names someone or asks for permission, a dose or a situation ("她可以打吗？"): it
        asks something of its own, never a tag on the sentence before it."""
        return any(
            self.services.cues.found_in(seg.get("text") or "") & PERSONAL_QUESTION_CUES
            for seg in segments
            if seg.get("question")
        )

    def asked_after_denial(self, turn: Turn) -> Optional[Dict[str, Any]]:
        """The question sentence after the writer denied the claim ("I know the drip can't make you younger,
        but is the facial safe?"), when it is a sentence of its own about the skin products that denies nothing;
        None otherwise ("…, but the IV itself safe anot?" keeps the drips the whole message is about)."""
        questions = [s for s in turn.segments[1:] if s.get("question") and s.get("text")]
        if not questions or self.services.claims.analyse(questions[-1]["text"]):
            return None
        return questions[-1] if self.services.cues.found("skin_products", questions[-1]["text"]) else None

    def at_home(self, text: str) -> bool:
        """A skin product used at home, with no procedure named, or the procedure set aside ("just 擦擦而已")."""
        found = self.services.cues.found_in(text)
        if "no_procedure" in found:
            return True
        return "home_product" in found and "procedure" not in found

    def asks_about_skin_in_general(self, text: str) -> bool:
        """Whether skin products work or have evidence, with no single study named (platelets, 6 weeks)."""
        found = self.services.cues.found_in(text)
        return bool(found & ASKS_FOR_EVIDENCE) and "names_a_skin_study" not in found

    def specific_answer(self, turn: Turn) -> Optional[Reply]:
        """An answer when the message clearly asks about a fact, else None.

        Used when the intent points elsewhere (fallback, a low-confidence decline, a general medical
        question): "Do exosomes help Parkinson's?" is answered even if its intent came out wrong. The
        bar is higher than for a knowledge question: a specific keyword, or a sure classifier.
        """
        if self.must_decline(turn):
            return None
        selection = self.select(turn)
        if selection.lead is None or not self.services.selector.is_clear(selection):
            return None
        return self.services.composer.from_facts(selection.answered(), turn.lang, offer=selection.offered())

    def related_suggestions(self, turn: Turn) -> Optional[List[str]]:
        """Facts near the message, offered as suggestions by declines; None gives the defaults."""
        selection = self.select(turn)
        near = [c.fact for c in selection.candidates if c.learned >= 0.15 or c.keywords][:3]
        return near or None
