"""Rule-based term matching over a bilingual view of a normalised message.

Chinese is matched character by character (robust to how jieba happens to segment a sentence);
other scripts word by word (the text is already lower case, so ORTH and TEXT suffice).
A term word ending in `*` matches any word starting with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

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
    for text, prefix in term_pieces(term):
        pattern.append({"TEXT": {"REGEX": f"^{re.escape(text)}"}} if prefix else {"ORTH": text})
    return pattern


def term_pieces(term: str) -> tuple[tuple[str, bool], ...]:
    """The pieces of a term, each with whether it matches as a word prefix (a trailing `*`)."""
    pieces: list[tuple[str, bool]] = []
    for chunk in term.split():
        prefix = chunk.endswith("*")
        parts = split(chunk.rstrip("*"))
        for i, piece in enumerate(parts):
            pieces.append((piece.text, prefix and i == len(parts) - 1))
    if not pieces:
        raise ValueError(f"empty term {term!r}: remove it from the data file")
    return tuple(pieces)


# Texts whose hits a matcher keeps (cleared when full): a turn's few texts, many times over.
FIND_CACHE_SIZE = 64


class TermMatcher:
    """Finds labelled terms (and optional raw spaCy token patterns) in normalised text.

    Terms are matched piece by piece in plain Python (the NLU components and the actions share this
    matcher, and the action server need not load spaCy); raw `patterns` use spaCy's Matcher.
    """

    def __init__(
        self,
        terms: Mapping[str, Iterable[str]],
        patterns: Mapping[str, Sequence[list[dict]]] | None = None,
    ) -> None:
        """Compile `terms` (label -> term strings) and extra spaCy `patterns` (label -> patterns)."""
        self._exact: dict[str, list[tuple[tuple[tuple[str, bool], ...], str]]] = {}
        # Terms whose first piece is a prefix (`pregnan*`), by the prefix's first character: a piece is
        # compared only with the prefixes that can start it (every one of them, at each piece, before).
        self._prefixed: dict[str, list[tuple[tuple[tuple[str, bool], ...], str]]] = {}
        for label, words in terms.items():
            for word in words:
                pieces = term_pieces(word)
                if pieces[0][1]:
                    self._prefixed.setdefault(pieces[0][0][:1], []).append((pieces, label))
                else:
                    self._exact.setdefault(pieces[0][0], []).append((pieces, label))
        self._found: dict[str, tuple[Hit, ...]] = {}
        self.matcher = None
        if patterns:
            from spacy.matcher import Matcher
            from spacy.vocab import Vocab

            self.vocab = Vocab()
            self.matcher = Matcher(self.vocab)
            for label, raw in patterns.items():
                self.matcher.add(label, list(raw), greedy="LONGEST")

    @staticmethod
    def _matches(pieces: Sequence[tuple[str, bool]], found: Sequence[Piece], at: int) -> bool:
        if at + len(pieces) > len(found):
            return False
        return all(
            found[at + k].text.startswith(text) if prefix else found[at + k].text == text
            for k, (text, prefix) in enumerate(pieces)
        )

    def find(self, text: str) -> list[Hit]:
        """Every match in `text` (already normalised), overlapping ones included, in text order."""
        # One turn asks about the same text several times (cue groups, a citation request, the claim
        # detector's questions): the hits of the last texts are kept (hits are immutable).
        cached = self._found.get(text)
        if cached is None:
            if len(self._found) >= FIND_CACHE_SIZE:
                self._found.clear()
            cached = self._found[text] = tuple(self._find(text))
        return list(cached)

    def _find(self, text: str) -> list[Hit]:
        pieces = split(text)
        if not pieces:
            return []
        hits = set()
        for i, piece in enumerate(pieces):
            candidates = self._exact.get(piece.text, [])
            prefixed = self._prefixed.get(piece.text[:1])
            if prefixed:
                candidates = candidates + [c for c in prefixed if piece.text.startswith(c[0][0][0])]
            for term, label in candidates:
                if self._matches(term, pieces, i):
                    s, e = piece.start, pieces[i + len(term) - 1].end
                    hits.add(Hit(label, s, e, text[s:e]))
        if self.matcher is not None:
            from spacy.tokens import Doc

            doc = Doc(self.vocab, words=[p.text for p in pieces], spaces=[False] * len(pieces))
            for match_id, start, end in self.matcher(doc):
                s, e = pieces[start].start, pieces[end - 1].end
                hits.add(Hit(self.vocab.strings[match_id], s, e, text[s:e]))
        return sorted(hits, key=lambda h: (h.start, -h.end, h.label))


def longest_non_overlapping(hits: Iterable[Hit]) -> list[Hit]:
    """Keep the longest of overlapping hits (earlier first on ties), in text order."""
    chosen: list[Hit] = []
    for hit in sorted(hits, key=lambda h: (-(h.end - h.start), h.start)):
        if all(hit.end <= c.start or hit.start >= c.end for c in chosen):
            chosen.append(hit)
    return sorted(chosen, key=lambda h: h.start)
