"""Staff tools against the real bot: `bot review` and its report, `--compare`, `bot insights`, `bot export`."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Dict, List

import pytest
import sqlalchemy as sa
import yaml

from bot.kb import default_knowledge_base
from bot.lang import LANGS, detect_script
from bot.paths import ROOT
from bot.serve import QUIET_ENV
from bot.tools.questions import NO_TOPIC, load_questions
from conftest import free_port, split_reply

BOT = str(Path(sys.executable).with_name("bot"))
SAMPLE = ROOT / "data" / "review" / "sample_questions.csv"


def run_bot(*args: str, env: Dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run the installed `bot` console command."""
    return subprocess.run(
        [BOT, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **QUIET_ENV, "TRACKER_DB_URL": "", **(env or {})},
    )


class ReportParser(HTMLParser):
    """Collects the result rows (data-* attributes, question, checks), failure links and chart bars."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: List[Dict[str, Any]] = []
        self.bars: List[str] = []
        self.failure_links: List[str] = []
        self._in_question = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "tr" and "result" in classes:
            self.rows.append(
                {**{k[5:]: v for k, v in a.items() if k.startswith("data-")}, "question": "", "checks": []}
            )
        elif tag == "rect":
            self.bars.append(a.get("class", ""))
        elif tag == "div" and "question" in classes and self.rows:
            self._in_question = True
        elif tag == "li" and "data-field" in a and self.rows:
            self.rows[-1]["checks"].append((a["data-field"], a["data-passed"]))
        elif tag == "a" and (a.get("href") or "").startswith("#q-"):
            self.failure_links.append(a["href"])

    def handle_endtag(self, tag: str) -> None:
        self._in_question = self._in_question and tag != "div"

    def handle_data(self, data: str) -> None:
        if self._in_question:
            self.rows[-1]["question"] += data


def card(page: str, card_id: str) -> str:
    """The big number of a summary card of the report."""
    match = re.search(rf'id="{card_id}">\s*<div class="value">([^<]*)<', page)
    assert match, f"no card {card_id!r} in the report"
    return match[1]


def parse_html(path: Path) -> ReportParser:
    parser = ReportParser()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


@pytest.fixture(scope="module")
def sample_review(servers, tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, Path]:
    """`bot review` of the sample question file against the running test bot (once for this module)."""
    out = tmp_path_factory.mktemp("review-sample")
    result = run_bot("review", str(SAMPLE), "--url", servers.settings.rasa_url, "--out", str(out))
    assert (out / "review.json").is_file(), f"no review.json written:\n{result.stdout}\n{result.stderr}"
    return result, out


# -- the sample question file ------------------------------------------------------------------


def test_sample_file_covers_every_topic_in_three_scripts() -> None:
    """Every knowledge-base topic is asked in Simplified, Traditional and English, with KB-derived refs."""
    kb = default_knowledge_base()
    questions = load_questions(SAMPLE)
    assert 60 <= len(questions) <= 90
    covered = set()
    for q in questions:
        script = detect_script(q.text)
        assert q.expect.lang == script, f"{q.where}: expect_lang {q.expect.lang} but the question is {script}"
        if q.expect.topic in kb.topics:
            covered.add((q.expect.topic, script))
            topic_refs = {n for f in kb.facts_of_topic(q.expect.topic) for n in f.refs}
            # No refs expected only where the answer is the review's own judgement (no study cited).
            assert q.expect.refs is not None or any(
                f.level == "article_assessment" for f in kb.facts_of_topic(q.expect.topic)
            )
            assert (
                set(q.expect.refs or ()) <= topic_refs
            ), f"{q.where}: expect_refs {q.expect.refs} are not references of topic {q.expect.topic}"
    missing = {(t, lang) for t in kb.topics for lang in LANGS} - covered
    assert not missing, f"topics not asked in every script: {sorted(missing)}"
    assert any(q.expect.flag is True for q in questions) and any(q.expect.topic == NO_TOPIC for q in questions)


# -- bot review ---------------------------------------------------------------------------------


def test_review_of_sample_file_reports_what_the_bot_answers(sample_review, ask) -> None:
    """All sample expectations pass; JSON, CSV and HTML show the bot's real replies per question."""
    result, out = sample_review
    run = json.loads((out / "review.json").read_text(encoding="utf-8"))
    failures = [
        (r["n"], r["question"], r["error"], [c for c in r["checks"] if not c["passed"]])
        for r in run["results"]
        if r["status"] != "pass"
    ]
    assert not failures, f"sample expectations failed:\n{json.dumps(failures, ensure_ascii=False, indent=1)}"
    assert result.returncode == 0, result.stderr
    assert "pass rate   100.0%" in result.stdout and str(out / "report.html") in result.stdout

    questions = load_questions(SAMPLE)
    results = run["results"]
    assert [r["question"] for r in results] == [q.text for q in questions]
    assert len({r["sender"] for r in results}) == len(results)
    assert all(r["sender"].startswith("bot-review-") for r in results)
    for r in results:
        p = r["payload"]
        assert (r["lang"], r["intent"], r["type"], r["topic"], r["facts"]) == (
            p["lang"],
            p["intent"],
            p["type"],
            p["topic"],
            p["facts"],
        )
        assert r["refs"] == [c["ref"] for c in p["citations"]] and r["flags"] == [f["code"] for f in p["flags"]]
        assert r["evidence"] == (p["evidence"] or {}).get("level")
        assert 0 <= r["confidence"] <= 1 and r["text"]

    summary = run["summary"]
    assert summary["questions"] == summary["passed"] == len(questions) and summary["pass_rate"] == 1.0
    assert {lang: row["questions"] for lang, row in summary["by_language"].items()} == dict(
        Counter(q.expect.lang for q in questions)
    )
    assert summary["flagged"] == sum(bool(r["flags"]) for r in results) >= 3
    assert summary["fallbacks"] == sum(r["type"] == "fallback" for r in results)
    assert summary["low_confidence"] == sum(r["intent"] == "nlu_fallback" for r in results)
    assert summary["out_of_scope"] == sum(r["type"] == "out_of_scope" for r in results) >= 1

    # The report shows what the real path answers: ask again as a new conversation, per script.
    for lang in LANGS:
        record = next(r for r in results if r["lang"] == lang and r["type"] == "answer")
        text, payload = split_reply(ask(f"tools-check-{uuid.uuid4().hex[:8]}", record["question"]))
        assert (record["text"], record["topic"], record["facts"], record["refs"]) == (
            text,
            payload["topic"],
            payload["facts"],
            [c["ref"] for c in payload["citations"]],
        )

    with (out / "review.csv").open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [row["question"] for row in rows] == [q.text for q in questions]
    assert all(row["status"] == "pass" for row in rows)
    assert [row["citations"] for row in rows] == [";".join(map(str, r["refs"])) for r in results]

    html = parse_html(out / "report.html")
    assert [row["question"] for row in html.rows] == [q.text for q in questions]
    assert [(row["n"], row["status"], row["lang"], row["topic"]) for row in html.rows] == [
        (str(r["n"]), r["status"], r["lang"], r["topic"] or "") for r in results
    ]
    assert all(row["checks"] and all(passed == "yes" for _, passed in row["checks"]) for row in html.rows)
    page = (out / "report.html").read_text(encoding="utf-8")
    assert (card(page, "pass-rate"), card(page, "flagged")) == ("100%", str(summary["flagged"]))
    assert card(page, "fallbacks") == str(summary["fallbacks"])
    assert "seg-pass" in html.bars and not html.failure_links
    assert "<script src" not in page and "<link" not in page  # self-contained: nothing from the network


