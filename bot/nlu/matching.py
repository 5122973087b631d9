"""Rule-based term matching with spaCy's Matcher over a bilingual view of a normalised message.

Chinese is matched character by character (robust to how jieba happens to segment a sentence);
other scripts word by word (the text is already lower case, so ORTH and TEXT suffice).
A term word ending in `*` matches any word starting with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from spacy.matcher import Matcher
from spacy.tokens import Doc
from spacy.vocab import Vocab

_PIECE = re.compile(
    r"[a-z0-9\u00c0-\u024f]+(?:['’.\-&][a-z0-9\u00c0-\u024f]+)*"  # words, with inner ' . - &
    r"|[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]"  # one Chinese character
    r"|\S"  # any other visible character
)


@dataclass(frozen=True)
class Piece:
    """A unit of the matching view: a word or a single Chinese character, with its offsets."""

    text: str
    start: int
    end: int


@dataclass(frozen=True)
class Hit:
    """A term found in a message: its label, offsets and the matched text."""

    label: str
    start: int
    end: int
    text: str


def split(text: str) -> list[Piece]:
    """Split a normalised text into matching pieces, keeping character offsets."""
    return [Piece(m.group(), m.start(), m.end()) for m in _PIECE.finditer(text)]


def term_pattern(term: str) -> list[dict]:
    """spaCy token pattern for one term of a data file (see data/nlu/lexicon.yml for the syntax)."""
    pattern: list[dict] = []
    for chunk in term.split():
        prefix = chunk.endswith("*")
        pieces = split(chunk.rstrip("*"))
        for i, piece in enumerate(pieces):
            if prefix and i == len(pieces) - 1:
                pattern.append({"TEXT": {"REGEX": f"^{re.escape(piece.text)}"}})
            else:
                pattern.append({"ORTH": piece.text})
    if not pattern:
        raise ValueError(f"empty term {term!r}: remove it from the data file")
    return pattern


class TermMatcher:
    """Finds labelled terms (and optional raw token patterns) in normalised text with spaCy."""

    def __init__(
        self,
        terms: Mapping[str, Iterable[str]],
        patterns: Mapping[str, Sequence[list[dict]]] | None = None,
    ) -> None:
        """Compile `terms` (label -> term strings) and extra spaCy `patterns` (label -> patterns)."""
        self.vocab = Vocab()
        self.matcher = Matcher(self.vocab)
        for label, words in terms.items():
            compiled = [term_pattern(w) for w in words]
            if compiled:
                self.matcher.add(label, compiled)
        for label, raw in (patterns or {}).items():
            self.matcher.add(label, list(raw), greedy="LONGEST")

    def find(self, text: str) -> list[Hit]:
        """Every match in `text` (already normalised), overlapping ones included, in text order."""
        pieces = split(text)
        if not pieces:
            return []
        doc = Doc(self.vocab, words=[p.text for p in pieces], spaces=[False] * len(pieces))
        hits = []
        for match_id, start, end in self.matcher(doc):
            s, e = pieces[start].start, pieces[end - 1].end
            hits.append(Hit(self.vocab.strings[match_id], s, e, text[s:e]))
        return sorted(set(hits), key=lambda h: (h.start, -h.end, h.label))


def longest_non_overlapping(hits: Iterable[Hit]) -> list[Hit]:
    """Keep the longest of overlapping hits (earlier first on ties), in text order."""
    chosen: list[Hit] = []
    for hit in sorted(hits, key=lambda h: (-(h.end - h.start), h.start)):
        if all(hit.end <= c.start or hit.start >= c.end for c in chosen):
            chosen.append(hit)
    return sorted(chosen, key=lambda h: h.start)
