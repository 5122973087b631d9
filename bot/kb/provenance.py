"""Provenance of facts: each passage is a verbatim quote of the source article, under its section, with the
citation markers the article attaches to that sentence; levels agree with the designs of the references.

The rules (documented for editors in `data/facts/README.md`):

- Quotes are compared with the article with all whitespace removed (line wrapping, spaces between Chinese
  and Latin words); every other character, punctuation included, must be copied as the article writes it.
- A heading is a line of its own that, after its leading icons (emoji), has at most 40 characters, no
  sentence or clause punctuation (`。，,；;！!`), no citation marker, no icon further in and does not end
  with a colon (a colon introduces a list). A passage's `section` is the nearest heading above its quote.
- A sentence runs from the previous sentence end (`。！？!?` or a line break) to the next one. A passage's
  `refs` must each appear as a citation marker in the sentence(s) its quote lies in. Markers are `[6]`,
  lists `[6,7]` / `[6、7]` and ranges `[6-8]` / `[6]–[8]` (the article itself writes `[6][7]`).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

from bot.contract import LEVELS
from bot.kb.models import Fact, Passage, Reference

SENTENCE_ENDS = frozenset("。！？!?\n")
HEADING_MAX_CHARS = 40
HEADING_FORBIDDEN = frozenset("。，,；;！!")
CITATION = re.compile(
    r"\[(\d+)\]\s*[-–—~～]\s*\[(\d+)\]"  # a range written as two markers: [6]–[8]
    r"|[\[［](\d+(?:\s*[-–—~～,，、]\s*\d+)*)[\]］]"  # [6], [6,7], [6、7], [6-8]
)
# Levels that are study designs (the references' `level`), strongest first.
DESIGN_LEVELS: tuple[str, ...] = LEVELS[: LEVELS.index("review") + 1]
REVIEW_DESIGNS = frozenset({"review", "systematic_review"})


@dataclass(frozen=True)
class Problem:
    """One provenance mismatch: where it is (file, fact, field), what is wrong and how to fix it."""

    file: str
    fact: str
    field: str
    problem: str
    fix: str

    def message(self, file: Optional[str] = None) -> str:
        """The mismatch as one line naming file (or `file`, e.g. its full path), fact and field."""
        return f"{file or self.file}: fact '{self.fact}', field '{self.field}': {self.problem}. {self.fix}."


def _is_icon(char: str) -> bool:
    return unicodedata.category(char) in {"So", "Sk", "Mn", "Cf", "Zs"} or char.isspace()


def heading_title(line: str) -> Optional[str]:
    """The heading a line of the article is, without its leading icons, or None for ordinary text."""
    title = line.strip()
    while title and _is_icon(title[0]):
        title = title[1:]
    title = title.strip()
    if not title or len(title) > HEADING_MAX_CHARS or title[0] in "•·-*":
        return None
    if HEADING_FORBIDDEN & set(title) or CITATION.search(title) or title[-1] in ":：":
        return None
    if any(unicodedata.category(c) == "So" for c in title):
        return None
    return title


def citation_numbers(text: str) -> set[int]:
    """Every reference number a citation marker in `text` names (lists and ranges expanded)."""
    numbers: set[int] = set()
    for match in CITATION.finditer(text):
        if match.group(1):
            numbers.update(range(int(match.group(1)), int(match.group(2)) + 1))
            continue
        for part in re.split(r"[,，、]", match.group(3)):
            bounds = [int(x) for x in re.split(r"[-–—~～]", part)]
            numbers.update(range(bounds[0], bounds[-1] + 1))
    return numbers


class Article:
    """The source article indexed for the checks: its headings, and its text without whitespace."""

    def __init__(self, text: str, path: Path) -> None:
        self.path = path
        self.text = text
        kept = [(i, c) for i, c in enumerate(text) if not c.isspace()]
        self._compact = "".join(c for _, c in kept)
        self._positions = [i for i, _ in kept]
        self.headings: list[tuple[int, str]] = []
        offset = 0
        for line in text.splitlines(keepends=True):
            title = heading_title(line)
            if title:
                self.headings.append((offset, title))
            offset += len(line)
        self.titles = frozenset(title for _, title in self.headings)

    @classmethod
    def load(cls, path: Path) -> "Article":
        """Read and index an article file (UTF-8)."""
        return _load_article(Path(path).resolve(), Path(path).stat().st_mtime_ns)

    def occurrences(self, quote: str) -> list[tuple[int, int]]:
        """Start and end offsets in the article text of every occurrence of `quote`, whitespace ignored."""
        needle = "".join(quote.split())
        spans, start = [], self._compact.find(needle) if needle else -1
        while start >= 0:
            spans.append((self._positions[start], self._positions[start + len(needle) - 1] + 1))
            start = self._compact.find(needle, start + 1)
        return spans

    def section_at(self, offset: int) -> Optional[str]:
        """Title of the nearest heading above `offset`, or None before the first heading."""
        titles = [title for start, title in self.headings if start < offset]
        return titles[-1] if titles else None

    def sentence(self, start: int, end: int) -> str:
        """The sentence(s) the span lies in: from the previous sentence end to the next one."""
        first = start
        while first > 0 and self.text[first - 1] not in SENTENCE_ENDS:
            first -= 1
        last = max(start, end - 1)
        while last < len(self.text) and self.text[last] not in SENTENCE_ENDS:
            last += 1
        return self.text[first : last + 1]


@functools.lru_cache(maxsize=4)
def _load_article(path: Path, mtime_ns: int) -> Article:
    return Article(path.read_text(encoding="utf-8"), path)


def _short(quote: str) -> str:
    return quote if len(quote) <= 24 else quote[:22] + "…"


def _passage_problem(passage: Passage, article: Article) -> Optional[tuple[str, str, str]]:
    """The first mismatch of one passage with the article, as (field, problem, fix), or None."""
    if passage.section not in article.titles:
        return (
            "section",
            f"{passage.section!r} is not a heading of {article.path.name}",
            "Copy the heading above the quote exactly, without its leading icon",
        )
    spans = article.occurrences(passage.quote)
    if not spans:
        return (
            "quote",
            f"«{_short(passage.quote)}» is not in {article.path.name}",
            "Copy the sentence from the article character for character (its punctuation too)",
        )
    spans = [s for s in spans if article.section_at(s[0]) == passage.section]
    if not spans:
        return (
            "section",
            f"the quote «{_short(passage.quote)}» is not under the heading {passage.section!r}",
            "Name the nearest heading above the quote",
        )
    attached = set().union(*(citation_numbers(article.sentence(*s)) for s in spans))
    missing = [n for n in passage.refs if n not in attached]
    if missing:
        return (
            "refs",
            f"the article attaches no marker {missing} to the sentence of «{_short(passage.quote)}»"
            f" (it attaches {sorted(attached) or 'none'})",
            "Quote the sentence that carries the marker, or remove the number",
        )
    return None


def passage_problems(fact: Fact, article: Article) -> list[Problem]:
    """Mismatches between the fact's passages and the article: section, quote, attached citations."""
    problems = []
    for i, passage in enumerate(fact.source):
        found = _passage_problem(passage, article)
        if found:
            field, what, fix = found
            problems.append(Problem(fact.source_file, fact.id, f"source[{i}].{field}", what, fix))
    return problems


