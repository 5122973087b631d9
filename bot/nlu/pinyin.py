"""Pinyin helpers of the rewriter: pinyin-only messages back to Chinese characters, and homophone
slips (外密体 for 外泌体) corrected to the key terms they sound like. Readings come from `pypinyin`;
the words and characters a pinyin message is converted to come from our own data."""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from collections import Counter
from typing import Callable, Iterable, Mapping, Optional, Sequence, cast

from pypinyin import Style, lazy_pinyin
from pypinyin.pinyin_dict import pinyin_dict

_LATIN_WORD = re.compile(r"[a-z]+")
# The longest pinyin syllable has 6 letters (zhuang, chuang, shuang).
_MAX_SYLLABLE = 6
# Cost of a single character against a whole word: words are preferred.
_CHAR_COST = 1.35


def _toneless(reading: str) -> str:
    reading = reading.replace("ü", "v").replace("ǖ", "v").replace("ǘ", "v").replace("ǚ", "v").replace("ǜ", "v")
    return "".join(c for c in unicodedata.normalize("NFD", reading) if not unicodedata.combining(c))


@functools.lru_cache(maxsize=1)
def syllables() -> frozenset[str]:
    """Every toneless pinyin syllable of pypinyin's dictionary (`lv` for lü)."""
    found = set()
    for readings in pinyin_dict.values():
        for reading in readings.split(","):
            syllable = _toneless(reading.strip())
            if syllable.isalpha() and syllable.isascii():
                found.add(syllable)
    found -= {"hm", "hng", "m", "n", "ng"}
    return frozenset(found)


@functools.lru_cache(maxsize=65536)
def char_readings(char: str) -> frozenset[str]:
    """All toneless readings of one Chinese character (empty for anything else)."""
    readings = pinyin_dict.get(ord(char))
    if not readings:
        return frozenset()
    return frozenset(_toneless(r.strip()) for r in readings.split(","))


@functools.lru_cache(maxsize=65536)
def primary_reading(char: str) -> str:
    """The usual toneless reading of one Chinese character ("" for anything else)."""
    readings = pinyin_dict.get(ord(char))
    return _toneless(readings.split(",")[0].strip()) if readings else ""


def split_syllables(word: str) -> Optional[list[str]]:
    """Split letters into pinyin syllables (fewest pieces), or None when they are not pinyin."""
    known = syllables()
    best: list[Optional[list[str]]] = [None] * (len(word) + 1)
    best[0] = []
    for end in range(1, len(word) + 1):
        for start in range(max(0, end - _MAX_SYLLABLE), end):
            piece = word[start:end]
            if best[start] is not None and piece in known:
                candidate = best[start] + [piece]  # type: ignore[operator]
                if best[end] is None or len(candidate) < len(best[end]):  # type: ignore[arg-type]
                    best[end] = candidate
    return best[len(word)]


