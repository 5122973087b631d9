"""The curated knowledge base: typed facts and references loaded from `data/facts/`."""

from bot.kb.loader import KnowledgeBaseError, default_knowledge_base, load_knowledge_base
from bot.kb.models import Fact, KnowledgeBase, Reference, Topic

__all__ = [
    "Fact",
    "KnowledgeBase",
    "KnowledgeBaseError",
    "Reference",
    "Topic",
    "default_knowledge_base",
    "load_knowledge_base",
]
