"""`bot review`: ask the running bot every question of a file and check the replies' expectations."""

from __future__ import annotations

import csv
import json
import sys
import time
import uuid
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, cast

from tqdm import tqdm

from bot.tools import ToolError
from bot.tools.client import RestClient
from bot.tools.questions import NO_TOPIC, Expectation, Question

FORMAT = "exobot-review"
FORMAT_VERSION = 1
# Every question is asked as a new sender `bot-review-<run>-<n>`: no context leaks between questions,
# and `bot insights` leaves these conversations out of what consumers asked.
SENDER_PREFIX = "bot-review-"
LOW_CONFIDENCE_INTENT = "nlu_fallback"  # Rasa's FallbackClassifier: no intent was confident enough
REPORT_FILES = {"html": "report.html", "json": "review.json", "csv": "review.csv"}
CSV_COLUMNS = (
    "n",
    "question",
    "status",
    "failed_checks",
    "lang",
    "intent",
    "confidence",
    "type",
    "topic",
    "facts",
    "evidence",
    "part_grades",
    "citations",
    "flags",
    "answer",
    "expect_topic",
    "expect_refs",
    "expect_flag",
    "expect_lang",
)


def _refs(payload: Dict[str, Any]) -> List[int]:
    return [int(c["ref"]) for c in payload.get("citations") or [] if "ref" in c]


def _flag_codes(payload: Dict[str, Any]) -> List[str]:
    return [f["code"] for f in payload.get("flags") or [] if "code" in f]


def _show_flag(flag: Any) -> str:
    # cast: every bool is a key, so the default is never returned
    return cast(Dict[bool, Any], {True: "yes", False: "no"}).get(flag, flag) if isinstance(flag, bool) else str(flag)


def check(expect: Expectation, record: Dict[str, Any]) -> List[Dict[str, Any]]:
    """One check per expectation: field, expected, actual (as shown to staff) and whether it passed."""
    answered = record["payload"] is not None
    checks = []
    if expect.topic is not None:
        actual = record["topic"]
        ok = answered and (actual is None if expect.topic == NO_TOPIC else actual == expect.topic)
        checks.append({"field": "topic", "expected": expect.topic, "actual": actual or NO_TOPIC, "passed": ok})
    if expect.refs is not None:
        ok = answered and set(expect.refs) <= set(record["refs"])
        checks.append(
            {
                "field": "refs",
                "expected": ";".join(map(str, expect.refs)),
                "actual": ";".join(map(str, record["refs"])),
                "passed": ok,
            }
        )
    if expect.flag is not None:
        codes = record["flags"]
        ok = answered and (expect.flag in codes if isinstance(expect.flag, str) else bool(codes) == expect.flag)
        checks.append(
            {
                "field": "flag",
                "expected": _show_flag(expect.flag),
                "actual": ";".join(codes) if codes else "no",
                "passed": ok,
            }
        )
    if expect.lang is not None:
        checks.append(
            {
                "field": "lang",
                "expected": expect.lang,
                "actual": record["lang"],
                "passed": answered and record["lang"] == expect.lang,
            }
        )
    return checks


def ask_one(client: RestClient, question: Question, sender: str) -> Dict[str, Any]:
    """Ask one question as a new sender; the record of its reply with checks and status."""
    started = time.monotonic()
    error = None
    try:
        reply = client.ask(sender, question.text)
        text, payload = reply.text, reply.payload
        if payload is None:
            error = "The reply carried no payload (custom JSON); the action server may have failed."
    except ToolError as e:
        text, payload, error = "", None, str(e)
    p = payload or {}
    record: Dict[str, Any] = {
        "n": question.n,
        "question": question.text,
        "sender": sender,
        "expect": question.expect.to_json(),
        "lang": p.get("lang"),
        "intent": p.get("intent"),
        "confidence": p.get("confidence"),
        "type": p.get("type"),
        "topic": p.get("topic"),
        "facts": list(p.get("facts") or []),
        "evidence": (p.get("evidence") or {}).get("level"),
        "evidence_label": (p.get("evidence") or {}).get("label"),
        "citations": list(p.get("citations") or []),
        "parts": [
            {
                "fact": part.get("fact"),
                "level": (part.get("evidence") or {}).get("level"),
                "label": (part.get("evidence") or {}).get("label"),
                "refs": list(part.get("refs") or []),
            }
            for part in p.get("parts") or []
            if isinstance(part, dict)
        ],
        "refs": _refs(p),
        "flags": _flag_codes(p),
        "text": text,
        "payload": payload,
        "error": error,
        "elapsed_ms": round((time.monotonic() - started) * 1000),
    }
    record["checks"] = check(question.expect, record)
    if error:
        record["status"] = "error"
    elif not record["checks"]:
        record["status"] = "unchecked"
    else:
        record["status"] = "pass" if all(c["passed"] for c in record["checks"]) else "fail"
    return record


