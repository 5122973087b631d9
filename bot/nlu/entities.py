"""Rule-based entity extraction over both languages with spaCy's Matcher."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, List, Optional, Text

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import ENTITIES
from rasa.shared.nlu.training_data.message import Message

from bot.kb import KnowledgeBase, load_knowledge_base
from bot.lang import normalize
from bot.nlu.base import MessageComponent, normalized_text, original_span
from bot.nlu.lexicon import entity_terms, journal_groups
from bot.nlu.matching import Hit, TermMatcher, longest_non_overlapping

_CN_DIGITS = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_EN_NUMBERS = (
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty"
).split()
_NUM = r"^(\d{1,3}|[零一二两三四五六七八九十]|" + "|".join(_EN_NUMBERS) + ")$"
_REF_WORD = r"^(ref|refs|reference|references|citation|citations|source|sources|paper|papers|study|studies|article|no|nr|number)$"
_PMID = re.compile(r"(?<!\d)(\d{8})(?!\d)")
_DOI = re.compile(r"\b10\.\d{4,9}/[^\s,;，。]+", re.IGNORECASE)

# Token patterns for reference numbers: "reference 6", "ref #6", "[6]", "#6", "第六篇", "文献6", "6号文献".
REFERENCE_PATTERNS: list[list[dict]] = [
    [
        {"TEXT": {"REGEX": _REF_WORD}},
        {"ORTH": {"IN": ["number", "no", "no.", "#", "nr", "."]}, "OP": "*"},
        {"TEXT": {"REGEX": _NUM}},
    ],
    [{"ORTH": "["}, {"TEXT": {"REGEX": r"^\d{1,3}$"}}, {"ORTH": "]"}],
    [{"ORTH": "#"}, {"TEXT": {"REGEX": r"^\d{1,3}$"}}],
    [{"ORTH": "第"}, {"TEXT": {"REGEX": _NUM}, "OP": "+"}],
    [
        {"ORTH": "文"},
        {"ORTH": "献"},
        {"ORTH": {"IN": ["[", "第", "#", "编", "号"]}, "OP": "*"},
        {"TEXT": {"REGEX": _NUM}, "OP": "+"},
    ],
    [{"TEXT": {"REGEX": _NUM}, "OP": "+"}, {"ORTH": {"IN": ["号", "篇"]}}],
]
NUMBER_PATTERNS: list[list[dict]] = [[{"TEXT": {"REGEX": r"^\d{1,3}$"}}]]
# After a bare number, a unit that makes it a quantity ("6 weeks", "3次", "two sessions"), not a reference number.
_QUANTITY_UNIT = re.compile(
    r"\s*(?:weeks?|wks?|days?|months?|mths?|years?|yrs?|hours?|hrs?|minutes?|mins?|times?|sessions?|vials?|shots?"
    r"|ml|mg|cc|kg|cm|%|周|星期|礼拜|天|日|个|月|年|次|岁|支|瓶|针|小时|分钟|毫升|毫克|倍|疗程|人|位)(?![a-z])",
    re.IGNORECASE,
)
# After "第N", words that make it an ordinal of something other than a reference.
_ORDINAL_OF_OTHER = re.compile(r"\s*(?:作者|位|个|次|天|年|期|步|代|阶段|批|组|周|针|疗程|轮|条|点|种)")


def number_value(text: str) -> Optional[int]:
    """The number written in a matched span: digits, Chinese numerals (一..九十九) or English words."""
    digits = re.findall(r"\d+", text)
    if digits:
        return int(digits[-1])
    for i, word in enumerate(_EN_NUMBERS, start=1):
        if re.search(rf"\b{word}\b", text):
            return i
    chars = [c for c in text if c in _CN_DIGITS or c == "十"]
    if not chars:
        return None
    if "十" not in chars:
        return _CN_DIGITS[chars[-1]]
    i = chars.index("十")
    tens = _CN_DIGITS.get(chars[i - 1], 1) if i > 0 else 1
    ones = _CN_DIGITS.get(chars[i + 1], 0) if i + 1 < len(chars) else 0
    return tens * 10 + ones


def _author_terms(kb: KnowledgeBase) -> dict[str, list[str]]:
    """Surname -> terms; short or common surnames only count with an initial or "et al"."""
    terms: dict[str, set[str]] = {}
    for ref in kb.references.values():
        surname, initial = normalize(ref.surname), normalize(ref.initials)
        forms = {f"{surname} {initial}", f"{surname} et al"}
        if len(surname) >= 4 and surname not in {"park"}:
            forms.add(surname)
        terms.setdefault(surname, set()).update(forms)
    return {f"author:{s}": sorted(f) for s, f in terms.items()}


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=True)
class LexiconEntityExtractor(MessageComponent, EntityExtractorMixin):
    """Finds cell sources, routes, body areas, references, journals, authors, PMIDs and DOIs.

    Terms come from data/nlu/lexicon.yml and from the knowledge base's reference list; matching
    runs on the normalised text, so Traditional, full-width and upper-case input all match.
    """

    own_files = {"lexicon_path": "nlu/lexicon.yml", "facts_dir": "facts"}

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """Returns the component's default config."""
        return {
            # Term file; None uses data/nlu/lexicon.yml.
            "lexicon_path": None,
            # Fact folder whose references.yml gives journals and authors; None uses data/facts.
            "facts_dir": None,
        }

    def __init__(self, config: Dict[Text, Any], kb: Optional[KnowledgeBase] = None) -> None:
        """Compiles the matchers from the lexicon and the knowledge base's references."""
        lexicon = Path(config["lexicon_path"]) if config.get("lexicon_path") else None
        facts_dir = Path(config["facts_dir"]) if config.get("facts_dir") else None
        self.kb = kb or load_knowledge_base(facts_dir)
        terms = dict(entity_terms(lexicon))
        groups = journal_groups(lexicon)
        known = {name for group in groups for name in group}
        for ref in self.kb.references.values():
            if normalize(ref.journal) not in known:
                raise ValueError(
                    f"{lexicon or 'data/nlu/lexicon.yml'}: journal {ref.journal!r} of reference {ref.n} "
                    f"is in no 'journals' group. Add [{normalize(ref.journal)}, ...] to the file."
                )
        for group in groups:
            terms[f"journal:{group[0]}"] = group
        terms.update(_author_terms(self.kb))
        self.matcher = TermMatcher(terms, patterns={"reference": REFERENCE_PATTERNS, "number": NUMBER_PATTERNS})

    def _entity(self, hit: Hit, entity: str, value: Any) -> Dict[Text, Any]:
        return {
            "entity": entity,
            "value": value,
            "start": hit.start,
            "end": hit.end,
            "confidence_entity": 1.0,
            "extractor": self.__class__.__name__,
        }

    def extract(self, norm_text: str) -> List[Dict[Text, Any]]:
        """Entities found in a normalised text, longest match first, without overlaps."""
        entities = []
        for hit in longest_non_overlapping(self.matcher.find(norm_text)):
            if hit.label in ("reference", "number"):
                n = number_value(hit.text)
                if hit.text.startswith("第") and _ORDINAL_OF_OTHER.match(norm_text, hit.end):
                    continue  # "第一作者" (first author), "第二次": an ordinal of something else
                if hit.label == "reference" and hit.text.replace(" ", "") == "一篇":
                    continue  # "有一篇 Nature Aging 的研究": a paper, not reference 1 (that is "第一篇", "1号")
                if hit.label == "number" and _QUANTITY_UNIT.match(norm_text, hit.end):
                    continue  # "6 weeks only??": a duration, not reference 6
                if n is not None:
                    entities.append(self._entity(hit, hit.label, str(n)))
                continue
            entity, _, value = hit.label.partition(":")
            entities.append(self._entity(hit, entity, value))
        for pattern, entity in ((_PMID, "pmid"), (_DOI, "doi")):
            for m in pattern.finditer(norm_text):
                hit = Hit(entity, m.start(), m.end(), m.group())
                entities.append(self._entity(hit, entity, m.group().rstrip(".").lower()))
        entities = [e for e in entities if not (e["entity"] == "number" and _inside_other(e, entities))]
        return sorted(entities, key=lambda e: e["start"])

    def process_message(self, message: Message) -> None:
        """Adds the entities to the message."""
        norm = normalized_text(message)
        if norm is not None:
            found = self.add_extractor_name(self.extract(norm))
            for entity in found:
                entity["start"], entity["end"] = original_span(message, entity["start"], entity["end"])
            message.set(ENTITIES, message.get(ENTITIES, []) + found, add_to_output=True)


def _inside_other(entity: Dict[Text, Any], entities: List[Dict[Text, Any]]) -> bool:
    return any(
        o is not entity and o["entity"] != "number" and o["start"] <= entity["start"] and entity["end"] <= o["end"]
        for o in entities
    )
