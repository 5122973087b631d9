"""Conversation around the answers: greetings, help, goodbyes, hand-off and polite declines."""

from __future__ import annotations

from typing import Text

from actions.base import RESCUE_CONFIDENCE, BotAction, Turn
from bot.reply import Reply


class ActionGreet(BotAction):
    """`greet`: who the bot is and what it answers from."""

    def name(self) -> Text:
        """Action name."""
        return "action_greet"

    def respond(self, turn: Turn) -> Reply:
        """Greeting with the default suggestions."""
        return self.services.composer.message("greeting", "replies.greeting", turn.lang)


class ActionHelp(BotAction):
    """`ask_help`: what the bot can answer."""

    def name(self) -> Text:
        """Action name."""
        return "action_help"

    def respond(self, turn: Turn) -> Reply:
        """What the bot covers; an unsure "help" that names a topic ("help with Parkinson's?") is answered."""
        rescued = self.specific_answer(turn) if turn.confidence < RESCUE_CONFIDENCE else None
        return rescued or self.services.composer.message("greeting", "replies.help", turn.lang)


class ActionGoodbye(BotAction):
    """`goodbye`."""

    def name(self) -> Text:
        """Action name."""
        return "action_goodbye"

    def respond(self, turn: Turn) -> Reply:
        """A short goodbye, no suggestions."""
        return self.services.composer.message("greeting", "replies.goodbye", turn.lang, suggestions=())


class ActionThanks(BotAction):
    """`thanks`."""

    def name(self) -> Text:
        """Action name."""
        return "action_thanks"

    def respond(self, turn: Turn) -> Reply:
        """You're welcome, with the default suggestions."""
        return self.services.composer.message("greeting", "replies.thanks", turn.lang)


class ActionHandoff(BotAction):
    """`request_human`: the bot cannot transfer; it says where people can get help."""

    def name(self) -> Text:
        """Action name."""
        return "action_handoff"

    def respond(self, turn: Turn) -> Reply:
        """Hand-off note."""
        return self.services.composer.message("handoff", "replies.handoff", turn.lang, suggestions=())


class ActionOutOfScope(BotAction):
    """`out_of_scope`: decline and point at what the bot can answer."""

    def name(self) -> Text:
        """Action name."""
        return "action_out_of_scope"

    def respond(self, turn: Turn) -> Reply:
        """Decline, suggesting facts near the message; an unsure decline of a clear topic is answered."""
        rescued = self.specific_answer(turn) if turn.confidence < RESCUE_CONFIDENCE else None
        return rescued or self.services.composer.message(
            "out_of_scope", "replies.out_of_scope", turn.lang, suggestions=self.related_suggestions(turn)
        )


class ActionMedicalAdvice(BotAction):
    """`ask_medical_advice`: decline personal diagnosis or dosing, advise a doctor, offer the evidence."""

    def name(self) -> Text:
        """Action name."""
        return "action_medical_advice"

    def respond(self, turn: Turn) -> Reply:
        """Decline with the doctor advice and related evidence; a question with nothing personal in it
        ("should one try exosomes yet?") that clearly names a topic is answered from the facts instead."""
        if not self.services.cues.found("personal", turn.text):
            general = self.specific_answer(turn)
            if general:
                return general
        return self.services.composer.message(
            "out_of_scope", "replies.medical", turn.lang, suggestions=self.related_suggestions(turn)
        )
