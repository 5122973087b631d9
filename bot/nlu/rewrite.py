"""Rewrite a normalised message the way our data is written: look-alike letters, Cantonese and regional
terms, homophone slips, English typos and pinyin-only messages (rules in data/nlu/variants.yml).

The rewritten text may differ in length from the user's message, so it carries, for every character,
the span of the user's message it stands for: offsets found in the rewritten text are mapped back with
`Rewritten.original_span`.
"""

from __future__ import annotations

import functools
import gzip
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping, Optional, Sequence

import yaml

from bot.lang import has_cjk, normalize
from bot.nlu import pinyin as pinyin_module
from bot.paths import nlu_file

Span = tuple[int, int]
Edit = tuple[int, int, str]  # replace text[start:end] by the string

_WORD = re.compile(r"[a-z0-9\u00c0-\u024f\u0370-\u03ff\u0400-\u04ff@$]+(?:['’][a-z]+)?")
_LATIN_WORD = re.compile(r"[a-z]+(?:['’][a-z]+)?")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_HAN_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_SPACED_LETTERS = re.compile(r"(?<![a-z])(?:[a-z] ){3,}[a-z](?![a-z])")
_ZERO_WIDTH = re.compile(r"[\u200b-\u200f\u2060\ufeff\u00ad]")

# Cyrillic and Greek letters that look like Latin ones (after lower-casing).
_CONFUSABLES = str.maketrans(
    {
        "а": "a",
        "в": "b",
        "е": "e",
        "ё": "e",
        "к": "k",
        "м": "m",
        "н": "h",
        "о": "o",
        "р": "p",
        "с": "c",
        "т": "t",
        "у": "y",
        "х": "x",
        "і": "i",
        "ї": "i",
        "ј": "j",
        "ѕ": "s",
        "ԁ": "d",
        "ɡ": "g",
        "ӏ": "l",
        "α": "a",
        "β": "b",
        "ε": "e",
        "η": "n",
        "ι": "i",
        "κ": "k",
        "ν": "v",
        "ο": "o",
        "ρ": "p",
        "τ": "t",
        "υ": "u",
        "χ": "x",
        "ω": "w",
        "ѵ": "v",
    }
)
# Digits and signs written for letters ("ex0s0me", "y0unger"); 1 may be i or l.
_LEET = {"0": ("o",), "1": ("i", "l"), "3": ("e",), "4": ("a",), "5": ("s",), "7": ("t",), "@": ("a",), "$": ("s",)}


class VariantsError(ValueError):
    """The variants file is invalid; the message names the file, the entry and the fix."""


@dataclass(frozen=True)
class Rewritten:
    """A rewritten message: its text, the user's span behind each character, and what changed."""

    text: str
    spans: tuple[Span, ...]
    changes: tuple[tuple[str, str], ...] = ()
    pinyin: bool = False

    def original_span(self, start: int, end: int) -> Span:
        """The span of the user's message behind `text[start:end]`."""
        return map_span(self.spans, start, end)


def map_span(spans: Optional[Sequence[Sequence[int]]], start: int, end: int) -> Span:
    """The user's span behind `[start, end)` of a rewritten text, given its per-character spans."""
    if not spans:
        return start, end
    if start >= len(spans):
        return spans[-1][1], spans[-1][1]
    if end <= start:
        return spans[start][0], spans[start][0]
    return spans[start][0], spans[min(end, len(spans)) - 1][1]


def identity(text: str) -> Rewritten:
    """A text that was not rewritten."""
    return Rewritten(text, tuple((i, i + 1) for i in range(len(text))))


