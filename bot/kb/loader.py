"""Load the fact files of `data/facts/` once, validating every field into typed objects."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any, Iterable, Optional

import yaml

from bot.contract import LEVELS
from bot.kb.models import Fact, KnowledgeBase, Passage, Reference, Topic
from bot.kb.provenance import Article, check_facts
from bot.lang import normalize
from bot.paths import facts_dir, source_article

REFERENCES_FILE = "references.yml"
LANG_KEYS = ("zh", "en")
FACT_FIELDS = {
    "id",
    "topic",
    "kind",
    "level",
    "refs",
    "question",
    "keywords",
    "weak_keywords",
    "text",
    "related",
    "source",
}
PASSAGE_FIELDS = {"section", "quote", "refs"}
QUOTE_CHARS = (10, 100)  # a quote's length without whitespace: one sentence or clause
TOPIC_FIELDS = {"id", "title"}
REFERENCE_FIELDS = {"n", "authors", "title", "journal", "year", "doi", "pmid", "level"}
KINDS = ("answer", "advice")
FACT_ID = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")
TOPIC_ID = re.compile(r"^[a-z][a-z0-9_]*$")
CITATION_MARK = re.compile(r"\[\d+\]")


class KnowledgeBaseError(ValueError):
    """A fact file is invalid; the message names the file, the item and the field."""


def _fail(path: Path, item: str, field: str, problem: str, fix: str) -> KnowledgeBaseError:
    return KnowledgeBaseError(f"{path}: {item}, field '{field}': {problem}. {fix}")


def _read_yaml(path: Path) -> dict:
    try:
        with path.open(encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except yaml.YAMLError as e:
        raise KnowledgeBaseError(f"{path}: not valid YAML ({e}). Fix the syntax at the line shown.") from e
    if not isinstance(data, dict):
        raise KnowledgeBaseError(f"{path}: expected a mapping at the top level, found {type(data).__name__}.")
    return data


def _bilingual(path: Path, item: str, field: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _fail(path, item, field, "expected a mapping with 'zh' and 'en'", "Write it as {zh: ..., en: ...}.")
    for lang in LANG_KEYS:
        text = value.get(lang)
        if not isinstance(text, str) or not text.strip():
            raise _fail(
                path, item, f"{field}.{lang}", "missing or empty", f"Add the {lang} text beside the other language."
            )
    extra = set(value) - set(LANG_KEYS) - {"zh-Hant"}
    if extra:
        raise _fail(
            path, item, field, f"unknown language keys {sorted(extra)}", "Use only zh, en (and optionally zh-Hant)."
        )
    return {k: v.strip() for k, v in value.items()}


def _keywords(path: Path, item: str, value: Any, field: str = "keywords") -> dict[str, tuple[str, ...]]:
    if not isinstance(value, dict):
        raise _fail(path, item, field, "expected a mapping with 'zh' and 'en' lists", "Write {zh: [...], en: [...]}.")
    result: dict[str, tuple[str, ...]] = {}
    for lang in LANG_KEYS:
        words = value.get(lang)
        if not isinstance(words, list) or not words:
            raise _fail(path, item, f"{field}.{lang}", "missing or empty list", "Add what consumers would type.")
        for word in words:
            if not isinstance(word, str) or not word.strip():
                raise _fail(path, item, f"{field}.{lang}", f"empty or non-text keyword {word!r}", "Remove it.")
            if normalize(word) != word:
                raise _fail(
                    path,
                    item,
                    f"{field}.{lang}",
                    f"keyword {word!r} is not in normal form",
                    f"Write it as {normalize(word)!r} (Simplified, half-width, lower case).",
                )
        result[lang] = tuple(words)
    return result


def _load_references(path: Path) -> dict[int, Reference]:
    data = _read_yaml(path)
    entries = data.get("references")
    if not isinstance(entries, list) or not entries:
        raise KnowledgeBaseError(f"{path}: no 'references' list. Add the article's numbered references.")
    references: dict[int, Reference] = {}
    for position, entry in enumerate(entries, start=1):
        item = f"reference #{position}"
        if not isinstance(entry, dict):
            raise _fail(path, item, "(entry)", "expected a mapping", "Write each reference as a mapping.")
        missing = REFERENCE_FIELDS - set(entry)
        unknown = set(entry) - REFERENCE_FIELDS
        if missing or unknown:
            field = sorted(missing or unknown)[0]
            problem = "missing" if missing else "unknown field"
            raise _fail(path, item, field, problem, f"Each reference has exactly {sorted(REFERENCE_FIELDS)}.")
        if entry["n"] != position:
            raise _fail(
                path, item, "n", f"is {entry['n']}, expected {position}", "Keep the article's numbering, in order."
            )
        if entry["level"] not in LEVELS:
            raise _fail(
                path, item, "level", f"{entry['level']!r} is not a contract level", f"Use one of {list(LEVELS)}."
            )
        for field in ("doi", "pmid", "authors", "title", "journal"):
            if not isinstance(entry[field], str) or not entry[field]:
                raise _fail(path, item, field, "must be non-empty text", "Quote it as a string.")
        references[position] = Reference(**{k: entry[k] for k in REFERENCE_FIELDS})
    return references


def _load_fact_file(
    path: Path, topics: dict[str, Topic], facts: dict[str, Fact], references: dict[int, Reference]
) -> None:
    data = _read_yaml(path)
    unknown = set(data) - {"topics", "facts"}
    if unknown:
        raise KnowledgeBaseError(f"{path}: unknown top-level keys {sorted(unknown)}. Use 'topics' and 'facts'.")
    for entry in data.get("topics") or []:
        item = f"topic '{entry.get('id')}'" if isinstance(entry, dict) else "topic"
        if not isinstance(entry, dict) or not TOPIC_ID.match(str(entry.get("id", ""))):
            raise _fail(path, item, "id", "missing or not snake_case", "Give the topic an id like 'animal_studies'.")
        if set(entry) - TOPIC_FIELDS:
            raise _fail(
                path,
                item,
                sorted(set(entry) - TOPIC_FIELDS)[0],
                "unknown field",
                f"Topics have {sorted(TOPIC_FIELDS)}.",
            )
        if entry["id"] in topics:
            raise _fail(path, item, "id", "defined twice", "Topic ids are unique across all fact files.")
        topics[entry["id"]] = Topic(id=entry["id"], title=_bilingual(path, item, "title", entry.get("title")))
    for entry in data.get("facts") or []:
        fact = _parse_fact(path, entry, references)
        if fact.id in facts:
            raise _fail(
                path,
                f"fact '{fact.id}'",
                "id",
                f"already defined in {facts[fact.id].source_file}",
                "Fact ids are unique.",
            )
        facts[fact.id] = fact


def _parse_fact(path: Path, entry: Any, references: dict[int, Reference]) -> Fact:
    if not isinstance(entry, dict):
        raise _fail(path, "fact", "(entry)", "expected a mapping", "Write each fact as a mapping.")
    fact_id = entry.get("id")
    item = f"fact '{fact_id}'"
    if not isinstance(fact_id, str) or not FACT_ID.match(fact_id):
        raise _fail(path, item, "id", "missing or malformed", "Use a dotted lowercase id like 'animal.parkinsons'.")
    unknown = set(entry) - FACT_FIELDS
    if unknown:
        raise _fail(path, item, sorted(unknown)[0], "unknown field", f"Facts have only {sorted(FACT_FIELDS)}.")
    for field in FACT_FIELDS - {"related", "kind", "weak_keywords"}:
        if field not in entry:
            raise _fail(path, item, field, "missing", "Every fact needs it (see data/facts/README.md).")
    kind = entry.get("kind", "answer")
    if kind not in KINDS:
        raise _fail(path, item, "kind", f"{kind!r} is unknown", f"Use one of {list(KINDS)}.")
    if entry["level"] not in LEVELS:
        raise _fail(path, item, "level", f"{entry['level']!r} is outside the contract", f"Use one of {list(LEVELS)}.")
    refs = entry["refs"]
    own = entry["level"] == "article_assessment"
    if not isinstance(refs, list) or (not refs and not own):
        raise _fail(path, item, "refs", "must be a non-empty list of reference numbers", "Cite what supports the fact.")
    if own and refs:
        raise _fail(
            path,
            item,
            "refs",
            "must be empty for level article_assessment (the review's own judgement cites no study)",
            "Remove the numbers, or choose the level of the references' studies.",
        )
    for n in refs:
        if not isinstance(n, int) or n not in references:
            raise _fail(
                path, item, "refs", f"unknown reference {n!r}", f"Use numbers 1..{len(references)} from references.yml."
            )
    text = _bilingual(path, item, "text", entry["text"])
    for lang, value in text.items():
        if CITATION_MARK.search(value):
            raise _fail(
                path, item, f"text.{lang}", "contains a [n] citation marker", "Remove it: citations come from 'refs'."
            )
    source = _passages(path, item, entry["source"], references)
    related = entry.get("related") or []
    if not isinstance(related, list):
        raise _fail(path, item, "related", "must be a list of fact ids", "Write [fact.id, ...].")
    return Fact(
        id=fact_id,
        topic=str(entry["topic"]),
        kind=kind,
        level=entry["level"],
        refs=tuple(refs),
        question=_bilingual(path, item, "question", entry["question"]),
        keywords=_keywords(path, item, entry["keywords"]),
        weak_keywords=_keywords(path, item, entry["weak_keywords"], "weak_keywords")
        if "weak_keywords" in entry
        else {},
        text=text,
        related=tuple(related),
        source=source,
        source_file=path.name,
    )


def _passages(path: Path, item: str, value: Any, references: dict[int, Reference]) -> tuple[Passage, ...]:
    if not isinstance(value, list) or not value:
        raise _fail(
            path,
            item,
            "source",
            "must be a non-empty list of passages",
            "Write - {section: ..., quote: ..., refs: [...]} for each passage of the article the fact restates.",
        )
    passages = []
    for i, entry in enumerate(value):
        field = f"source[{i}]"
        if not isinstance(entry, dict):
            raise _fail(path, item, field, "expected a mapping", "Write {section: ..., quote: ..., refs: [...]}.")
        unknown = set(entry) - PASSAGE_FIELDS
        if unknown:
            raise _fail(
                path, item, f"{field}.{sorted(unknown)[0]}", "unknown field", f"Passages have {sorted(PASSAGE_FIELDS)}."
            )
        for key in ("section", "quote"):
            if not isinstance(entry.get(key), str) or not entry[key].strip():
                raise _fail(
                    path,
                    item,
                    f"{field}.{key}",
                    "missing or empty",
                    "Copy it from the article (see data/facts/README.md).",
                )
        length = len("".join(entry["quote"].split()))
        if not QUOTE_CHARS[0] <= length <= QUOTE_CHARS[1]:
            raise _fail(
                path,
                item,
                f"{field}.quote",
                f"has {length} characters",
                f"Quote one sentence or clause, {QUOTE_CHARS[0]} to {QUOTE_CHARS[1]} characters.",
            )
        refs = entry.get("refs") or []
        if not isinstance(refs, list) or any(not isinstance(n, int) or n not in references for n in refs):
            raise _fail(
                path,
                item,
                f"{field}.refs",
                f"{refs!r} is not a list of known reference numbers",
                f"Use numbers 1..{len(references)} that the article attaches to the quoted sentence.",
            )
        passages.append(Passage(section=entry["section"].strip(), quote=entry["quote"].strip(), refs=tuple(refs)))
    return tuple(passages)


def _check_links(topics: dict[str, Topic], facts: dict[str, Fact]) -> None:
    for fact in facts.values():
        item = f"fact '{fact.id}'"
        path = Path(fact.source_file)
        if fact.topic not in topics:
            raise _fail(
                path,
                item,
                "topic",
                f"unknown topic {fact.topic!r}",
                f"Define it under 'topics:' or use one of {sorted(topics)}.",
            )
        for other in fact.related:
            if other not in facts:
                raise _fail(path, item, "related", f"unknown fact {other!r}", "Use ids of existing facts.")


# Default of `article`: the source article of the data folder being read (bot.paths.source_article).
ARTICLE_OF_DATA = Path("<the source article of the data folder being read>")


def load_knowledge_base(
    directory: Optional[Path] = None, files: Optional[Iterable[Path]] = None, article: Optional[Path] = ARTICLE_OF_DATA
) -> KnowledgeBase:
    """Load and validate facts, references and their provenance against `article` (None: skip provenance);
    by default the facts and article of the data folder being read (data/, or a model's copy)."""
    directory = Path(directory or facts_dir())
    if article == ARTICLE_OF_DATA:
        article = source_article()
    references = _load_references(directory / REFERENCES_FILE)
    fact_files = (
        sorted(files) if files is not None else sorted(p for p in directory.glob("*.yml") if p.name != REFERENCES_FILE)
    )
    if not fact_files:
        raise KnowledgeBaseError(f"{directory}: no fact files (*.yml besides {REFERENCES_FILE}).")
    topics: dict[str, Topic] = {}
    facts: dict[str, Fact] = {}
    for path in fact_files:
        _load_fact_file(path, topics, facts, references)
    _check_links(topics, facts)
    _check_provenance(fact_files, facts, references, article)
    return KnowledgeBase(references=references, topics=topics, facts=facts)


def _check_provenance(
    fact_files: list[Path], facts: dict[str, Fact], references: dict[int, Reference], article: Optional[Path]
) -> None:
    if article is None:  # `python -m bot.kb` checks provenance itself, to list every problem
        return
    if not Path(article).is_file():
        raise KnowledgeBaseError(
            f"{article}: the source article is missing. Restore it (a copy is in ../shared/source) or pass another path."
        )
    problems = check_facts(facts.values(), references, Article.load(Path(article)))
    if problems:
        paths = {p.name: p for p in fact_files}
        more = f" ({len(problems) - 1} more: `python -m bot.kb` lists every problem)" if len(problems) > 1 else ""
        raise KnowledgeBaseError(problems[0].message(str(paths.get(problems[0].file, problems[0].file))) + more)


def default_knowledge_base() -> KnowledgeBase:
    """The knowledge base of the data folder being read (data/facts, or a model's copy), loaded once."""
    return _knowledge_base_in(facts_dir())


@functools.lru_cache(maxsize=4)
def _knowledge_base_in(directory: Path) -> KnowledgeBase:
    return load_knowledge_base(directory)  # the article of the same data folder (ARTICLE_OF_DATA)
