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
NON_ANSWER_TYPES: frozenset[str] = frozenset({"greeting", "fallback", "out_of_scope", "handoff", "input_error"})

FLAG_SYSTEMIC_INJECTION = "unsupported_systemic_injection_claim"
# Further codes (issue 18, listed in the contract with their triggers): a disease cured in people, where the
# article has animal data only; overstated proof ("clinically proven", "no side effects"), where it reports
# small, short studies; official approval, where it describes a regulatory grey zone.
FLAG_DISEASE_CURE = "unsupported_disease_cure_claim"
FLAG_OVERSTATED_PROOF = "overstated_proof_claim"
FLAG_APPROVAL = "regulatory_approval_claim"
FLAG_CODES: tuple[str, ...] = (FLAG_SYSTEMIC_INJECTION, FLAG_DISEASE_CURE, FLAG_OVERSTATED_PROOF, FLAG_APPROVAL)

MAX_MESSAGE_CHARS = 2000

# Feedback on an answer (contract 1.1, section 3): the two ratings and the length of the optional reason.
RATINGS: tuple[str, ...] = ("helpful", "not_helpful")
# Replies users may rate (every answer, and the "not covered" kinds staff most need to hear about): the
# widget's and the messaging apps' feedback buttons appear under these.
RATED_TYPES: frozenset[str] = frozenset(
    {"answer", "reference", "claim_check", "advice", "fallback", "out_of_scope", "handoff"}
)
FEEDBACK_SLOT = "feedback"  # stored as this slot's SlotSet event (domain.yml, bot/feedback.py)
MAX_REASON_CHARS = 500


def strongest_level(levels: list[str]) -> str:
    """Return the strongest of the given evidence levels (contract order)."""
    return min(levels, key=LEVELS.index)
