"""Answers from curated facts: knowledge questions, follow-ups, claim checks, low-confidence messages."""

from __future__ import annotations

from typing import List, Optional, Text

from actions.base import BotAction, Turn
from bot.kb import Fact
from bot.kb.retrieval import Match
from bot.reply import Reply
from bot.services import Services

# A second fact joins the answer when it scores at least this share of the best one on other words.
SECOND_FACT_SHARE = 0.75
# Messages up to this many characters may refer to the previous question ("那安全吗？", "and skin?").
SHORT_MESSAGE = 16


class AnswerMixin:
    """Fact selection shared by the answering actions."""

    services: Services

    def is_follow_up(self, turn: Turn) -> bool:
        """The message leans on the previous answer (a cue word, or short, with a previous question)."""
        if not turn.last_question:
            return False
        return self.services.cues.found("follow_up", turn.text) or len(turn.text.strip()) <= SHORT_MESSAGE

    def select(self, turn: Turn) -> List[Fact]:
        """The most specific fact(s) for the message; the previous question helps a follow-up."""
        context = turn.last_question if self.is_follow_up(turn) else None
        ranked = self.services.retriever.rank(turn.text, context=context, limit=3)
        ranked = [m for m in ranked if m.keywords]
        if not ranked:
            return []
        best = ranked[0]
        chosen = [best.fact]
        for other in ranked[1:2]:
            if _adds_something(best, other) and other.score >= SECOND_FACT_SHARE * best.score:
                chosen.append(other.fact)
        return chosen

    def answer(self, turn: Turn, **kwargs: object) -> Optional[Reply]:
        """An answer from the selected facts, or the next fact for "tell me more", or None."""
        facts = self.select(turn)
        if facts:
            return self.services.composer.from_facts(facts, turn.lang, **kwargs)
        if self.is_follow_up(turn) and turn.last_facts:
            following = self.services.retriever.next_unseen(turn.last_facts)
            if following:
                return self.services.composer.from_facts([following], turn.lang, **kwargs)
            last = self.services.kb.fact(turn.last_facts[-1])
            offered = self.services.composer.follow_ups([last], exclude=turn.last_facts)
            return self.services.composer.message("out_of_scope", "replies.more_none", turn.lang, suggestions=offered)
        return None


def _adds_something(best: Match, other: Match) -> bool:
    return other.fact.topic != best.fact.topic or not set(other.keywords) <= set(best.keywords)


class ActionAnswer(AnswerMixin, BotAction):
    """`ask_knowledge`: the most specific curated fact, or an honest "my facts don't cover that"."""

    def name(self) -> Text:
        """Action name."""
        return "action_answer"

    def respond(self, turn: Turn) -> Reply:
        """Answer from facts, or decline with pointers."""
        return self.answer(turn) or self.services.composer.message(
            "out_of_scope", "replies.not_covered", turn.lang
        )


class ActionCheckClaim(AnswerMixin, BotAction):
    """`check_claim`: what the evidence says about a quoted claim (flagged claims are handled first)."""

    def name(self) -> Text:
        """Action name."""
        return "action_check_claim"

    def respond(self, turn: Turn) -> Reply:
        """Weigh the claim against the facts it touches, or say the facts don't cover it."""
        return self.answer(turn, type="claim_check", intro_key="replies.claim_intro") or (
            self.services.composer.message("out_of_scope", "replies.not_covered", turn.lang)
        )


class ActionFallback(AnswerMixin, BotAction):
    """Low NLU confidence: answer when a specific fact clearly matches, otherwise say so and suggest."""

    def name(self) -> Text:
        """Action name."""
        return "action_fallback"

    def respond(self, turn: Turn) -> Reply:
        """A clear keyword match is answered; anything else gets the fallback reply."""
        return self.specific_answer(turn) or self.services.composer.message("fallback", "replies.fallback", turn.lang)
