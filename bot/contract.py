"""Names fixed by the response contract (shared/CONTRACT.md, version 1.1): types, levels, flag codes."""

from __future__ import annotations

CONTRACT_VERSION = 1

# Evidence levels, strongest first.
LEVELS: tuple[str, ...] = (
    "systematic_review",
    "human_trial",
    "human_uncontrolled",
    "animal",
    "in_vitro",
    "review",
    "article_assessment",
    "no_evidence",
)

TYPES: tuple[str, ...] = (
    "answer",
    "reference",
    "claim_check",
    "advice",
    "greeting",
    "fallback",
    "out_of_scope",
    "handoff",
    "input_error",
)

# Types that are not answers: they carry no evidence, citations or flags.
NON_ANSWER_TYPES: frozenset[str] = frozenset(
    {"greeting", "fallback", "out_of_scope", "handoff", "input_error"}
)

FLAG_SYSTEMIC_INJECTION = "unsupported_systemic_injection_claim"
FLAG_CODES: tuple[str, ...] = (FLAG_SYSTEMIC_INJECTION,)

MAX_MESSAGE_CHARS = 2000

# Feedback on an answer (contract 1.1, section 3): the two ratings and the length of the optional reason.
RATINGS: tuple[str, ...] = ("helpful", "not_helpful")
FEEDBACK_SLOT = "feedback"  # stored as this slot's SlotSet event (domain.yml, bot/feedback.py)
MAX_REASON_CHARS = 500


def strongest_level(levels: list[str]) -> str:
    """Return the strongest of the given evidence levels (contract order)."""
    return min(levels, key=LEVELS.index)
