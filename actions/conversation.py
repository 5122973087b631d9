"""Conversation around the answers: greetings, help, goodbyes, hand-off and polite declines."""

from __future__ import annotations

import re
from typing import Optional, Text

from actions.answers import CORRECTION, AnswerMixin
from actions.base import BotAction, Turn
from bot.kb.selection import SKIN_OVERVIEW
from bot.lang import localize, normalize
from bot.nlu.segments import is_question, split_segments
from bot.reply import Reply
from bot.services import Cues


def asks_for_person(cues: Cues, text: str) -> bool:
    """The message asks for a person ("can I talk to a real person?"), not about people in a study ("有冇真人做过?")."""
    return cues.found("human", text) and not cues.found("human_study", text)


# Clauses of a question: punctuation, a space before Chinese words (chat without punctuation), or the words
# that start the question of a run-on sentence ("…打了三次外泌体针他说好贵究竟有没有用").
QUESTION_CLAUSE_BREAK = re.compile(
    r"[，,。.！!？?;；\n]+|\s+(?=[\u4e00-\u9fff])|(?<=[\u4e00-\u9fff])(?=究竟|到底|其实|请问|想问|有没有人|是不是真)"
)

# Asking for permission to have a treatment: a modal, then (in English) perhaps who, then what is done ("can I start
# the serum", "should she do the injections", "她这年纪能打不", "现在能做吗"); not what exosomes can do ("exosome can help
# the knee", "可唔可以医") or what to expect ("应该期望到几多"). Matched on normalised (Simplified, lower-case) text.
HAVE_IT_DONE = re.compile(
    r"\b(?:can|could|should|shall|may)\s+(?:i|she|he|we|they|you|my\s+\w+|her|him)\s+(?:still\s+|also\s+|now\s+)?"
    r"(?:get|do|have|try|start|use|go|take|continue|keep|put|apply|book|inject)\b"
    r"|(?:可以|可唔可以|可不可以|能不能|能否|能|得唔得|应该|应不应该|应唔应该|该不该|要不要|适合|适不适合|啱唔啱)"
    r"\s*(?:[让给帮叫带](?:她|他|佢|我|我们|你)?)?(?:去|再|先|继续|开始|同时)?\s*(?:打|做|用|擦|搽|抹|涂|敷|试|注射|吊|输)"
)

# Below this intent confidence, a greeting or thanks with a question sentence in it answers the question.
SMALL_TALK_SURE = 0.8


class SmallTalk(AnswerMixin, BotAction):
    """Greetings and thanks that carry a real question are answered."""

    small_talk_while_waiting = True

    def rescue(self, turn: Turn) -> Optional[Reply]:
        """An answer when the message also asks a clear question (several words, a question sentence); None
        for a question the facts never cover ("ok so which clinic is actually legit", answered by the caller)."""
        if self.other_topic(turn):
            return None
        short = len(turn.norm_text.split()) < 4 and len(turn.norm_text) < 10
        if short and (not is_question(turn.norm_text) or self.says(turn, "thanks_words")):
            return None  # "thanks!", "ok 👍"; a short question ("所以它算药喔？") is answered below
        if self.must_decline(turn) and is_question(turn.norm_text or turn.text):
            return self.decline_medical(turn)  # "thanks! can my 15-year-old use it?"
        if turn.confidence < SMALL_TALK_SURE and any(s.get("question") for s in turn.segments):
            selection = self.select(turn)
            if selection.lead is not None and selection.none < selection.candidates[0].learned:
                return self.services.composer.from_facts([selection.lead], turn.lang)
        if is_question(turn.norm_text or turn.text):
            return self.answer_in_context(turn)  # "thanks! is it a drug then?"
        return self.specific_answer(turn)

    def says(self, turn: Turn, cues: str) -> bool:
        """True when the message has a word of the cue list (a greeting, a goodbye, thanks)."""
        return self.services.cues.found(cues, turn.norm_text or turn.text)

    def not_small_talk(self, turn: Turn) -> Reply:
        """What the classifier took for a greeting or goodbye but is neither: a follow-up of the previous
        answer ("唔係呀 我講緊搽面嗰隻cream", no, I mean the cream) read in its frame, else the honest decline."""
        return self.follow_up_answer(turn) or self.decline_not_covered(turn)


class ActionGreet(SmallTalk):
    """`greet`: who the bot is and what it answers from."""

    def name(self) -> Text:
        """Action name."""
        return "action_greet"

    def respond(self, turn: Turn) -> Reply:
        """Greeting with the default suggestions; "hi, what are exosomes?" gets the answer, and small
        talk with no greeting in it ("nice weather today") is not taken for one."""
        rescued = self.rescue(turn)
        if rescued is not None:
            return rescued
        if not self.says(turn, "greeting_words"):
            return self.not_small_talk(turn)
        return self.services.composer.message("greeting", "replies.greeting", turn.lang)


