"""Score conversations end to end: for each turn, the right lead fact, grade, citations, flag and language.

A turn file (tests/heldout/*.yml) lists conversations; every turn names what the bot should do
(`expect`), the acceptable lead facts, the reply's script and its categories (typo, cantonese, flag, ...).
`bot evaluate FILE...` sends them to the running bot over REST and prints the scores per script and per
category; the test suite runs the held-out set this way with floors.
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence

import yaml

from bot.contract import FLAG_SYSTEMIC_INJECTION
from bot.kb import KnowledgeBase
from bot.lang import LANGS, localize
from bot.texts import Texts

EXPECTS = ("answer", "claim", "medical", "out_of_scope", "reference", "greeting", "handoff")
ANSWER_TYPES = ("answer", "advice", "claim_check")
# Categories reported together as "mixed / odd" (issue: pinyin, typos, capitals, long, two questions).
ODD = ("mixed", "pinyin", "caps", "lookalike", "voice", "long", "two_questions")


class TurnFileError(ValueError):
    """A turn file is invalid; the message names the file, the conversation and the field."""


@dataclass(frozen=True)
class Turn:
    """One message of a test conversation and what the bot should do with it."""

    conversation: str
    index: int
    text: str
    lang: str
    expect: str
    facts: tuple[str, ...] = ()
    second: tuple[str, ...] = ()
    refs: tuple[int, ...] = ()
    categories: tuple[str, ...] = ()
    source: str = ""

    @property
    def flag(self) -> bool:
        """True when the turn makes the systemic-injection claim."""
        return self.expect == "claim"


@dataclass
class Result:
    """A turn with the bot's reply and what was wrong with it (nothing: passed)."""

    turn: Turn
    problems: List[str] = field(default_factory=list)
    reply_type: Optional[str] = ""  # the payload's type; None when the payload has none
    lead: Optional[str] = None
    flagged: bool = False

    @property
    def ok(self) -> bool:
        """True when every check passed."""
        return not self.problems


def load_turns(paths: Iterable[Path], kb: KnowledgeBase) -> List[List[Turn]]:
    """Conversations (lists of turns) from turn files, checked against the knowledge base."""
    conversations: List[List[Turn]] = []
    for path in paths:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        for conv in data.get("conversations") or []:
            cid = str(conv.get("id"))
            turns = []
            for i, raw in enumerate(conv.get("turns") or []):
                where = f"{path}: conversation {cid}, turn {i + 1}"
                expect = raw.get("expect")
                if expect not in EXPECTS:
                    raise TurnFileError(f"{where}, field 'expect': {expect!r} is not one of {', '.join(EXPECTS)}.")
                if raw.get("lang") not in LANGS:
                    raise TurnFileError(f"{where}, field 'lang': {raw.get('lang')!r} is not one of {', '.join(LANGS)}.")
                facts = tuple(raw.get("facts") or ())
                unknown = [f for f in facts + tuple(raw.get("second") or ()) if f not in kb.facts]
                if unknown:
                    raise TurnFileError(f"{where}, field 'facts': unknown fact ids {unknown}.")
                if expect == "answer" and not facts:
                    raise TurnFileError(f"{where}, field 'facts': an `answer` turn needs its acceptable facts.")
                turns.append(
                    Turn(
                        cid,
                        i,
                        str(raw["text"]),
                        raw["lang"],
                        expect,
                        facts,
                        tuple(raw.get("second") or ()),
                        tuple(int(n) for n in raw.get("refs") or ()),
                        tuple(raw.get("categories") or ()),
                        str(path),
                    )
                )
            conversations.append(turns)
    return conversations


