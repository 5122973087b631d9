"""Everything an action needs, built once and handed in (tests pass a small knowledge base)."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Optional

from bot.kb import KnowledgeBase, default_knowledge_base
from bot.kb.retrieval import FactRetriever, keyword_pattern
from bot.lang import normalize
from bot.nlu.lexicon import cue_groups
from bot.nlu.lexicon import cues as load_cues
from bot.reply import ReplyComposer
from bot.texts import Texts, default_texts


@dataclass(frozen=True)
class Cues:
    """Cue words matched like keywords: lexicon.yml's cues (follow-up, all sources, more) and the
    `personal` group of intent_cues.yml (the writer's own body, medication, dosing)."""

    lists: Mapping[str, Iterable[str]]
    _compiled: dict = field(default_factory=dict, compare=False, repr=False)

    def found(self, name: str, text: str) -> bool:
        """True when any cue of list `name` occurs in the (raw) text."""
        if name not in self._compiled:
            self._compiled[name] = [keyword_pattern(c) for c in self.lists[name]]
        norm = normalize(text)
        return any(p.search(norm) for p in self._compiled[name])


@dataclass(frozen=True)
class Services:
    """Knowledge base, texts and the helpers built on them."""

    kb: KnowledgeBase
    texts: Texts
    retriever: FactRetriever
    composer: ReplyComposer
    cues: Cues

    @classmethod
    def build(cls, kb: Optional[KnowledgeBase] = None, texts: Optional[Texts] = None) -> "Services":
        """Services over the given (or the project's) knowledge base and texts."""
        kb = kb or default_knowledge_base()
        texts = texts or default_texts()
        cues = Cues({**load_cues(), "personal": cue_groups()["personal"]})
        return cls(kb, texts, FactRetriever(kb), ReplyComposer(kb, texts), cues)


@functools.lru_cache(maxsize=1)
def default_services() -> Services:
    """The project's services, built once per process."""
    return Services.build()