def summarize(results: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    """Pass rate, fallbacks, flags, and the same per language and reply type."""
    status = Counter(r["status"] for r in results)
    checked = status["pass"] + status["fail"] + status["error"]
    by_language: Dict[str, Dict[str, int]] = {}
    for r in results:
        lang = r["lang"] or r["expect"].get("lang") or "unknown"
        row = by_language.setdefault(lang, {"questions": 0, "pass": 0, "fail": 0, "error": 0, "unchecked": 0})
        row["questions"] += 1
        row[r["status"]] += 1
    confidences = [r["confidence"] for r in results if isinstance(r["confidence"], (int, float))]
    return {
        "questions": len(results),
        "checked": checked,
        "passed": status["pass"],
        "failed": status["fail"],
        "errors": status["error"],
        "unchecked": status["unchecked"],
        "pass_rate": round(status["pass"] / checked, 4) if checked else None,
        "fallbacks": sum(r["type"] == "fallback" for r in results),
        "low_confidence": sum(r["intent"] == LOW_CONFIDENCE_INTENT for r in results),
        "out_of_scope": sum(r["type"] == "out_of_scope" for r in results),
        "flagged": sum(bool(r["flags"]) for r in results),
        "by_language": dict(sorted(by_language.items())),
        "by_type": dict(Counter(r["type"] or "none" for r in results).most_common()),
        "failed_checks": dict(Counter(c["field"] for r in results for c in r["checks"] if not c["passed"])),
        "mean_confidence": round(sum(confidences) / len(confidences), 4) if confidences else None,
    }


def run_review(questions: Sequence[Question], client: RestClient, source: str, progress: bool = True) -> Dict[str, Any]:
    """Ask every question (one new sender each) and return the run: metadata, summary and results."""
    server = client.version()
    run_id = uuid.uuid4().hex[:8]
    results: List[Dict[str, Any]] = []
    bar = tqdm(
        questions, desc="Asking the bot", unit="question", file=sys.stderr, disable=not progress, dynamic_ncols=True
    )
    for question in bar:
        results.append(ask_one(client, question, f"{SENDER_PREFIX}{run_id}-{question.n:03d}"))
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "run_id": run_id,
        "created": datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds"),
        "url": client.url,
        "server": server,
        "questions_file": source,
        "summary": summarize(results),
        "results": results,
    }


def load_run(path: Path) -> Dict[str, Any]:
    """A run saved by `bot review` (its review.json)."""
    path = Path(path)
    try:
        run = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ToolError(f"No review run at {path}. Pass the review.json written by an earlier `bot review`.") from None
    except ValueError as e:
        raise ToolError(f"{path} is not valid JSON ({e}). Pass the review.json written by `bot review`.") from e
    if not isinstance(run, dict) or run.get("format") != FORMAT or not isinstance(run.get("results"), list):
        raise ToolError(f"{path} is not a `bot review` result (no '{FORMAT}' format marker). Pass a review.json.")
    if run.get("version") != FORMAT_VERSION:
        raise ToolError(f"{path} has format version {run.get('version')}; this tool reads version {FORMAT_VERSION}.")
    return run


def _csv_row(r: Dict[str, Any]) -> Dict[str, Any]:
    e = r["expect"]
    return {
        "n": r["n"],
        "question": r["question"],
        "status": r["status"],
        "failed_checks": ";".join(c["field"] for c in r["checks"] if not c["passed"]),
        "lang": r["lang"],
        "intent": r["intent"],
        "confidence": r["confidence"],
        "type": r["type"],
        "topic": r["topic"],
        "facts": ";".join(r["facts"]),
        "evidence": r["evidence"],
        "part_grades": ";".join(
            f"{x['fact'] or 'reference'}={x['level']}{''.join(f'[{n}]' for n in x['refs'])}"
            for x in r.get("parts") or []
        ),
        "citations": ";".join(map(str, r["refs"])),
        "flags": ";".join(r["flags"]),
        "answer": r["text"] or r["error"],
        "expect_topic": e["topic"],
        "expect_refs": ";".join(map(str, e["refs"] or [])),
        "expect_flag": "" if e["flag"] is None else _show_flag(e["flag"]),
        "expect_lang": e["lang"],
    }


def write_run(run: Dict[str, Any], out_dir: Path, html: Optional[str] = None) -> Dict[str, Path]:
    """Write review.json, review.csv and (when given) report.html into `out_dir`; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {kind: out_dir / name for kind, name in REPORT_FILES.items()}
    paths["json"].write_text(json.dumps(run, ensure_ascii=False, indent=1), encoding="utf-8")
    with paths["csv"].open("w", encoding="utf-8-sig", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(_csv_row(r) for r in run["results"])
    if html is not None:
        paths["html"].write_text(html, encoding="utf-8")
    else:
        del paths["html"]
    return paths
