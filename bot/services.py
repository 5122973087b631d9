"""Everything an action needs, built once and handed in (tests pass a small knowledge base)."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Optional

from bot.kb import KnowledgeBase, default_knowledge_base
from bot.kb.retrieval import FactRetriever
from bot.kb.selection import FactSelector
from bot.lang import normalize
from bot.nlu.claim_codes import CodeRules, default_code_rules
from bot.nlu.claim_detector import ClaimDetector
from bot.nlu.lexicon import cue_groups
from bot.nlu.lexicon import cues as load_cues
from bot.nlu.matching import TermMatcher
from bot.reply import ReplyComposer
from bot.staff.hours import SupportHours
from bot.texts import Texts, default_texts


_WORD = re.compile(r"[^\W_]")  # a letter, digit or Chinese character


@dataclass(frozen=True)
class Cues:
    """Cue words the actions look for: lexicon.yml's cues (follow-up, all sources, more, dosing, ...) and
    the groups of intent_cues.yml (personal, exosome, other_product, ...). Matched by the same term
    matcher as the NLU components, so `pregnan*` means every word starting with "pregnan" here too."""

    lists: Mapping[str, Iterable[str]]
    _matcher: dict = field(default_factory=dict, compare=False, repr=False)

    def _compiled(self) -> TermMatcher:
        if "matcher" not in self._matcher:
            self._matcher["matcher"] = TermMatcher({name: list(terms) for name, terms in self.lists.items()})
        return self._matcher["matcher"]

    def found_in(self, text: str) -> set[str]:
        """Names of the lists with a cue in the text (raw or normalised)."""
        # A turn asks about the same text several times: normalize() and the matcher keep their results.
        return {hit.label for hit in self._compiled().find(normalize(text))}

    def consists_of(self, names: Iterable[str], text: str) -> bool:
        """True when the text has a cue of the lists `names` and nothing else but punctuation and emoji."""
        wanted = set(names)
        if not wanted & self.found_in(text):
            return False
        return not _WORD.search(self.blanked(wanted, text))

    def blanked(self, names: Iterable[str], text: str) -> str:
        """The normalised text with the cues of the lists `names` replaced by spaces."""
        wanted = set(names)
        norm = normalize(text)
        rest = list(norm)
        for hit in self._compiled().find(norm):
            if hit.label in wanted:
                rest[hit.start : hit.end] = [" "] * (hit.end - hit.start)
        return "".join(rest)

    def found(self, name: str, text: str) -> bool:
        """True when any cue of list `name` occurs in the text."""
        if name not in self.lists:
            raise KeyError(f"no cue list {name!r}; add it to data/nlu/lexicon.yml (cues) or intent_cues.yml.")
        return name in self.found_in(text)


@dataclass(frozen=True)
class Services:
    """Knowledge base, texts and the helpers built on them."""

    kb: KnowledgeBase
    texts: Texts
    retriever: FactRetriever
    selector: FactSelector
    composer: ReplyComposer
    cues: Cues
    claims: ClaimDetector
    hours: SupportHours
    codes: CodeRules

    @classmethod
    def build(
        cls, kb: Optional[KnowledgeBase] = None, texts: Optional[Texts] = None, hours: Optional[SupportHours] = None
    ) -> "Services":
        """Services over the given (or the project's) knowledge base, texts and support hours."""
        kb = kb or default_knowledge_base()
        texts = texts or default_texts()
        action_cues = load_cues()
        cues = Cues({**cue_groups(), **action_cues})
        retriever = FactRetriever(kb)
        return cls(
            kb,
            texts,
            retriever,
            FactSelector(kb, retriever, contrast=action_cues.get("contrast_not", ())),
            ReplyComposer(kb, texts),
            cues,
            ClaimDetector(),
            hours or SupportHours.load(),
            default_code_rules(),
        )


@functools.lru_cache(maxsize=1)
def default_services() -> Services:
    """The project's services, built once per process."""
    return Services.build()