def test_failed_expectation_sets_exit_status(servers, tmp_path: Path) -> None:
    """A wrong expectation fails the run (exit 1) and is marked in the JSON and the HTML; YAML works too."""
    questions = tmp_path / "questions.yml"
    questions.write_text(
        yaml.safe_dump(
            {
                "questions": [
                    {"question": "What are exosomes?", "expect_topic": "safety", "expect_lang": "en"},
                    {
                        "question": "外泌体本身有什么风险？",
                        "expect_topic": "safety",
                        "expect_refs": "18;19",
                        "expect_flag": "no",
                    },
                    "Hello",
                ]
            },
            allow_unicode=True,
        ),
        encoding="utf-8",
    )
    out = tmp_path / "report"
    result = run_bot("review", str(questions), "--url", servers.settings.rasa_url, "--out", str(out), "--quiet")
    assert result.returncode == 1, result.stdout + result.stderr
    run = json.loads((out / "review.json").read_text(encoding="utf-8"))
    first, second, third = run["results"]
    assert first["status"] == "fail" and second["status"] == "pass" and third["status"] == "unchecked"
    topic_check = next(c for c in first["checks"] if c["field"] == "topic")
    assert topic_check == {"field": "topic", "expected": "safety", "actual": first["payload"]["topic"], "passed": False}
    assert next(c for c in first["checks"] if c["field"] == "lang")["passed"]
    assert run["summary"]["failed"] == 1 and run["summary"]["pass_rate"] == 0.5
    assert "Failed:" in result.stdout and "topic: expected safety" in result.stdout
    html = parse_html(out / "report.html")
    assert [row["status"] for row in html.rows] == ["fail", "pass", "unchecked"]
    assert ("topic", "no") in html.rows[0]["checks"] and html.failure_links == ["#q-1"]