class PinyinConverter:
    """Converts the pinyin runs of a Latin-only message into Chinese words of our vocabulary."""

    def __init__(self, vocabulary: Optional[Mapping[str, int]] = None) -> None:
        """`vocabulary`: Chinese word -> frequency; None is built from our data on first use."""
        self._vocabulary = vocabulary
        self._words: Optional[dict[str, tuple[int, str]]] = None
        self._chars: Optional[dict[str, str]] = None

    def _index(self) -> tuple[dict[str, tuple[int, str]], dict[str, str]]:
        if self._words is None or self._chars is None:
            vocabulary = self._vocabulary if self._vocabulary is not None else default_vocabulary()
            words: dict[str, tuple[int, str]] = {}
            char_counts: Counter[tuple[str, str]] = Counter()
            for word, frequency in vocabulary.items():
                readings = lazy_pinyin(word, style=Style.NORMAL, errors="ignore")
                if len(readings) != len(word):
                    continue
                key = "".join(readings)
                if key not in words or words[key][0] < frequency:
                    words[key] = (frequency, word)
                for char, reading in zip(word, readings):
                    char_counts[(reading, char)] += frequency
            chars: dict[str, tuple[int, str]] = {}
            for (reading, char), count in char_counts.items():
                if reading not in chars or chars[reading][0] < count:
                    chars[reading] = (count, char)
            self._words = words
            self._chars = {reading: char for reading, (_, char) in chars.items()}
        return self._words, self._chars

    def to_chinese(self, letters: str) -> Optional[str]:
        """The most likely Chinese text for a string of pinyin letters, or None."""
        pieces = self.pieces(letters)
        return "".join(hanzi for _, _, hanzi in pieces) if pieces is not None else None

    def pieces(self, letters: str) -> Optional[list[tuple[int, int, str]]]:
        """(start, end, Chinese) for each word of the most likely reading of pinyin letters, or None."""
        words, chars = self._index()
        n = len(letters)
        best: list[Optional[tuple[float, list[tuple[int, int, str]]]]] = [None] * (n + 1)
        best[0] = (0.0, [])
        for end in range(1, n + 1):
            for start in range(max(0, end - 24), end):
                if best[start] is None:
                    continue
                piece = letters[start:end]
                options = []
                if piece in words:
                    options.append((1.0, words[piece][1]))
                if piece in chars:
                    options.append((_CHAR_COST, chars[piece]))
                for cost, hanzi in options:
                    total = best[start][0] + cost  # type: ignore[index]
                    if best[end] is None or total < best[end][0]:  # type: ignore[index]
                        best[end] = (total, best[start][1] + [(start, end, hanzi)])  # type: ignore[index]
        return cast(tuple[float, list[tuple[int, int, str]]], best[n])[1] if best[n] else None

    def edits(self, text: str, is_english: Callable[[str], bool]) -> list[tuple[int, int, str]]:
        """Replacements of a Latin-only text's pinyin runs by Chinese, when the text is pinyin."""
        tokens = list(_LATIN_WORD.finditer(text))
        if not tokens:
            return []
        capable = [len(t.group()) >= 2 and split_syllables(t.group()) is not None for t in tokens]
        english = [is_english(t.group()) for t in tokens]
        sure = [t.group() for t, c, e in zip(tokens, capable, english) if c and not e]
        counted = [i for i, t in enumerate(tokens) if len(t.group()) >= 2]
        ratio = sum(capable[i] for i in counted) / max(len(counted), 1)
        distinctive = bool(sure) and max(len(w) for w in sure) >= 5
        if not (ratio >= 0.6 and (len(sure) >= 2 or distinctive) or ratio == 1.0 and sure and len(counted) >= 3):
            return []
        edits: list[tuple[int, int, str]] = []
        run: list[int] = []

        def close() -> None:
            if not run:
                return
            letters = "".join(tokens[i].group() for i in run)
            positions = [p for i in run for p in range(tokens[i].start(), tokens[i].end())]
            pieces = self.pieces(letters)
            if pieces:
                # One edit per word, from its first letter to the next word's (spaces between go).
                starts = [positions[a] for a, _, _ in pieces] + [positions[-1] + 1]
                for (a, b, hanzi), next_start in zip(pieces, starts[1:]):
                    end = positions[b - 1] + 1
                    edits.append((positions[a], end, hanzi))
                    if end < next_start and text[end:next_start].strip() == "":
                        edits.append((end, next_start, ""))
            run.clear()

        for i, token in enumerate(tokens):
            keep_english = (
                english[i]
                and not capable[i]
                or (english[i] and len(token.group()) >= 5 and split_syllables(token.group()) is None)
            )
            gap = text[tokens[run[-1]].end() : token.start()] if run else ""
            if capable[i] and not keep_english and (not run or gap.strip() == ""):
                run.append(i)
            else:
                close()
                if capable[i] and not keep_english:
                    run.append(i)
        close()
        return edits


class HomophoneIndex:
    """Finds runs of characters that read exactly like a key term but are not words themselves."""

    def __init__(self, terms: Sequence[str]) -> None:
        """Index the key terms by every combination of their characters' readings."""
        self.terms = tuple(terms)
        self.by_key: dict[tuple[str, ...], str] = {}
        for term in terms:
            for key in itertools.islice(itertools.product(*(sorted(char_readings(c)) for c in term)), 64):
                self.by_key.setdefault(key, term)
        self.lengths = sorted({len(t) for t in terms}, reverse=True)

    def find(self, run: str, is_word: Callable[[str], bool]) -> list[tuple[int, int, str]]:
        """(start, end, term) for each slip in a run of Chinese characters, left to right."""
        found = []
        i = 0
        while i < len(run):
            for length in self.lengths:
                window = run[i : i + length]
                if len(window) < length:
                    continue
                term = self._match(window)
                if term is None or term == window:
                    continue
                differing = sum(a != b for a, b in zip(window, term))
                if differing > (1 if length <= 3 else 2) or is_word(window):
                    continue
                found.append((i, i + length, term))
                i += length
                break
            else:
                i += 1
        return found

    def _match(self, window: str) -> Optional[str]:
        # The slip is a character whose usual reading is the intended one (些 is xiē, never 衰's suō).
        key = tuple(primary_reading(c) for c in window)
        return self.by_key.get(key) if all(key) else None


def default_vocabulary() -> dict[str, int]:
    """Chinese words of our data (facts, term lists, jieba dictionary, variants), with frequencies."""
    from bot.nlu.vocabulary import chinese_vocabulary

    return chinese_vocabulary()


def words_of(texts: Iterable[str]) -> Counter[str]:
    """Word counts of Chinese texts, segmented with jieba."""
    import jieba

    counts: Counter[str] = Counter()
    for text in texts:
        for word in jieba.lcut(text):
            if re.fullmatch(r"[\u3400-\u9fff]+", word):
                counts[word] += 1
    return counts
