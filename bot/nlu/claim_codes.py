"""The further claim flags (data/nlu/claim_codes.yml): a disease cured in people, overstated proof, official
approval. Independent of Rasa: used by the NLU component (bot/nlu/claims.py) and testable on its own.

A code is raised for a clause that holds its trigger, in a message about exosomes, when the writer asserts
it or quotes someone (a reporting word, quotation marks, or a clause that is not a question), unless a
negation right before the trigger denies it or the sentence is about animal studies. Plain questions about
the research ("Is any exosome product FDA approved?", "有没有副作用？") are not claims.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import yaml

from bot.contract import FLAG_APPROVAL, FLAG_DISEASE_CURE, FLAG_OVERSTATED_PROOF
from bot.nlu.claim_detector import _SENTENCE_END, _spans
from bot.nlu.lexicon import flatten_terms, term_file
from bot.nlu.matching import Hit, TermMatcher
from bot.nlu.segments import is_question
from bot.paths import nlu_file

_ROLES = (
    "cure",
    "outcome",
    "disease",
    "proof",
    "proof_exceptions",
    "approval",
    "approval_exceptions",
    "subject",
    "other_subject",
    "exosome",
    "reporting",
    "negation",
    "negation_exceptions",
    "animal",
    "human",
    "debunk",
)
_CLAUSE_BREAK = re.compile(r"[，,、:：]|但是|不过|可是|\bbut\b|\bhowever\b")
_QUOTES = "「」『』“”\"'《》"
# Most characters between a cure verb and its disease ("治好了我妈的帕金森", "reverses early Alzheimer's"):
# Chinese, English (words are longer).
_PAIR_GAP = {"zh": 12, "en": 40}
# A product word that is what a claim says is raised ("boosts collagen", "促进胶原蛋白"), not a product.
_BOOSTED = re.compile(r"(?:boost\w*|increas\w*|stimulat\w*|促进|提升|增加|刺激)\s*$")
# A product word that the claim says is no longer needed ("胰岛素都停掉了"), not a product claimed about.
_STOPPED = re.compile(r"\s*(?:都|也|就|已经)?(?:停|不用|戒)")
# Most characters from a disease to an outcome told later in its sentence (across clauses).
_OUTCOME_GAP = {"zh": 32, "en": 90}
# A negation counts when it ends this close before the trigger ("不能治好", "is not FDA approved").
_NEGATION_GAP = {"zh": 10, "en": 28}
_LATIN = re.compile(r"[a-z]")


def _script(text: str) -> str:
    """ "en" for a stretch written in Latin letters, else "zh"."""
    return "en" if _LATIN.search(text) and not re.search(r"[\u4e00-\u9fff]", text) else "zh"


@dataclass(frozen=True)
class CodeHit:
    """One raised code and the span of the trigger that raised it."""

    code: str
    start: int
    end: int
    trigger: str

    def as_dict(self, text: str, span: Optional[tuple[int, int]] = None) -> Dict[str, object]:
        """The flag as stored on the message; `span` is its place in the user's text (default: as found)."""
        start, end = span or (self.start, self.end)
        return {"code": self.code, "start": start, "end": end, "text": text[start:end]}


@dataclass(frozen=True)
class CodeRules:
    """The term lists of data/nlu/claim_codes.yml and the facts shown for each code."""

    terms: Dict[str, List[str]]
    facts: Dict[str, List[str]]
    disease_facts: List[str]

    @classmethod
    def load(cls, path: Optional[Path] = None) -> "CodeRules":
        """Read and check the rule file."""
        path = path or nlu_file("claim_codes.yml")
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        missing = [role for role in _ROLES if role not in data]
        if missing:
            raise ValueError(f"{path}: the roles {missing} are missing; add them (zh and en term lists).")
        codes = data.get("codes") or {}
        for code in (FLAG_DISEASE_CURE, FLAG_OVERSTATED_PROOF, FLAG_APPROVAL):
            if not (codes.get(code) or {}).get("facts"):
                raise ValueError(f"{path}: codes.{code}.facts must list the facts shown with that flag.")
        return cls(
            terms={role: flatten_terms(path, role, data[role]) for role in _ROLES},
            facts={code: list(entry["facts"]) for code, entry in codes.items()},
            disease_facts=list((codes.get(FLAG_DISEASE_CURE) or {}).get("disease_facts") or []),
        )