class Checker:
    """Checks one reply against its turn, with the knowledge base's grades and citations."""

    def __init__(self, kb: KnowledgeBase, texts: Texts) -> None:
        """Index the facts' questions in every script (suggestions are shown by their question)."""
        self.kb, self.texts = kb, texts
        self.by_question: Dict[str, str] = {}
        for fact in kb.facts.values():
            for lang in LANGS:
                self.by_question.setdefault(localize(fact.question, lang), fact.id)

    def check(self, turn: Turn, text: str, payload: Optional[Mapping[str, Any]]) -> Result:
        """The problems of one reply (text and payload) to one turn."""
        result = Result(turn)
        problems = result.problems
        if not payload:
            problems.append("no contract payload")
            return result
        kind, facts = payload.get("type"), list(payload.get("facts") or [])
        result.reply_type, result.lead = kind, facts[0] if facts else None
        flags = [f.get("code") for f in payload.get("flags") or []]
        result.flagged = FLAG_SYSTEMIC_INJECTION in flags
        if payload.get("lang") != turn.lang:
            problems.append(f"language {payload.get('lang')} instead of {turn.lang}")
        if result.flagged != turn.flag:
            problems.append("claim not flagged" if turn.flag else "false flag")
        if turn.expect in ("answer", "claim"):
            self._answer(turn, text, payload, result)
        elif turn.expect == "medical":
            if kind != "out_of_scope" or payload.get("intent") != "ask_medical_advice":
                problems.append(f"not declined as personal medical advice ({kind}, {payload.get('intent')}, {facts})")
        elif turn.expect == "out_of_scope":
            if kind not in ("out_of_scope", "fallback") or payload.get("intent") == "ask_medical_advice" or facts:
                problems.append(f"not declined as not covered ({kind}, {payload.get('intent')}, {facts})")
        elif turn.expect == "reference":
            cited = {c.get("ref") for c in payload.get("citations") or []}
            if kind != "reference":
                problems.append(f"not a reference reply ({kind})")
            elif not set(turn.refs) <= cited:
                problems.append(f"references {sorted(set(turn.refs) - cited)} missing")
        elif turn.expect == "greeting" and kind != "greeting":
            problems.append(f"not a greeting ({kind})")
        elif turn.expect == "handoff" and kind != "handoff":
            problems.append(f"not a hand-off ({kind})")
        return result

    def _answer(self, turn: Turn, text: str, payload: Mapping[str, Any], result: Result) -> None:
        problems, lead = result.problems, result.lead
        if result.reply_type not in ANSWER_TYPES or lead is None:
            problems.append(f"no answer from the facts ({result.reply_type}, intent {payload.get('intent')})")
            return
        acceptable = set(turn.facts) | set(turn.second)
        if turn.expect == "claim" and not turn.facts:
            acceptable.add("claims.systemic_injection")
        if lead not in acceptable:
            problems.append(f"lead fact {lead}, expected one of {sorted(acceptable)}")
        fact = self.kb.facts.get(lead)
        if fact is None:
            problems.append(f"unknown fact {lead}")
            return
        evidence = payload.get("evidence") or {}
        if evidence.get("level") != fact.level:
            problems.append(f"grade {evidence.get('level')} for a fact graded {fact.level}")
        label = self.texts.get(f"levels.{fact.level}", turn.lang)
        if label not in text:
            problems.append("grade missing from the visible text")
        cited = {c.get("ref") for c in payload.get("citations") or []}
        missing = [n for n in fact.refs if n not in cited or f"[{n}]" not in text]
        if missing:
            problems.append(f"citations {missing} missing")
        for part in payload.get("parts") or [{"fact": None}]:
            # Every part carries its own fact's grade, in the payload and in the visible text.
            part_fact = self.kb.facts.get(part.get("fact") or "")
            level = (part.get("evidence") or {}).get("level")
            if part_fact is None or level != part_fact.level:
                problems.append(f"part {part.get('fact')} graded {level}, not as its fact")
            elif self.texts.get(f"levels.{level}", turn.lang) not in text:
                problems.append(f"grade of part {part_fact.id} missing from the visible text")
        if turn.second:
            offered = set(payload.get("facts") or [])
            offered |= {self.by_question.get(s.get("title", ""), "") for s in payload.get("suggestions") or []}
            other = set(turn.second) if lead in turn.facts else set(turn.facts)
            if lead in turn.facts or lead in turn.second:
                if not offered & other:
                    problems.append(f"second question dropped (none of {sorted(other)} answered or offered)")


Ask = Callable[[str, str], tuple]  # (sender, message) -> (text, payload)


def run(conversations: Sequence[Sequence[Turn]], ask: Ask, checker: Checker, prefix: str = "eval") -> List[Result]:
    """Send every conversation as a new sender, turn by turn, and check each reply."""
    results = []
    run_id = uuid.uuid4().hex[:8]
    for turns in conversations:
        sender = f"{prefix}-{run_id}-{turns[0].conversation}" if turns else prefix
        for turn in turns:
            text, payload = ask(sender, turn.text)
            results.append(checker.check(turn, text, payload))
    return results


def summarize(results: Sequence[Result]) -> Dict[str, Any]:
    """Overall, per-script and per-category scores, flag recall and false flags."""

    def share(items: Sequence[Result]) -> Dict[str, Any]:
        passed = sum(r.ok for r in items)
        return {"passed": passed, "total": len(items), "score": round(passed / len(items), 3) if items else None}

    by_script: Dict[str, List[Result]] = defaultdict(list)
    by_category: Dict[str, List[Result]] = defaultdict(list)
    for r in results:
        by_script[r.turn.lang].append(r)
        for c in r.turn.categories:
            by_category[c].append(r)
        if set(r.turn.categories) & set(ODD):
            by_category["mixed_or_odd"].append(r)
        by_category[f"expect:{r.turn.expect}"].append(r)
    claims = [r for r in results if r.turn.flag]
    return {
        "overall": share(results),
        "scripts": {k: share(v) for k, v in sorted(by_script.items())},
        "categories": {k: share(v) for k, v in sorted(by_category.items())},
        "flag_recall": round(sum(r.flagged for r in claims) / len(claims), 3) if claims else None,
        "false_flags": sum(r.flagged for r in results if not r.turn.flag),
        "failures": [
            {
                "conversation": r.turn.conversation,
                "turn": r.turn.index + 1,
                "text": r.turn.text,
                "lang": r.turn.lang,
                "categories": list(r.turn.categories),
                "problems": r.problems,
            }
            for r in results
            if not r.ok
        ],
    }


def format_summary(summary: Mapping[str, Any]) -> str:
    """A plain-text table of a summary."""

    def row(name: str, s: Mapping[str, Any]) -> str:
        return f"  {name:<24} {s['passed']:>4}/{s['total']:<4} {s['score'] if s['score'] is not None else '-'}"

    lines = [row("overall", summary["overall"]), "by script:"]
    lines += [row(k, v) for k, v in summary["scripts"].items()]
    lines.append("by category:")
    lines += [row(k, v) for k, v in summary["categories"].items()]
    lines.append(f"flag recall {summary['flag_recall']}, false flags {summary['false_flags']}")
    return "\n".join(lines)


def texts_in(conversations: Sequence[Sequence[Turn]]) -> List[str]:
    """Every message text of the conversations."""
    return [t.text for turns in conversations for t in turns]


def squash(text: str) -> str:
    """A text reduced to lower-case letters and characters, to compare messages for overlap."""
    return re.sub(r"[\W_]+", "", text.lower())