class ActionHelp(SmallTalk):
    """`ask_help`: what the bot can answer."""

    def name(self) -> Text:
        """Action name."""
        return "action_help"

    def respond(self, turn: Turn) -> Reply:
        """What the bot covers; an unsure "help" that names a topic ("help with Parkinson's?") is answered,
        one about a price or a shop ("what does a vial run these days?") declined, a short follow-up ("mice
        only ah?") read against the previous answer, and a request for a person handed off."""
        if self.other_topic(turn):
            return self.decline_not_covered(turn)
        answer = self.specific_answer(turn)
        if answer is None and turn.last_facts and self.is_follow_up(turn):
            answer = self.follow_up_answer(turn) or self.restate(turn)
        if answer is None and asks_for_person(self.services.cues, turn.norm_text or turn.text):
            return ActionHandoff(self.services).respond(turn)  # "can i talk to a real person? my mom wants…"
        return answer or self.services.composer.message("greeting", "replies.help", turn.lang)


class ActionGoodbye(SmallTalk):
    """`goodbye`."""

    def name(self) -> Text:
        """Action name."""
        return "action_goodbye"

    def respond(self, turn: Turn) -> Reply:
        """A short goodbye, no suggestions (only when the message says goodbye or thanks); a goodbye that also
        asks a question ("What are they exactly. Thank you") gets the answer."""
        rescued = self.rescue(turn)
        if rescued is not None:
            return rescued
        if not (self.says(turn, "goodbye_words") or self.says(turn, "thanks_words")):
            return self.not_small_talk(turn)
        return self.services.composer.message("greeting", "replies.goodbye", turn.lang, suggestions=())


class ActionThanks(SmallTalk):
    """`thanks`."""

    def name(self) -> Text:
        """Action name."""
        return "action_thanks"

    def respond(self, turn: Turn) -> Reply:
        """You're welcome, with the default suggestions; "thanks! and is it safe?" gets the answer, and a price
        or brand question taken for thanks ("how much 1 session normally") the decline."""
        rescued = self.rescue(turn)
        asks = not self.says(turn, "thanks_words") or is_question(turn.norm_text or turn.text)
        if rescued is None and self.other_topic(turn) and asks:
            return self.not_small_talk(turn)  # "how much 1 session?", "thanks! and your office hours?"
        return rescued or self.services.composer.message("greeting", "replies.thanks", turn.lang)


class ActionHandoff(AnswerMixin, BotAction):
    """`request_human`: the conversation waits for a person of the support team (staff console), and the
    user is told honestly when one will reply: now, within support hours, or in the next ones."""

    def name(self) -> Text:
        """Action name."""
        return "action_handoff"

    def respond(self, turn: Turn) -> Reply:
        """Hand-off note (within or outside support hours); a question that only looked like a request for a
        person ("in humans too?") and clearly asks about a fact is answered instead."""
        text = turn.norm_text or turn.text
        if not self.services.cues.found("human", text) and self.services.cues.found("citation_words", text):
            sources = self.reference_lookup().previous_sources(turn)  # "来源给我一下 我要放限动"
            if sources is not None:
                return sources
        if not asks_for_person(self.services.cues, text):
            # "有冇真人做过?" (done in real people?) asks about the evidence, not for a person.
            answer = self.answer_in_context(turn)
            if answer is not None:
                return answer
            if not self.services.cues.found("human", text):
                # Taken for a request for a person but names none ("轉綠燈 陣間再問", the weather in pinyin).
                if self.must_decline(turn):
                    return self.decline_medical(turn)
                return self.small_talk(turn) or self.decline_not_covered(turn)
        hours = self.services.hours
        lang = turn.lang
        values = {"hours": localize(hours.label, lang)}
        if hours.is_open():
            return self.services.composer.message("handoff", "replies.handoff_open", lang, suggestions=(), **values)
        contact = hours.contact or self.services.texts.get("replies.handoff_contact", lang)
        return self.services.composer.message(
            "handoff", "replies.handoff_closed", lang, suggestions=(), contact=contact, **values
        )


class ActionOutOfScope(AnswerMixin, BotAction):
    """`out_of_scope`: decline and point at what the bot can answer."""

    def name(self) -> Text:
        """Action name."""
        return "action_out_of_scope"

    def respond(self, turn: Turn) -> Reply:
        """Decline, suggesting facts near the message; a message that clearly asks about a fact is answered."""
        if self.must_decline(turn):
            return self.decline_medical(turn)
        rescued = None if self.other_topic(turn) else self.answer_in_context(turn) or self.small_talk(turn)
        return rescued or self.services.composer.message(
            "out_of_scope", "replies.out_of_scope", turn.lang, suggestions=self.related_suggestions(turn)
        )