def test_review_explains_bad_input(tmp_path: Path) -> None:
    """Unknown topics and an unreachable bot stop the tool with a message saying what to fix (exit 2)."""
    bad = tmp_path / "bad.csv"
    bad.write_text("question,expect_topic\nWhat are exosomes?,basic\n", encoding="utf-8")
    result = run_bot("review", str(bad))
    assert result.returncode == 2 and f"{bad}:2" in result.stderr and "'basic'" in result.stderr
    good = tmp_path / "good.csv"
    good.write_text("question\nWhat are exosomes?\n", encoding="utf-8")
    result = run_bot("review", str(good), "--url", f"http://127.0.0.1:{free_port()}", "--out", str(tmp_path / "r"))
    assert result.returncode == 2 and "No bot answers" in result.stderr and "--url" in result.stderr


# -- bot review --compare -----------------------------------------------------------------------


def test_compare_puts_a_changed_answer_first(sample_review, tmp_path: Path) -> None:
    """An older run whose answer differs shows that question first, with the changed fields and a text diff."""
    _, out = sample_review
    new = json.loads((out / "review.json").read_text(encoding="utf-8"))
    old = json.loads(json.dumps(new))
    k = next(i for i, r in enumerate(old["results"]) if r["lang"] == "zh-Hant" and len(r["refs"]) > 1)
    changed = old["results"][k]
    changed["text"] = changed["text"].replace("外泌體", "舊說法", 1)
    changed["refs"] = changed["refs"][:-1]
    changed["evidence"] = "no_evidence" if changed["evidence"] != "no_evidence" else "animal"
    dropped = old["results"].pop(0)
    old_path = tmp_path / "old.json"
    old_path.write_text(json.dumps(old, ensure_ascii=False), encoding="utf-8")

    result = run_bot("review", str(out / "review.json"), "--compare", str(old_path), "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert (
        run_bot(
            "review", str(out / "review.json"), "--compare", str(old_path), "--out", str(tmp_path), "--fail-on-change"
        ).returncode
        == 1
    )
    comparison = json.loads((tmp_path / "compare.json").read_text(encoding="utf-8"))
    first = comparison["items"][0]
    assert first["question"] == changed["question"] and first["state"] == "changed"
    assert set(first["changed"]) == {"text", "citations", "grade"}
    assert {"op": "del", "text": "舊說法"} in first["text_diff"]
    assert any(s["op"] == "ins" and "外泌體" in s["text"] for s in first["text_diff"])
    summary = comparison["summary"]
    assert (summary["changed"], summary["added"], summary["removed"]) == (1, 1, 0)
    assert summary["unchanged"] == len(new["results"]) - 2
    assert comparison["items"][1]["state"] == "added" and comparison["items"][1]["question"] == dropped["question"]
    assert f"[changed] {changed['question']}: citations, grade, text" in result.stdout

    page = (tmp_path / "compare.html").read_text(encoding="utf-8")
    assert page.index(changed["question"]) < page.index(new["results"][0]["question"])
    assert "<del>舊說法</del>" in page and 'data-state="changed"' in page


def test_review_with_compare_finds_a_changed_question(servers, sample_review, tmp_path: Path) -> None:
    """Re-asking sample questions gives identical answers; a replaced question shows as new and old as gone."""
    _, out = sample_review
    rows = list(csv.DictReader(SAMPLE.open(encoding="utf-8")))
    small = tmp_path / "small.csv"
    with small.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=rows[0].keys())
        writer.writeheader()
        writer.writerows([rows[0], rows[8], {**rows[9], "question": "外泌體和幹細胞有什麼不同？"}])
    result = run_bot(
        "review",
        str(small),
        "--url",
        servers.settings.rasa_url,
        "--out",
        str(tmp_path / "run"),
        "--compare",
        str(out / "review.json"),
        "--quiet",
    )
    comparison = json.loads((tmp_path / "run" / "compare.json").read_text(encoding="utf-8"))
    summary = comparison["summary"]
    assert (summary["changed"], summary["unchanged"], summary["added"]) == (0, 2, 1), result.stdout
    assert summary["removed"] == len(rows) - 2
    assert comparison["items"][0]["question"] == "外泌體和幹細胞有什麼不同？"
    assert 'href="compare.html"' in (tmp_path / "run" / "report.html").read_text(encoding="utf-8")