@term_file("claim_codes.yml")
def _code_rules(path: Path) -> CodeRules:
    return CodeRules.load(path)


def default_code_rules() -> CodeRules:
    """The rules of the data folder being read (data/nlu/claim_codes.yml), read once."""
    return _code_rules(None)


def _around(spans: Sequence[tuple[int, int]], position: int) -> tuple[int, int]:
    return next((s for s in spans if s[0] <= position <= s[1]), spans[-1])


class CodeDetector:
    """Finds the three further claims in a normalised message."""

    def __init__(self, rules: Optional[CodeRules] = None) -> None:
        """Compile the rules' term lists into one matcher."""
        self.rules = rules or default_code_rules()
        self.matcher = TermMatcher(self.rules.terms)

    def detect(self, norm_text: str) -> List[CodeHit]:
        """Each code raised by the message, once, in order of appearance."""
        hits = self.matcher.find(norm_text)
        by_role: Dict[str, List[Hit]] = {role: [] for role in _ROLES}
        for hit in hits:
            by_role[hit.label].append(hit)
        about_exosomes = bool(by_role["exosome"]) or (bool(by_role["subject"]) and not by_role["other_subject"])
        if not about_exosomes:
            return []
        if any(not is_question(_sentence_of(norm_text, h)) for h in by_role["debunk"]):
            return []  # "【辟谣】外泌体治好糖尿病是假消息！！"
        sentences = _spans(norm_text, _SENTENCE_END)
        exceptions = by_role["proof_exceptions"]
        candidates = [
            (FLAG_OVERSTATED_PROOF, h)
            for h in by_role["proof"]
            if not any(x.start <= h.start < x.end or h.start <= x.start < h.end for x in exceptions)
        ]
        excluded = by_role["approval_exceptions"]
        candidates += [
            (FLAG_APPROVAL, h) for h in by_role["approval"] if not any(_same_clause(norm_text, h, x) for x in excluded)
        ]
        candidates += [(FLAG_DISEASE_CURE, pair) for pair in self._cures(norm_text, by_role)]
        found: Dict[str, CodeHit] = {}
        for code, trigger in sorted(candidates, key=lambda c: c[1].start):
            if code == FLAG_DISEASE_CURE and not self._exosomes_named_by(norm_text, trigger, by_role, sentences):
                continue  # "我妈妈乳癌治疗结束两年了，她可以去做外泌体保养吗": the treatment is not the exosomes'
            if code not in found and self._asserted(norm_text, trigger, by_role, sentences):
                found[code] = CodeHit(code, trigger.start, trigger.end, trigger.text)
        return list(found.values())

    @staticmethod
    def _cures(text: str, by_role: Dict[str, List[Hit]]) -> List[Hit]:
        """A cure verb and a disease in one clause, close together, in either order; or a disease and, later
        in the same sentence, an outcome told as a result ("帕金森十年了，做了外泌体，现在手不抖了",
        "after the exosome drip his tremor is gone"), which may lie a clause or two further on."""
        pairs = []
        for verb in by_role["cure"]:
            for disease in by_role["disease"]:
                lo, hi = (verb, disease) if verb.start <= disease.start else (disease, verb)
                if lo.end > hi.start or hi.start - lo.end > _PAIR_GAP[_script(text[lo.start : hi.end])]:
                    continue
                if _CLAUSE_BREAK.search(text, lo.end, hi.start) or _SENTENCE_END.search(text, lo.end, hi.start):
                    continue
                pairs.append(Hit("cure", lo.start, hi.end, text[lo.start : hi.end]))
        for outcome in by_role["outcome"]:
            for disease in by_role["disease"]:
                if disease.end > outcome.start:
                    continue
                stretch = text[disease.start : outcome.end]  # mixed Chinese and English counts as English
                if outcome.start - disease.end > _OUTCOME_GAP["en" if _LATIN.search(stretch) else "zh"]:
                    continue
                if _SENTENCE_END.search(text, disease.end, outcome.start):
                    continue
                pairs.append(Hit("cure", outcome.start, outcome.end, text[disease.start : outcome.end]))
        return pairs

    def _asserted(
        self, text: str, trigger: Hit, by_role: Dict[str, List[Hit]], sentences: List[tuple[int, int]]
    ) -> bool:
        """The writer states the trigger or quotes someone who does, and does not deny it."""
        sentence = _around(sentences, trigger.start)
        clause = _around(_spans(text, _CLAUSE_BREAK, *sentence), trigger.start)
        inside = lambda role, span: [h for h in by_role[role] if span[0] <= h.start < span[1]]  # noqa: E731
        if inside("animal", sentence) and not inside("human", sentence):
            return False  # about the mouse studies
        products = [
            h
            for h in inside("other_subject", clause)
            if not _BOOSTED.search(text, 0, h.start) and not _STOPPED.match(text, h.end)
        ]
        if products and not inside("exosome", clause):
            return False  # another product's claim ("左旋多巴可以治疗帕金森", "this retinol is clinically proven")
        if self._about_other_product(text, trigger, by_role):
            return False  # "Botox (FDA approved) ... exosome facials also available": Botox is the one approved
        following = next((s for s in sentences if s[0] >= sentence[1]), None)
        reported = [h for h in inside("reporting", sentence) if h.start < trigger.end]
        if following is not None and not inside("negation", following):
            # "Is it true exosomes reverse heart failure? The clinic's website says so." (not "… says it isn't")
            reported += inside("reporting", following)
        skip = inside("negation_exceptions", clause)
        negations = [
            n
            for n in inside("negation", clause)
            if n.start < trigger.start
            and trigger.start - n.end <= _NEGATION_GAP[_script(text[n.start : trigger.end])]
            # "没有获批" denies "获批"
            and not any(x.start <= n.start < x.end for x in skip)
        ]
        if negations:  # the writer, or the one quoted, denies it ("the seller said it is not approved")
            return False
        if reported or self._quoted(text, trigger, sentence):
            return True
        # No one is quoted: a statement is a claim, a question about the research is not.
        return not is_question(text[clause[0] : min(clause[1] + 1, len(text))])

    @staticmethod
    def _exosomes_named_by(
        text: str, trigger: Hit, by_role: Dict[str, List[Hit]], sentences: List[tuple[int, int]]
    ) -> bool:
        """True when exosomes (or the product talked about) are named in the trigger's sentence no later than
        the end of its clause, or in the sentence after it: they are what cures or brought the outcome, not a
        treatment named before them."""
        sentence = _around(sentences, trigger.start)
        clause = _around(_spans(text, _CLAUSE_BREAK, *sentence), trigger.start)
        named = by_role["exosome"] + by_role["subject"]
        if any(sentence[0] <= h.start < clause[1] for h in named):
            return True
        # A headline, then its subject: "肾衰竭不用再透析了！外泌体修复肾细胞……"
        following = next((s for s in sentences if s[0] >= sentence[1]), None)
        return following is not None and any(following[0] <= h.start < following[1] for h in named)

    @staticmethod
    def _about_other_product(text: str, trigger: Hit, by_role: Dict[str, List[Hit]]) -> bool:
        """True when the product named last before the trigger is another product, not exosomes, and no
        exosome is named in that product's own clause (an ad listing a collagen drink "clinically proven"
        and, further on, an exosome cream; but "exosomes beat hyaluronic acid, clinically proven" stays: exosomes are
        named with the other product, before the claim)."""
        others = [h for h in by_role["other_subject"] if not _STOPPED.match(text, h.end)]  # not "胰岛素都停了"
        named = [h for h in others + by_role["exosome"] if h.end <= trigger.start]
        if not named:
            return False
        last = max(named, key=lambda h: h.start)
        if last.label != "other_subject":
            return False
        return not any(e.end <= trigger.start and _same_clause(text, last, e) for e in by_role["exosome"])

    @staticmethod
    def _quoted(text: str, trigger: Hit, sentence: tuple[int, int]) -> bool:
        before = text[sentence[0] : trigger.start]
        return sum(before.count(q) for q in _QUOTES) % 2 == 1


def _sentence_of(text: str, hit: Hit) -> str:
    """The sentence around a hit."""
    start, end = _around(_spans(text, _SENTENCE_END), hit.start)
    return text[start : min(end + 1, len(text))]


def _same_clause(text: str, a: Hit, b: Hit) -> bool:
    """True when no sentence end or clause break lies between the two hits."""
    lo, hi = (a, b) if a.start <= b.start else (b, a)
    return not (_SENTENCE_END.search(text, lo.end, hi.start) or _CLAUSE_BREAK.search(text, lo.end, hi.start))
