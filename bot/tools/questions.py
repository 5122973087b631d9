"""Question files for `bot review`: CSV or YAML rows of a question and optional expectations."""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, List, Optional, Union

import yaml

from bot.contract import FLAG_CODES
from bot.kb import KnowledgeBase, default_knowledge_base
from bot.lang import LANGS
from bot.tools import ToolError

COLUMNS = ("question", "expect_topic", "expect_refs", "expect_flag", "expect_lang")
NO_TOPIC = "none"  # expect_topic value for replies that must not come from a topic (greetings, declines)
YES = {"yes", "y", "true", "1"}
NO = {"no", "n", "false", "0"}


@dataclass(frozen=True)
class Expectation:
    """What a question's reply should show; None means "not checked"."""

    topic: Optional[str] = None  # a topic id, or NO_TOPIC
    refs: Optional[tuple[int, ...]] = None  # every one must be cited (others may be too)
    flag: Union[bool, str, None] = None  # True/False: any flag or none; a code: that flag
    lang: Optional[str] = None

    @property
    def empty(self) -> bool:
        """True when nothing is expected."""
        return all(v is None for v in (self.topic, self.refs, self.flag, self.lang))

    def to_json(self) -> dict[str, Any]:
        """The expectation as JSON (refs as a list)."""
        data = asdict(self)
        data["refs"] = list(self.refs) if self.refs is not None else None
        return data


@dataclass(frozen=True)
class Question:
    """One row of a question file."""

    n: int
    text: str
    expect: Expectation
    where: str  # "file:line" or "file: item N", for messages


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _parse_refs(value: Any, where: str, kb: KnowledgeBase) -> Optional[tuple[int, ...]]:
    if _blank(value):
        return None
    items = value if isinstance(value, list) else str(value).replace(",", ";").split(";")
    refs = []
    for item in items:
        token = str(item).strip().strip("[]")
        if not token:
            continue
        if not token.isdigit() or int(token) not in kb.references:
            raise ToolError(
                f"{where}: expect_refs {value!r} holds {item!r}, which is not a reference number. "
                f"Write reference numbers 1..{len(kb.references)} separated by ';', e.g. 3;6."
            )
        refs.append(int(token))
    return tuple(refs) or None


def _parse_flag(value: Any, where: str) -> Union[bool, str, None]:
    if _blank(value):
        return None
    if isinstance(value, bool):
        return value
    word = str(value).strip()
    if word.lower() in YES:
        return True
    if word.lower() in NO:
        return False
    if word in FLAG_CODES:
        return word
    raise ToolError(
        f"{where}: expect_flag {value!r} is not understood. Write yes, no, or a flag code ({', '.join(FLAG_CODES)})."
    )


def _parse_topic(value: Any, where: str, kb: KnowledgeBase) -> Optional[str]:
    if _blank(value):
        return None
    topic = str(value).strip()
    if topic != NO_TOPIC and topic not in kb.topics:
        raise ToolError(
            f"{where}: expect_topic {topic!r} is not a topic of the knowledge base. "
            f"Use one of {', '.join(sorted(kb.topics))}, or '{NO_TOPIC}' for replies without a topic."
        )
    return topic


def _parse_lang(value: Any, where: str) -> Optional[str]:
    if _blank(value):
        return None
    lang = str(value).strip()
    if lang not in LANGS:
        raise ToolError(f"{where}: expect_lang {lang!r} is not a reply language. Use one of {', '.join(LANGS)}.")
    return lang


def _question(n: int, row: dict[str, Any], where: str, kb: KnowledgeBase) -> Question:
    unknown = sorted(k for k in row if k not in COLUMNS and k is not None)
    if unknown:
        raise ToolError(f"{where}: unknown column(s) {unknown}. The columns are {', '.join(COLUMNS)}.")
    text = row.get("question")
    if _blank(text):
        raise ToolError(f"{where}: the question is empty. Write the consumer's message in the 'question' column.")
    expect = Expectation(
        topic=_parse_topic(row.get("expect_topic"), where, kb),
        refs=_parse_refs(row.get("expect_refs"), where, kb),
        flag=_parse_flag(row.get("expect_flag"), where),
        lang=_parse_lang(row.get("expect_lang"), where),
    )
    return Question(n=n, text=str(text).strip(), expect=expect, where=where)


def _csv_rows(path: Path) -> Iterable[tuple[str, dict[str, Any]]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        header = [h.strip() for h in reader.fieldnames or []]
        if "question" not in header:
            raise ToolError(
                f"{path}: the first line must be the header ({','.join(COLUMNS)}; all but 'question' optional), "
                f"found {header or 'nothing'}."
            )
        reader.fieldnames = header
        for row in reader:
            if None in row:
                raise ToolError(
                    f"{path}:{reader.line_num}: more values than columns. Quote a question that contains a comma."
                )
            if all(_blank(v) for v in row.values()):
                continue
            yield f"{path}:{reader.line_num}", row


def _yaml_rows(path: Path) -> Iterable[tuple[str, dict[str, Any]]]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ToolError(f"{path}: not valid YAML ({e}). Fix the syntax at the line shown.") from e
    items = data.get("questions") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ToolError(f"{path}: expected a list of questions (or 'questions:' holding one).")
    for position, item in enumerate(items, start=1):
        where = f"{path}: item {position}"
        if isinstance(item, str):
            item = {"question": item}
        if not isinstance(item, dict):
            raise ToolError(f"{where}: expected a mapping with 'question' and optional expectations, or a string.")
        yield where, item


def load_questions(path: Path, kb: Optional[KnowledgeBase] = None) -> List[Question]:
    """Read and validate a question file (.csv, or .yml/.yaml with the same keys)."""
    path = Path(path)
    if not path.is_file():
        raise ToolError(
            f"No question file at {path}. Pass a CSV or YAML file (see docs/staff.md, 'The question file')."
        )
    kb = kb or default_knowledge_base()
    suffix = path.suffix.lower()
    if suffix == ".csv":
        rows = _csv_rows(path)
    elif suffix in (".yml", ".yaml"):
        rows = _yaml_rows(path)
    else:
        raise ToolError(f"{path}: unknown file type {suffix or '(none)'}. Use .csv, .yml or .yaml.")
    questions = [_question(n, row, where, kb) for n, (where, row) in enumerate(rows, start=1)]
    if not questions:
        raise ToolError(f"{path}: no questions. Add one question per row under the header.")
    return questions