# -- bot insights and bot export ----------------------------------------------------------------

WEATHER = ["今天天气怎么样？", "今天天气怎么样", "今天天氣怎麼樣？"]


@pytest.fixture(scope="module")
def conversations(servers, ask) -> Dict[str, Any]:
    """Real conversations over REST: unanswerable questions, flagged claims, answers, one follow-up."""
    since = datetime.now().isoformat()
    time.sleep(0.05)
    tag = uuid.uuid4().hex[:6]
    plan = [(f"c-{tag}-w{i}", [text]) for i, text in enumerate(WEATHER)] + [
        (f"c-{tag}-pizza", ["What's the best pizza in town?"]),
        (f"c-{tag}-claim-zh", ["打外泌体针能让全身返老还童吗？"]),
        (f"c-{tag}-claim-en", ["An ad says exosome IV drips reverse aging and extend life. Is that true?"]),
        (f"c-{tag}-knee", ["外泌体对膝关节炎有用吗？"]),
        (f"c-{tag}-en", ["What are exosomes?"]),
        (f"c-{tag}-two", ["外泌體是什麼？", "安全嗎？"]),
    ]
    replies = {}
    for sender, messages in plan:
        replies[sender] = [(m, *split_reply(ask(sender, m))) for m in messages]
    split_reply(ask(f"bot-review-{tag}-001", WEATHER[0]))  # a review run's conversation
    until = datetime.now().isoformat()
    return {"since": since, "until": until, "replies": replies, "tag": tag}


def test_insights_from_the_tracker_store(conversations, tracker_db: Path, tmp_path: Path) -> None:
    """Unanswered questions grouped (most frequent first), flags, languages and topics match the replies."""
    replies = conversations["replies"]
    payloads = [p for turns in replies.values() for _, _, p in turns]
    weather = [p for sender, turns in replies.items() for _, _, p in turns if "-w" in sender]
    assert all(p["type"] in ("fallback", "out_of_scope") for p in weather), "the bot answered the weather question"
    env = {"TRACKER_SQLITE_PATH": str(tracker_db)}
    window = ["--since", conversations["since"], "--until", conversations["until"]]
    result = run_bot("insights", *window, "--json", str(tmp_path / "insights.json"), env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "insights.json").read_text(encoding="utf-8"))

    totals = report["totals"]
    assert totals["conversations"] == len(replies) and totals["user_messages"] == totals["replies"] == len(payloads)
    unanswered = [p for p in payloads if p["type"] in ("fallback", "out_of_scope")]
    assert totals["unanswered"] == len(unanswered)
    top = report["unanswered"][0]
    assert top["question"] in WEATHER and (top["count"], top["conversations"]) == (3, 3)
    assert sorted([top["question"], *top["variants"]]) == sorted(WEATHER)
    assert sum(g["count"] for g in report["unanswered"]) == len(unanswered)
    flagged = Counter(f["code"] for p in payloads for f in p["flags"])
    assert report["flagged_claims"]["by_code"] == dict(flagged) and sum(flagged.values()) >= 2
    assert {g["question"] for g in report["flagged_claims"]["questions"]} == {
        m for turns in replies.values() for m, _, p in turns if p["flags"]
    }
    assert {r["name"]: r["count"] for r in report["languages"]} == dict(Counter(p["lang"] for p in payloads))
    assert {r["name"]: r["count"] for r in report["topics"]} == dict(
        Counter(p["topic"] for p in payloads if p["topic"])
    )
    assert report["channels"] == [{"name": "rest", "count": len(payloads), "share": 1.0}]
    assert "Questions the bot could not answer" in result.stdout and top["question"] in result.stdout

    with_review = run_bot("insights", *window, "--include-review", "--json", str(tmp_path / "all.json"), env=env)
    assert with_review.returncode == 0, with_review.stderr
    assert json.loads((tmp_path / "all.json").read_text(encoding="utf-8"))["unanswered"][0]["count"] == 4

    # The same store named by its SQLAlchemy URL gives the same report.
    by_url = run_bot("insights", *window, "--db", f"sqlite:///{tracker_db}", "--json", str(tmp_path / "url.json"))
    assert by_url.returncode == 0, by_url.stderr
    assert json.loads((tmp_path / "url.json").read_text(encoding="utf-8")) == report


