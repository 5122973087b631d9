"""Exosome evidence bot: knowledge base, bilingual NLU components, channels and tools."""
