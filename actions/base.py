"""Shared machinery of our actions: read the turn, guard the input, reply, remember context."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot import guard
from bot.contract import FLAG_SYSTEMIC_INJECTION
from bot.lang import LANGS, detect_script
from bot.reply import Reply
from bot.services import Services, default_services

CLAIM_FACT = "claims.systemic_injection"
# Below this intent confidence, a decline (help, out of scope) gives way to a clearly matching fact.
RESCUE_CONFIDENCE = 0.7


@dataclass(frozen=True)
class Turn:
    """The user's latest message as our actions see it, with the context of the previous answer."""

    text: str
    lang: str
    intent: Optional[str]
    confidence: float
    entities: tuple[dict, ...]
    flags: tuple[str, ...]
    problem: Optional[str]
    last_question: Optional[str]
    last_facts: tuple[str, ...]
    last_refs: tuple[int, ...]
    last_level: Optional[str]

    @classmethod
    def from_tracker(cls, tracker: Tracker, default_lang: str) -> "Turn":
        """Build from a tracker; works without our NLU properties too (then they are recomputed)."""
        message = tracker.latest_message or {}
        text = message.get("text") or ""
        problem = message["input_problem"] if "input_problem" in message else guard.inspect(text)
        previous_lang = tracker.get_slot("lang")
        lang = (
            message.get("lang")
            or detect_script(guard.blank_markup(text))
            or (previous_lang if previous_lang in LANGS else None)
            or default_lang
        )
        intent = message.get("intent") or {}
        return cls(
            text=text,
            lang=lang,
            intent=intent.get("name"),
            confidence=float(intent.get("confidence") or 0.0),
            entities=tuple(message.get("entities") or ()),
            flags=tuple(dict.fromkeys(f["code"] for f in message.get("flags") or ())),
            problem=problem,
            last_question=tracker.get_slot("last_question"),
            last_facts=tuple(tracker.get_slot("last_facts") or ()),
            last_refs=tuple(int(n) for n in tracker.get_slot("last_refs") or ()),
            last_level=tracker.get_slot("last_level"),
        )

    def values(self, entity: str) -> List[str]:
        """Values of one entity type, in message order, without repeats."""
        return list(dict.fromkeys(str(e["value"]) for e in self.entities if e.get("entity") == entity))


class BotAction(Action, metaclass=abc.ABCMeta):
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

    @abc.abstractmethod
    def name(self) -> Text:
        """The action's name in domain.yml."""

    @abc.abstractmethod
    def respond(self, turn: Turn) -> Reply:
        """The reply to a readable message without a flagged claim."""

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[Dict[Text, Any]]:
        """Reply once with text and payload; return the slot events that keep the context."""
        turn = Turn.from_tracker(tracker, self.services.texts.default_lang)
        reply = self.reply_to(turn).with_confidence(turn.confidence, turn.intent)
        text, payload = self.services.composer.render(reply)
        dispatcher.utter_message(text=text, json_message=payload)
        return self.remember(turn, reply)

    def reply_to(self, turn: Turn) -> Reply:
        """Input problems and flagged claims take precedence over the action's own answer."""
        composer = self.services.composer
        if turn.problem:
            return composer.message("input_error", f"input_errors.{turn.problem}", turn.lang, suggestions=())
        if FLAG_SYSTEMIC_INJECTION in turn.flags:
            return composer.from_facts(
                [self.services.kb.fact(CLAIM_FACT)], turn.lang,
                type="claim_check", intro_key="replies.claim_intro", flags=[FLAG_SYSTEMIC_INJECTION],
            )
        return self.respond(turn)

    @staticmethod
    def remember(turn: Turn, reply: Reply) -> List[Dict[Text, Any]]:
        """Slots for follow-ups: language always; the question, facts and sources after an answer."""
        events = [SlotSet("lang", reply.lang)]
        if reply.refs and reply.type != "reference":
            events += [
                SlotSet("last_question", turn.text),
                SlotSet("last_facts", list(reply.facts)),
                SlotSet("last_refs", list(reply.refs)),
                SlotSet("last_level", reply.level),
            ]
        return events

    # Helpers shared by several actions ------------------------------------------------------

    def specific_answer(self, turn: Turn) -> Optional[Reply]:
        """An answer when the message clearly names a specific fact's subject, else None.

        Used when the classifier is unsure (fallback, or a low-confidence decline): a message such
        as "Do exosomes help Parkinson's?" is answered even if its intent came out wrong.
        """
        best = self.services.retriever.best(turn.text)
        if best is None or best.score < self.services.retriever.specific_score:
            return None
        return self.services.composer.from_facts([best.fact], turn.lang)

    def related_suggestions(self, turn: Turn) -> Optional[List[str]]:
        """Facts matching the message, offered as suggestions by declines; None gives the defaults."""
        matches = self.services.retriever.rank(turn.text, limit=3)
        return [m.fact.id for m in matches if m.keywords] or None
