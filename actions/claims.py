"""The claim over several sentences and turns: a question apart from the claim, the claim made across two
messages or asked back, and the further claims (a cure, proof, approval). Mixed into every action."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, List, Optional

from bot.contract import FLAG_DISEASE_CURE
from bot.kb import Fact
from bot.kb.selection import CLAIM_FACTS, SKIN_OVERVIEW
from bot.nlu.segments import is_question
from bot.reply import Reply

from actions.turn import Turn

if TYPE_CHECKING:
    from bot.kb.selection import Selection
    from bot.services import Services

# "Is it true?" this long at most, after a message that made the claim, asks about that claim.
TRUE_QUESTION_MAX_CHARS = 30
# A message that draws a conclusion from the previous answer ("所以是骗人的咯", "so is bluff lah?").
CONCLUDES = re.compile(r"\s*(?:所以|那|那就|即是|即系|咁即系|so|then|so then)\b|\s*(?:所以|那就|即是|即系)")
# A question apart from the claim in the same message: about the skin products' evidence, or about safety
# (the drips the claim is about, unless it names the skin products).
APART_SKIN_FACT, APART_TOPICAL_SAFETY, APART_INJECTION_SAFETY = SKIN_OVERVIEW, "safety.topical", "safety.injection"


class ClaimTurns:
    """How a turn relates to the systemic claim and the further claims (needs the action's services)."""

    @property
    def services(self) -> "Services":
        """The knowledge base, texts and helpers (the action's own)."""
        raise NotImplementedError

    def select(self, turn: Turn, follow_up: bool = False, claim_made: bool = False) -> "Selection":
        """The fact for the message (the action's own selection)."""
        raise NotImplementedError

    def is_personal_medical(self, turn: Turn) -> bool:
        """Whether the message asks personal medical advice (the action's own rule)."""
        raise NotImplementedError

    def check_further_claims(self, turn: Turn, codes: List[str]) -> Reply:
        """A claim of a cure, of proof or of approval: its warning, then what the evidence does show (the
        disease's own fact when the message names one, else the facts data/nlu/claim_codes.yml lists)."""
        rules, kb = self.services.codes, self.services.kb
        selection = self.select(turn)
        chosen: List[str] = []
        for code in codes:
            lead = selection.lead.id if selection.lead is not None else None
            if code == FLAG_DISEASE_CURE and lead in rules.disease_facts:
                chosen.append(lead)
            else:
                chosen.extend(rules.facts.get(code, ()))
        facts = [kb.fact(f) for f in dict.fromkeys(chosen) if f in kb.facts][:3]
        return self.services.composer.from_facts(
            facts,
            turn.lang,
            type="claim_check",
            intro_key="replies.claim_intro",
            flags=codes,
            outro_key="replies.medical_note" if self.is_personal_medical(turn) else None,
        )

    def question_apart_from_claim(self, turn: Turn) -> Optional[Fact]:
        """The fact of a question sentence that makes no claim of its own, in a message that also makes the
        claim ("打外泌體針係咪真係可以逆齡？同埋搽嘅有冇用"): offered with the claim's answer; None without one."""
        for segment in turn.segments:
            text = segment.get("text") or ""
            if not segment.get("question") or self.services.claims.analyse(text):
                continue
            kb, found = self.services.kb, self.services.cues.found_in(text)
            skin = "skin_products" in found
            if skin and found & {"evidence_words", "asks_if_it_works"} and APART_SKIN_FACT in kb.facts:
                return kb.facts[APART_SKIN_FACT]  # "同埋搽嘅有冇用", "擦的那种在人身上有 data 吗"
            ranking = segment.get("ranking") or []
            chosen = self.services.selector.select(text, ranking, about_exosomes=True)
            if chosen.lead is not None and chosen.lead.id == APART_TOPICAL_SAFETY and not skin:
                return kb.facts.get(APART_INJECTION_SAFETY, chosen.lead)  # "and are they even safe": the drips
            if chosen.lead is not None and chosen.lead.id not in CLAIM_FACTS:
                return chosen.lead
        return None

    def asked_apart(self, turn: Turn, fact_id: str) -> bool:
        """True when a question sentence of its own, not the claim's, clearly asks for this fact."""
        if fact_id in CLAIM_FACTS:
            return False
        sure = self.services.selector.weights.compose_sure
        for segment in turn.segments:
            ranking = segment.get("ranking") or []
            if segment.get("question") and ranking and ranking[0]["fact"] == fact_id:
                if float(ranking[0]["confidence"]) >= sure:
                    return True
        return False

    def claim_across_turns(self, turn: Turn) -> bool:
        """The claim made over two messages: the route in the previous one, the whole-body effect in this one;
        or the claim pasted in the previous one and "is it true?" asked in this one."""
        if not turn.previous_text or not turn.norm_text:
            return False
        claims = self.services.claims
        asks_if_true = len(turn.norm_text) <= TRUE_QUESTION_MAX_CHARS and self.asks_back(turn.norm_text)
        if asks_if_true and claims.detect(turn.previous_text):
            # "…净系讲涂面可以令皮肤靓啲 有冇根据": the question is about the skin, not the pasted claim.
            return not claims.about_skin(turn.norm_text)
        route = claims.route_sentence(turn.previous_text)
        if route is None:
            return False
        joined = f"{route}\n{turn.norm_text}"
        hits = [hit for hit in claims.analyse(joined) if not hit.negated and hit.end > len(route) + 1]
        if hits and claims.detect(turn.previous_text):
            if self.services.cues.found("asks_if_worth", turn.norm_text):
                return False  # "那照您这么说 像我们这岁数的 值不值当去弄这个外泌体抗衰": the verdict
            # The previous message made the claim itself: this one says it again only with an effect of its own
            # ("so cannot make younger ah?"), not by naming the route ("Safety data for the IV route?").
            return any(hit.effect in turn.norm_text for hit in hits)
        return bool(hits)

    def asks_back(self, text: str) -> bool:
        """Whether the claim just made is true: "is it true?", "所以是骗人的咯", "so is bluff lah?" (a dismissal
        put as a conclusion or a question). "So it doesn't work then?" asks for the answer's conclusion instead."""
        found = self.services.cues.found_in(text)
        if "is_it_true" in found:
            return True
        concludes = is_question(text) or CONCLUDES.match(text) is not None
        return "dismissal" in found and concludes