def fact_problems(fact: Fact, references: dict[int, Reference]) -> list[Problem]:
    """Mismatches inside the fact: passages present, refs covered by passages, level against the designs."""
    problems: list[Problem] = []

    def problem(field: str, what: str, fix: str) -> None:
        problems.append(Problem(fact.source_file, fact.id, field, what, fix))

    if not fact.source:
        problem(
            "source",
            "no passage of the article is named",
            "List the passage(s) the fact restates: section and a short verbatim quote",
        )
    for i, passage in enumerate(fact.source):
        extra = [n for n in passage.refs if n not in fact.refs]
        if extra and fact.level == "article_assessment":
            problem(
                f"source[{i}].refs",
                "a passage of an article_assessment fact cites a study",
                "Remove the numbers, or grade the fact by the references' designs",
            )
        elif extra:
            problem(
                f"source[{i}].refs",
                f"cites {extra}, which the fact's refs do not list",
                "Add them to the fact's refs or remove them from the passage",
            )
    covered = {n for p in fact.source for n in p.refs}
    uncovered = [n for n in fact.refs if n not in covered]
    if uncovered and fact.source:
        problem(
            "refs",
            f"{uncovered} attached by none of the fact's passages",
            "Add the passage where the article puts the marker, or remove the number",
        )
    designs = [references[n].level for n in fact.refs if n in references]
    if fact.level in DESIGN_LEVELS and fact.level != "review" and designs:
        strongest = min(designs, key=LEVELS.index)
        if LEVELS.index(fact.level) < LEVELS.index(strongest):
            problem(
                "level",
                f"{fact.level} is stronger than the strongest design among refs " f"{list(fact.refs)} ({strongest})",
                f"Grade it {strongest} or weaker, or cite the study that carries the stronger design",
            )
    if fact.level == "review" and designs and not REVIEW_DESIGNS & set(designs):
        problem(
            "level",
            f"review, but none of refs {list(fact.refs)} is a review",
            "Grade it by the design of its references, or cite the review that puts the idea forward",
        )
    return problems


def check_facts(facts: Iterable[Fact], references: dict[int, Reference], article: Optional[Article]) -> list[Problem]:
    """All provenance problems of the facts; the article checks are skipped when `article` is None."""
    problems: list[Problem] = []
    for fact in facts:
        problems.extend(fact_problems(fact, references))
        if article is not None:
            problems.extend(passage_problems(fact, article))
    return problems