class ActionMedicalAdvice(AnswerMixin, BotAction):
    """`ask_medical_advice`: decline personal diagnosis or dosing, advise a doctor, offer the evidence."""

    def name(self) -> Text:
        """Action name."""
        return "action_medical_advice"

    def respond(self, turn: Turn) -> Reply:
        """Decline with the doctor advice and related evidence. Dosing, a personal situation (pregnancy, a
        child, medication) or "should I / my mum get it" is always declined; a question that only mentions
        someone ("my son says exosomes lengthen telomeres, true?") and clearly asks about a fact is answered."""
        if self.must_decline(turn):
            return self.decline_medical(turn)
        if self.other_topic(turn):  # a booking, a price, another treatment: not a medical question
            return self.decline_not_covered(turn)
        if CORRECTION.search(turn.norm_text or turn.text):
            corrected = self.follow_up_answer(turn)  # "no I meant the cream she uses, not the shots"
            if corrected is not None:
                return corrected
        if self.is_follow_up(turn):
            conclusion = self.conclusion_of(turn, self.select(turn, follow_up=True))
            if conclusion is not None:  # "so 結論是有用還是沒用 我看不懂", taken for a personal question
                return self.services.composer.from_facts([conclusion], turn.lang)
        text = turn.norm_text or turn.text
        asks = is_question(text) or any(s.get("question") for s in turn.segments)
        if not asks and not self.services.cues.found_in(text) & {"exosome", "domain", "personal"}:
            # "好攰呀 啱啱連開三個鐘百家樂 🥱", "pharmacology exam in 2 weeks, I'm absolutely banjaxed": small talk
            return self.small_talk(turn) or self.decline_not_covered(turn)
        if self.asks_for_someone(text):
            return self.decline_medical(turn)  # "…diabetes, should she do the injections for her knees"
        return (
            self.specific_answer(turn)
            or self.general_answer(turn)
            or self.skin_evidence(turn)
            or self.small_talk(turn)
            or self.decline_medical(turn)
        )

    def skin_evidence(self, turn: Turn) -> Optional[Reply]:
        """Whether a skin product someone uses works ("我闺女买了…精华…这玩意儿真管用吗？"): the skin studies'
        overview, with the note that personal advice is for a doctor; None for anything else."""
        if not self.asks_for_skin_evidence(turn):
            return None
        overview = self.services.kb.fact(SKIN_OVERVIEW)
        return self.services.composer.from_facts([overview], turn.lang, outro_key="replies.medical_note")

    def asks_for_someone(self, text: str) -> bool:
        """The last question clause names someone and asks for permission or a frequency ("should she do
        the injections", "她这年纪能打不"): personal advice, whatever fact the message also names."""
        sentences = [text[s.start : s.end] for s in split_segments(text)]
        asking = [
            (sentence, clause)
            for sentence in sentences
            for clause in QUESTION_CLAUSE_BREAK.split(sentence)
            if clause.strip() and is_question(clause)
        ]
        if not asking:
            return False
        sentence, clause = asking[-1]
        return bool(HAVE_IT_DONE.search(normalize(clause))) and self.services.cues.found("person_words", sentence)

    def general_answer(self, turn: Turn) -> Optional[Reply]:
        """A story about someone followed by a general question ("my nainai keeps saying waimibi… what even
        are those?"): the question itself names no one and asks nothing personal, so the fact that leads the
        selection is given, with the note that personal advice is for a doctor; None otherwise."""
        text = turn.norm_text or turn.text
        segments = split_segments(text)
        questions = [text[s.start : s.end] for s in segments if s.question]
        if not questions:
            return None
        if len(segments) < 2:
            if not self.asks_in_general(text, questions[-1]):
                return None  # one sentence: the story and the question are one ("我今年45了…我可以打吗")
        elif self.services.cues.found_in(questions[-1]) & {"personal", "advice_request", "dosing", "condition"}:
            return None
        selection = self.select(turn)
        if selection.lead is None:
            return None
        return self.services.composer.from_facts(
            selection.answered(), turn.lang, offer=selection.offered(), outro_key="replies.medical_note"
        )

    def asks_in_general(self, text: str, question: str) -> bool:
        """One sentence that mentions someone but asks in general: its question clause names no one, and it
        asks no permission or frequency ("我家姐打咗三次外泌體針 究竟有冇用"; not "我妈膝盖痛 可以打外泌体吗",
        "would it help her")."""
        cues = self.services.cues
        if cues.found_in(text) & {"dosing", "condition", "advice_request", "asks_for_someone"}:
            return False
        pieces = [p for p in QUESTION_CLAUSE_BREAK.split(question) if p.strip()]
        asking = [p for p in pieces if is_question(p)] or pieces
        return bool(asking) and not cues.found("person_words", asking[-1])
