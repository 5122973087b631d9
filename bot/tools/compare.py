"""`bot review --compare`: what changed between two review runs, question by question."""

from __future__ import annotations

import difflib
import re
from collections import Counter
from typing import Any, Dict, List, Optional, Tuple, cast

FORMAT = "exobot-review-compare"
# What staff compare, in display order: the record field each one reads.
FIELDS: Dict[str, str] = {
    "result": "status",
    "lang": "lang",
    "intent": "intent",
    "type": "type",
    "topic": "topic",
    "facts": "facts",
    "citations": "refs",
    "grade": "evidence",
    "flags": "flags",
    "text": "text",
}
STATE_ORDER = {"changed": 0, "added": 1, "removed": 2, "unchanged": 3}
# Diff tokens: words and numbers whole, any other character (a Chinese one, punctuation) alone.
_TOKENS = re.compile(r"[A-Za-z0-9]+(?:['’.-][A-Za-z0-9]+)*|\s+|.", re.DOTALL)


def _keyed(results: List[Dict[str, Any]]) -> Dict[Tuple[str, int], Dict[str, Any]]:
    """Results keyed by (question, occurrence), so repeated questions pair up in order."""
    seen: Counter = Counter()
    keyed = {}
    for r in results:
        text = r["question"].strip()
        keyed[(text, seen[text])] = r
        seen[text] += 1
    return keyed


def _view(record: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    if record is None:
        return None
    view = {name: record.get(field) for name, field in FIELDS.items()}
    view.update(n=record["n"], confidence=record.get("confidence"), evidence_label=record.get("evidence_label"))
    return view


def _comparable(name: str, old: Dict[str, Any], new: Dict[str, Any]) -> bool:
    """A pass/fail result counts as changed only when both runs checked the question."""
    return name != "result" or "unchecked" not in (old["result"], new["result"])


def text_diff(old: str, new: str) -> List[Dict[str, str]]:
    """Segments `{"op": "same"|"del"|"ins", "text": ...}`: by word or number, and by Chinese character."""
    a, b = _TOKENS.findall(old or ""), _TOKENS.findall(new or "")
    segments: List[Dict[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            segments.append({"op": "same", "text": "".join(a[i1:i2])})
            continue
        if i2 > i1:
            segments.append({"op": "del", "text": "".join(a[i1:i2])})
        if j2 > j1:
            segments.append({"op": "ins", "text": "".join(b[j1:j2])})
    return segments


def compare_runs(old: Dict[str, Any], new: Dict[str, Any]) -> Dict[str, Any]:
    """Pair the questions of two runs and list what changed; changed questions come first."""
    before, after = _keyed(old["results"]), _keyed(new["results"])
    items: List[Dict[str, Any]] = []
    for key in list(after) + [k for k in before if k not in after]:
        o, n = _view(before.get(key)), _view(after.get(key))
        if o is None or n is None:
            state, changed = ("added" if o is None else "removed"), []
        else:
            changed = [name for name in FIELDS if o[name] != n[name] and _comparable(name, o, n)]
            state = "changed" if changed else "unchanged"
        items.append(
            {
                "question": key[0],
                "state": state,
                "changed": changed,
                "old": o,
                "new": n,
                # a changed text: both views are there (cast for mypy)
                "text_diff": text_diff(cast(Dict[str, Any], o)["text"], cast(Dict[str, Any], n)["text"])
                if "text" in changed
                else None,
            }
        )
    items.sort(key=lambda i: (STATE_ORDER[i["state"]], -len(i["changed"]), (i["new"] or i["old"])["n"]))
    states = Counter(i["state"] for i in items)
    return {
        "format": FORMAT,
        "old": {k: old.get(k) for k in ("created", "url", "server", "questions_file", "summary")},
        "new": {k: new.get(k) for k in ("created", "url", "server", "questions_file", "summary")},
        "summary": {
            "questions": len(items),
            **{state: states[state] for state in STATE_ORDER},
            "by_field": {name: sum(name in i["changed"] for i in items) for name in FIELDS},
        },
        "items": items,
    }
