"""Typed, immutable objects of the knowledge base: references, topics and facts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional


@dataclass(frozen=True)
class Reference:
    """One numbered reference of the source article, exactly as the article prints it."""

    n: int
    authors: str
    title: str
    journal: str
    year: int
    doi: str
    pmid: str
    level: str

    @property
    def first_author(self) -> str:
        """First author as printed, without "et al."."""
        return self.authors.removesuffix("et al.").strip()

    @property
    def surname(self) -> str:
        """First author's surname as printed, without initials (`Chen`, `Flores Rodríguez`)."""
        return self.first_author.rpartition(" ")[0]

    @property
    def initials(self) -> str:
        """First author's initials as printed (`X`)."""
        return self.first_author.rpartition(" ")[2]

    @property
    def short(self) -> str:
        """Short form used in replies, e.g. `Chen X et al., Nature Aging 2024`."""
        return f"{self.authors}, {self.journal} {self.year}"

    @property
    def doi_url(self) -> str:
        """Resolver address of the DOI."""
        return f"https://doi.org/{self.doi}"

    @property
    def pubmed_url(self) -> str:
        """PubMed address of the PMID."""
        return f"https://pubmed.ncbi.nlm.nih.gov/{self.pmid}/"

    def citation(self) -> dict:
        """The contract's citation object."""
        return {"ref": self.n, "pmid": self.pmid, "doi": self.doi, "short": self.short}


@dataclass(frozen=True)
class Passage:
    """A passage of the source article a fact restates: its section heading, a verbatim quote, its markers."""

    section: str
    quote: str
    refs: tuple[int, ...] = ()


@dataclass(frozen=True)
class Topic:
    """A group of facts; its id is the payload's `topic`."""

    id: str
    title: Mapping[str, str]


@dataclass(frozen=True)
class Fact:
    """One curated statement with its evidence level, references and bilingual text."""

    id: str
    topic: str
    kind: str
    level: str
    refs: tuple[int, ...]
    question: Mapping[str, str]
    keywords: Mapping[str, tuple[str, ...]]
    text: Mapping[str, str]
    related: tuple[str, ...] = ()
    weak_keywords: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    source: tuple[Passage, ...] = ()
    source_file: str = field(default="", compare=False)

    @property
    def is_advice(self) -> bool:
        """True for practical advice and the verdict (payload type `advice`)."""
        return self.kind == "advice"


@dataclass(frozen=True)
class KnowledgeBase:
    """All references, topics and facts, validated; build it with `bot.kb.load_knowledge_base`."""

    references: Mapping[int, Reference]
    topics: Mapping[str, Topic]
    facts: Mapping[str, Fact]

    def fact(self, fact_id: str) -> Fact:
        """The fact with this id (KeyError names the id when unknown)."""
        return self.facts[fact_id]

    def reference(self, n: int) -> Optional[Reference]:
        """Reference number `n`, or None when the article has no such number."""
        return self.references.get(n)

    def facts_of_topic(self, topic_id: str) -> list[Fact]:
        """Facts of a topic, in file order (the first one leads)."""
        return [f for f in self.facts.values() if f.topic == topic_id]

    def facts_citing(self, n: int) -> list[Fact]:
        """Facts that cite reference `n`."""
        return [f for f in self.facts.values() if n in f.refs]