def apply_edits(current: Rewritten, edits: Sequence[Edit]) -> Rewritten:
    """Apply non-overlapping edits to a rewritten text, keeping every character's original span."""
    if not edits:
        return current
    text, spans = current.text, current.spans
    out: list[str] = []
    out_spans: list[Span] = []
    changes = list(current.changes)
    position = 0
    for start, end, replacement in sorted(edits):
        if start < position:
            continue  # overlapping edit: the earlier one wins
        out.append(text[position:start])
        out_spans.extend(spans[position:start])
        if end > start:
            covered = (spans[start][0], spans[end - 1][1])
        else:
            covered = (spans[start][0], spans[start][0]) if start < len(spans) else (len(text), len(text))
        out.append(replacement)
        out_spans.extend([covered] * len(replacement))
        changes.append((text[start:end], replacement))
        position = end
    out.append(text[position:])
    out_spans.extend(spans[position:])
    return Rewritten("".join(out), tuple(out_spans), tuple(changes), current.pinyin)


class _Trie:
    """Longest-match replacement of Chinese keys (a key mapped to itself protects it)."""

    def __init__(self, table: Mapping[str, str]) -> None:
        self.table = dict(table)
        self.longest = max((len(k) for k in table), default=0)

    def edits(self, text: str) -> list[Edit]:
        found: list[Edit] = []
        i = 0
        while i < len(text):
            for length in range(min(self.longest, len(text) - i), 0, -1):
                key = text[i : i + length]
                if key in self.table:
                    if self.table[key] != key:
                        found.append((i, i + length, self.table[key]))
                    i += length
                    break
            else:
                i += 1
        return found


@functools.lru_cache(maxsize=1)
def english_words() -> frozenset[str]:
    """English word forms known to spaCy's lookup tables (lemmas and their inflections)."""
    import spacy_lookups_data

    folder = Path(spacy_lookups_data.__file__).parent / "data"
    with gzip.open(folder / "en_lemma_lookup.json.gz", "rt", encoding="utf-8") as f:
        lookup = json.load(f)
    with gzip.open(folder / "en_lemma_index.json.gz", "rt", encoding="utf-8") as f:
        index = json.load(f)
    words = set(lookup) | set(lookup.values()) | {w for forms in index.values() for w in forms}
    return frozenset(w.lower() for w in words if w.isascii())


def _damerau_within(a: str, b: str, limit: int) -> bool:
    from rapidfuzz.distance import DamerauLevenshtein

    return DamerauLevenshtein.distance(a, b, score_cutoff=limit) <= limit