def test_export_writes_conversations_as_jsonl(conversations, tracker_db: Path, tmp_path: Path) -> None:
    """One JSON line per conversation with every message; bot messages carry the payload the client got."""
    out = tmp_path / "conversations.jsonl"
    result = run_bot(
        "export",
        "--since",
        conversations["since"],
        "--until",
        conversations["until"],
        "-o",
        str(out),
        env={"TRACKER_SQLITE_PATH": str(tracker_db)},
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    replies = conversations["replies"]
    # Conversation ids name their channel (contract 1.1): `rest:<sender>`.
    assert sorted(c["sender"] for c in lines) == sorted(f"rest:{s}" for s in replies)
    for c in lines:
        turns = replies[c["sender"].removeprefix("rest:")]
        assert c["channel"] == "rest"
        assert c["user_messages"] == len(turns)
        assert [m["from"] for m in c["messages"]] == ["user", "bot"] * len(turns)
        for (question, text, payload), (user, bot) in zip(turns, zip(c["messages"][::2], c["messages"][1::2])):
            assert user["text"] == question and user["channel"] == "rest" and user["intent"] == payload["intent"]
            assert bot["text"] == text and bot["payload"] == payload

    # A period that ends before these conversations holds none of them.
    before = run_bot("export", "--until", conversations["since"], env={"TRACKER_SQLITE_PATH": str(tracker_db)})
    assert before.returncode == 0, before.stderr
    assert not {json.loads(line)["sender"] for line in before.stdout.splitlines()} & {f"rest:{s}" for s in replies}


def test_insights_explains_a_missing_store(tmp_path: Path) -> None:
    """Without a tracker store the tool says where it looked and how to point it elsewhere."""
    result = run_bot("insights", env={"TRACKER_SQLITE_PATH": str(tmp_path / "none.db")})
    assert result.returncode == 2
    assert "No tracker store" in result.stderr and "TRACKER_SQLITE_PATH" in result.stderr
    assert not (tmp_path / "none.db").exists()


@pytest.fixture(scope="module")
def postgres_url() -> Any:
    """A throw-away PostgreSQL server on a free loopback port (skips when PostgreSQL is not installed)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        pytest.skip("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    bin_dir, port = found[-1].parent, free_port()
    home = Path(tempfile.mkdtemp(prefix="exobot-pg-"))
    user = "postgres" if os.geteuid() == 0 else None  # PostgreSQL refuses to run as root
    if user:
        shutil.chown(home, user)
    run = {"user": user, "check": True, "capture_output": True, "timeout": 120}
    subprocess.run([bin_dir / "initdb", "-D", home / "data", "-A", "trust", "-U", "exobot"], **run)
    options = f"-p {port} -k {home} -c listen_addresses=127.0.0.1"
    subprocess.run([bin_dir / "pg_ctl", "-D", home / "data", "-o", options, "-l", home / "log", "-w", "start"], **run)
    try:
        subprocess.run([bin_dir / "createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "exobot", "tracker"], **run)
        yield f"postgresql://exobot@127.0.0.1:{port}/tracker"
    finally:
        subprocess.run([bin_dir / "pg_ctl", "-D", home / "data", "-m", "fast", "stop"], **{**run, "check": False})
        shutil.rmtree(home, ignore_errors=True)


def test_insights_read_postgresql_when_configured(
    conversations, tracker_db: Path, postgres_url: str, tmp_path: Path
) -> None:
    """With TRACKER_DB_URL the same events, stored in PostgreSQL, give the same report."""
    source = sa.create_engine(f"sqlite:///{tracker_db}")
    events = sa.Table("events", sa.MetaData(), autoload_with=source)
    target = sa.create_engine(postgres_url)
    events.metadata.create_all(target)
    with source.connect() as read, target.begin() as write:
        write.execute(events.insert(), [dict(row._mapping) for row in read.execute(sa.select(events))])
    target.dispose()
    window = ["--since", conversations["since"], "--until", conversations["until"]]
    reports = []
    for name, env in (("sqlite", {"TRACKER_SQLITE_PATH": str(tracker_db)}), ("pg", {"TRACKER_DB_URL": postgres_url})):
        result = run_bot("insights", *window, "--json", str(tmp_path / f"{name}.json"), env=env)
        assert result.returncode == 0, result.stderr
        reports.append(json.loads((tmp_path / f"{name}.json").read_text(encoding="utf-8")))
    assert reports[0] == reports[1] and reports[1]["totals"]["conversations"] == len(conversations["replies"])
