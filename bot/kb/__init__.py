"""The curated knowledge base: typed facts and references loaded from `data/facts/`."""

from bot.kb.loader import KnowledgeBaseError, default_knowledge_base, load_knowledge_base
from bot.kb.models import Fact, KnowledgeBase, Passage, Reference, Topic

__all__ = [
    "Fact",
    "KnowledgeBase",
    "KnowledgeBaseError",
    "Passage",
    "Reference",
    "Topic",
    "default_knowledge_base",
    "load_knowledge_base",
]