@dataclass
class Variants:
    """The rewriting rules of data/nlu/variants.yml plus the domain vocabulary they correct towards."""

    zh_table: dict[str, str]
    homophone_terms: tuple[str, ...]
    en_phrases: dict[str, str]
    en_known: frozenset[str]
    en_context: tuple[dict, ...]
    domain_en: frozenset[str] = frozenset()
    domain_zh: frozenset[str] = frozenset()

    @classmethod
    def load(
        cls, path: Optional[Path] = None, domain_en: Iterable[str] = (), domain_zh: Iterable[str] = ()
    ) -> "Variants":
        """Read and check the variants file; `domain_*` are the words typos are corrected towards."""
        path = path or nlu_file("variants.yml")
        with path.open(encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
        zh_table: dict[str, str] = {}
        for section in ("cantonese", "hokkien_zhuyin", "regional", "zh_typos"):
            for key, value in (data.get(section) or {}).items():
                key, value = str(key), "" if value is None else str(value)
                if normalize(key) != key or normalize(value) != value:
                    raise VariantsError(
                        f"{path}: '{section}' entry {key!r}: {value!r} is not in normal form; "
                        f"write {normalize(key)!r}: {normalize(value)!r}."
                    )
                zh_table[key] = value
        en_phrases = {str(k).lower(): str(v).lower() for k, v in (data.get("en_phrases") or {}).items()}
        terms = tuple(str(t) for t in data.get("zh_homophone_terms") or ())
        for term in terms:
            if normalize(term) != term or not has_cjk(term):
                raise VariantsError(f"{path}: zh_homophone_terms entry {term!r} must be Simplified Chinese.")
        context = tuple(data.get("en_context") or ())
        for rule in context:
            if not isinstance(rule, dict) or not {"word", "to"} <= set(rule):
                raise VariantsError(f"{path}: en_context entry {rule!r} needs 'word' and 'to'.")
        return cls(
            zh_table=zh_table,
            homophone_terms=terms,
            en_phrases=en_phrases,
            en_known=frozenset(str(w).lower() for w in data.get("en_known") or ()),
            en_context=context,
            domain_en=frozenset(w for w in domain_en if w.isascii() and w.isalpha()),
            domain_zh=frozenset(domain_zh),
        )


class Rewriter:
    """Turns a normalised message into the canonical text that every component and action reads."""

    def __init__(self, variants: Variants, chinese_vocabulary: Optional[Mapping[str, int]] = None) -> None:
        """`chinese_vocabulary` (word -> frequency) converts pinyin; None builds it from our data."""
        self.variants = variants
        self.trie = _Trie(variants.zh_table)
        self.phrase_pattern = (
            re.compile(
                r"(?<![a-z0-9'])("
                + "|".join(re.escape(p) for p in sorted(variants.en_phrases, key=len, reverse=True))
                + r")(?![a-z0-9'])"
            )
            if variants.en_phrases
            else None
        )
        self.known = english_words() | variants.en_known | variants.domain_en
        self.domain_by_length: dict[int, list[str]] = {}
        for word in sorted(variants.domain_en):
            if len(word) >= 4:
                self.domain_by_length.setdefault(len(word), []).append(word)
        self.homophones = pinyin_module.HomophoneIndex(variants.homophone_terms)
        self.pinyin = pinyin_module.PinyinConverter(chinese_vocabulary)
        self._jieba_words: Optional[Callable[[str], bool]] = None

    # -- stages ---------------------------------------------------------------------------------

    def rewrite(self, norm_text: str) -> Rewritten:
        """All stages in order; each sees the previous stage's text."""
        result = identity(norm_text)
        for stage in (self._invisible, self._lookalikes, self._pinyin, self._english, self._chinese, self._homophones):
            result = stage(result)
        return result

    @staticmethod
    def _invisible(current: Rewritten) -> Rewritten:
        return apply_edits(current, [(m.start(), m.end(), "") for m in _ZERO_WIDTH.finditer(current.text)])

    def _lookalikes(self, current: Rewritten) -> Rewritten:
        text = current.text
        edits: list[Edit] = []
        for m in _WORD.finditer(text):
            word = m.group()
            fixed = word.translate(_CONFUSABLES)
            if not fixed.isascii() and not word.isascii() and re.search(r"[a-z]", word) is None:
                fixed = word  # a whole word in another alphabet is left alone
            if any(c.isdigit() or c in "@$" for c in fixed) and any(c.isalpha() for c in fixed):
                fixed = self._unleet(fixed)
            if fixed != word and fixed:
                edits.append((m.start(), m.end(), fixed))
        current = apply_edits(current, edits)
        # "e x o s o m e": single letters with single spaces, joined when that makes a known word.
        edits = []
        for m in _SPACED_LETTERS.finditer(current.text):
            joined = m.group().replace(" ", "")
            if joined in self.known or self._closest(joined):
                edits.append((m.start(), m.end(), joined))
        return apply_edits(current, edits)

    def _unleet(self, word: str) -> str:
        if word in self.known or re.fullmatch(r"[0-9$@]+[a-z]{0,2}|[a-z]{1,2}[0-9]+", word):
            return word  # "3d", "b12", "10x", "2024": numbers, not disguised letters
        candidates = [""]
        for char in word:
            options = _LEET.get(char, (char,))
            candidates = [c + o for c in candidates for o in options][:16]
        for candidate in candidates:
            if candidate in self.known:
                return candidate
        for candidate in candidates:
            if self._closest(candidate):
                return candidate
        return word

    def _pinyin(self, current: Rewritten) -> Rewritten:
        if has_cjk(current.text):
            return current
        edits = self.pinyin.edits(current.text, is_english=self._is_english)
        if not edits:
            return current
        converted = apply_edits(current, edits)
        return Rewritten(converted.text, converted.spans, converted.changes, pinyin=True)

    def _is_english(self, word: str) -> bool:
        return word in self.known or len(word) >= 6 and bool(self._closest(word))

    def _english(self, current: Rewritten) -> Rewritten:
        if self.phrase_pattern is not None:
            current = apply_edits(
                current,
                [
                    (m.start(), m.end(), self.variants.en_phrases[m.group()])
                    for m in self.phrase_pattern.finditer(current.text)
                ],
            )
        words = list(_LATIN_WORD.finditer(current.text))
        edits: list[Edit] = []
        for i, m in enumerate(words):
            word = m.group()
            before = words[i - 1].group() if i > 0 else ""
            after = words[i + 1].group() if i + 1 < len(words) else ""
            replacement = self._context_fix(word, before, after)
            if replacement is None and word not in self.known and "'" not in word:
                replacement = self._closest(word)
            if replacement and replacement != word:
                edits.append((m.start(), m.end(), replacement))
        return apply_edits(current, edits)

    def _context_fix(self, word: str, before: str, after: str) -> Optional[str]:
        for rule in self.variants.en_context:
            if rule["word"] != word:
                continue
            if "before" in rule and after not in rule["before"]:
                continue
            if "after" in rule and before not in rule["after"]:
                continue
            return str(rule["to"])
        return None

    @functools.lru_cache(maxsize=4096)
    def _closest(self, word: str) -> Optional[str]:
        """The one domain word within a small edit distance of an unknown word (typos), else None."""
        if len(word) < 4 or not word.isalpha():
            return None
        limit = 1 if len(word) <= 7 else 2
        found = set()
        for length in range(len(word) - limit, len(word) + limit + 1):
            for candidate in self.domain_by_length.get(length, ()):
                if candidate[0] != word[0] and candidate[:2] != word[:2][::-1]:
                    continue  # a typo rarely changes the first letter
                if _damerau_within(word, candidate, limit):
                    found.add(candidate)
        if len(found) == 1:
            return found.pop()
        # Several: prefer the closest, when only one is closest.
        if found:
            from rapidfuzz.distance import DamerauLevenshtein

            ranked = sorted((DamerauLevenshtein.distance(word, c), c) for c in found)
            if ranked[0][0] < ranked[1][0]:
                return ranked[0][1]
        return None

    def _chinese(self, current: Rewritten) -> Rewritten:
        if not has_cjk(current.text):
            return current
        return apply_edits(current, self.trie.edits(current.text))

    def _homophones(self, current: Rewritten) -> Rewritten:
        if not has_cjk(current.text):
            return current
        is_word = self._is_chinese_word
        edits = []
        for run in _HAN_RUN.finditer(current.text):
            for start, end, term in self.homophones.find(run.group(), is_word):
                edits.append((run.start() + start, run.start() + end, term))
        return apply_edits(current, edits)

    def _is_chinese_word(self, text: str) -> bool:
        if text in self.variants.domain_zh:
            return True
        if self._jieba_words is None:
            import jieba

            jieba.dt.check_initialized()
            frequencies = jieba.dt.FREQ
            self._jieba_words = lambda w: frequencies.get(w, 0) > 0
        return self._jieba_words(text)


def domain_vocabulary(texts: Iterable[str]) -> tuple[set[str], set[str]]:
    """English words and Chinese words (terms) found in our data texts and term lists."""
    english: set[str] = set()
    chinese: set[str] = set()
    for text in texts:
        text = normalize(text).rstrip("*")
        if has_cjk(text):
            if len(text) >= 2 and _HAN_RUN.fullmatch(text):
                chinese.add(text)
            continue
        for word in _LATIN_WORD.findall(text):
            if len(word) >= 4:
                english.add(word)
                english.add(word + "s")
    return english, chinese
