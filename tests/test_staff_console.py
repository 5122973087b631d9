"""The staff console (issue 14): review runs started from the console (API), and the console page in a real
browser (Debian's headless Chromium via Playwright) against the running servers: sign-in, the test panel,
saving a review case, conversations, the hand-off flow, review runs, keyboard use and axe-core."""

from __future__ import annotations

import csv
import json
import re
import shutil
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List

import pytest

from bot.paths import ROOT
from bot.staff.page import staff_strings
from bot.staff.review_runs import RUNS_DIR, ReviewRunError, ReviewRuns
from bot.widget import WIDGET_DIR
from tests.browser_checks import AXE, axe_violations
from tests.conftest import STAFF_TOKEN, free_port
from tests.test_staff import Widget, api, call
from tests.test_widget_browser import new_page  # noqa: F401  (fixture used by name)

S = staff_strings()
RUN_TIMEOUT = 180.0
UI_TIMEOUT_MS = 30_000
PARKINSONS = "外泌体对帕金森病有用吗？"


# ---- helpers -------------------------------------------------------------------------------------------


def pattern(lang: str, key: str) -> "re.Pattern[str]":
    """A console string with its {placeholders} matching anything."""
    parts = re.split(r"\{\w+\}", S[lang][key])
    return re.compile("^" + ".+?".join(re.escape(p) for p in parts) + "$", re.DOTALL)


def wait_run(base: str, run_id: str, timeout: float = RUN_TIMEOUT) -> Dict[str, Any]:
    """The run once it is no longer running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = api(base, "GET", f"/staff/api/review-runs/{run_id}")
        if run["status"] != "running":
            return run
        time.sleep(0.5)
    raise AssertionError(f"review run {run_id} still runs after {timeout:.0f} s")


def staff_file(servers: Any) -> Path:
    """The session servers' STAFF_REVIEW_FILE."""
    return Path(servers.settings.env["STAFF_REVIEW_FILE"])


def save_parkinsons_case(base: str) -> Path:
    """Append a case that passes to the review file (from the bot's own reply); the file."""
    payload = api(base, "POST", "/staff/api/test", {"text": PARKINSONS})["payload"]
    saved = api(
        base,
        "POST",
        "/staff/api/review-cases",
        {
            "question": PARKINSONS,
            "expect_topic": payload["topic"],
            "expect_refs": [c["ref"] for c in payload["citations"]],
            "expect_flag": False,
            "expect_lang": payload["lang"],
        },
    )
    return Path(saved["file"])


@pytest.fixture
def run_ids() -> Iterator[List[str]]:
    """Ids of review runs a test started; their folders under var/review-runs are removed afterwards."""
    ids: List[str] = []
    yield ids
    for run_id in ids:
        shutil.rmtree(RUNS_DIR / run_id, ignore_errors=True)


def start_run(base: str, file: Any) -> tuple[int, Dict[str, Any]]:
    """POST /staff/api/review-runs: (status, JSON answer)."""
    status, _, data = call(base, "POST", "/staff/api/review-runs", {"file": file})
    return status, json.loads(data)


# ---- review runs: the API ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/staff/api/review-runs"),
        ("POST", "/staff/api/review-runs"),
        ("GET", "/staff/api/review-runs/20260101-000000-abcd/report"),
        ("POST", "/staff/api/review-runs/20260101-000000-abcd/compare"),
    ],
)
def test_review_runs_need_the_token(servers: Any, method: str, path: str) -> None:
    base = servers.settings.rasa_url
    for token in (None, "wrong-token"):
        status, _, _ = call(
            base, method, path, {"file": "sample_questions.csv"} if method == "POST" else None, token=token
        )
        assert status == 401, (path, token, status)


@pytest.mark.parametrize(
    "file",
    [
        "../../etc/passwd",
        "/etc/hosts",
        "README.md",
        "data/texts.yml",
        "tests/heldout/../../data/review/../texts.yml",
        "data/review/none.csv",
        "",
        None,
        7,
    ],
)
def test_a_review_run_refuses_files_outside_the_review_folder(servers: Any, file: Any) -> None:
    status, answer = start_run(servers.settings.rasa_url, file)
    assert status == 400, answer
    assert "data/review" in answer["error"] and "STAFF_REVIEW_FILE" in answer["error"], answer


def test_a_review_run_started_from_the_console_reports_its_progress_result_and_comparison(
    servers: Any, run_ids: List[str]
) -> None:
    base = servers.settings.rasa_url
    review_file = save_parkinsons_case(base)
    listed = api(base, "GET", "/staff/api/review-runs")
    assert {"name": str(review_file.resolve()), "staff": True} in listed["files"]
    assert {"name": "data/review/sample_questions.csv", "staff": False} in listed["files"]
    questions = len(list(csv.DictReader(review_file.open(encoding="utf-8"))))

    status, first = start_run(base, str(review_file))
    assert status == 202, first
    run_ids.append(first["id"])
    assert first["status"] == "running" and first["progress"] == {"done": 0, "total": questions}
    assert first["file"] == str(review_file.resolve()) and first["report"] is None
    status, busy = start_run(base, "sample_questions.csv")
    assert status == 409 and first["id"] in busy["error"], "one run at a time"
    status, _, data = call(base, "GET", f"/staff/api/review-runs/{first['id']}/report")
    assert status == 404 and b"not finished" in data

    done = wait_run(base, first["id"])
    assert done["status"] == "passed", done
    assert done["progress"] == {"done": questions, "total": questions}
    assert done["summary"]["passed"] == done["summary"]["checked"] == questions and done["error"] is None
    assert done["report"] == f"/staff/api/review-runs/{first['id']}/report"
    status, headers, page = call(base, "GET", done["report"])
    headers = {k.lower(): v for k, v in headers.items()}
    assert status == 200 and headers["content-type"].startswith("text/html") and PARKINSONS in page.decode()
    assert "default-src 'none'" in headers["content-security-policy"], "a report runs no script"
    # The runs are kept on disk with what `bot review` wrote.
    assert {p.name for p in (RUNS_DIR / first["id"]).iterdir()} >= {
        "report.html",
        "review.json",
        "review.csv",
        "run.json",
    }

    status, second = start_run(base, review_file.name)  # the bare file name works too
    assert status == 202, second
    run_ids.append(second["id"])
    assert wait_run(base, second["id"])["status"] == "passed"
    runs = [r["id"] for r in api(base, "GET", "/staff/api/review-runs")["runs"]]
    assert runs.index(second["id"]) < runs.index(first["id"]), "newest first"

    compared = api(base, "POST", f"/staff/api/review-runs/{second['id']}/compare", {"with": first["id"]})
    assert compared["summary"]["questions"] == questions and compared["summary"]["removed"] == 0
    status, _, page = call(base, "GET", compared["report"])
    assert status == 200 and b"<html" in page.lower()
    assert api(base, "GET", f"/staff/api/review-runs/{second['id']}")["comparisons"] == [
        {"with": first["id"], "report": compared["report"]}
    ]

    # Only that run's own report files are served.
    for name in ("run.json", "progress.log", f"../{first['id']}/report.html", "/etc/passwd", "../../../README.md"):
        status, _, _ = call(base, "GET", f"/staff/api/review-runs/{second['id']}/report?file={name}")
        assert status == 400, name
    for path in (
        "/staff/api/review-runs/20200101-000000-abcd/report",
        "/staff/api/review-runs/..%2F..%2Fvar/report",
        "/staff/api/review-runs/nothing",
    ):
        status, _, _ = call(base, "GET", path)
        assert status == 404, path
    status, _, data = call(base, "POST", f"/staff/api/review-runs/{second['id']}/compare", {"with": second["id"]})
    assert status == 400, data


def test_a_run_with_a_failed_expectation_fails_and_keeps_its_report(servers: Any, tmp_path: Path) -> None:
    """ReviewRuns itself, on a file of its own (the session's review file must keep passing)."""
    cases = tmp_path / "cases.csv"
    cases.write_text(
        "question,expect_topic,expect_refs,expect_flag,expect_lang\n" f"{PARKINSONS},safety,11,no,zh-Hans\n",
        encoding="utf-8",
    )
    runs = ReviewRuns(cases, runs_dir=tmp_path / "runs", review_dir=tmp_path / "none")
    run = runs.start(str(cases), servers.settings.rasa_url)
    deadline = time.monotonic() + RUN_TIMEOUT
    while run["status"] == "running" and time.monotonic() < deadline:
        time.sleep(0.5)
        run = runs.run(run["id"])
    assert run["status"] == "failed" and run["summary"]["failed"] == 1 and run["error"] is None, run
    assert runs.report_file(run["id"], None).name == "report.html"


def test_a_run_that_cannot_reach_the_bot_fails_and_says_why(tmp_path: Path) -> None:
    cases = tmp_path / "cases.yml"
    cases.write_text(f"- question: {PARKINSONS}\n  expect_lang: zh-Hans\n", encoding="utf-8")
    runs = ReviewRuns(cases, runs_dir=tmp_path / "runs", review_dir=tmp_path / "none")
    run = runs.start("cases.yml", f"http://127.0.0.1:{free_port()}")
    deadline = time.monotonic() + RUN_TIMEOUT
    while run["status"] == "running" and time.monotonic() < deadline:
        time.sleep(0.5)
        run = runs.run(run["id"])
    assert run["status"] == "failed" and run["summary"] is None and run["report"] is None
    assert "No bot answers at" in run["error"], run["error"]
    with pytest.raises(ReviewRunError) as refused:
        runs.report_file(run["id"], None)
    assert refused.value.status == 404


# ---- the page ------------------------------------------------------------------------------------------


def test_every_console_string_comes_from_the_texts_file_in_both_languages() -> None:
    static = ROOT / "bot" / "staff" / "static"
    page, script = (
        (static / "console.html").read_text(encoding="utf-8"),
        (static / "console.js").read_text(encoding="utf-8"),
    )
    used = set(re.findall(r'data-t(?:-label)?="(\w+)"', page)) | set(re.findall(r'\bt\("(\w+)"', script))
    used |= {
        f"{prefix}_{name}"
        for prefix, names in (
            ("channel", ("web", "rest", "wechat", "telegram", "line", "whatsapp")),
            ("status", ("waiting", "staff", "bot")),
            ("run", ("running", "passed", "failed")),
            ("sig", ("flagged", "unanswered", "low_confidence", "not_helpful")),
        )
        for name in names
    }
    used |= set(re.findall(r':\s*"(\w+)"', re.search(r"var LANG_KEYS[^;]+;", script).group(0)))
    used = {key for key in used if not key.endswith("_")}  # t("channel_" + name) and the like: listed above
    assert len(used) > 100
    for lang in ("zh-Hans", "zh-Hant", "en"):
        missing = sorted(key for key in used if not S[lang].get(key))
        assert missing == [], (lang, missing)
    cjk = re.compile(r"[\u3400-\u9fff]")
    assert not cjk.search(script) and not cjk.search(page), "the page's words live in data/staff_texts.yml"
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script, "data is set as text only"


def sign_in(page: Any, base: str, view: str = "") -> None:
    """Sign in through the form and open a section of the console."""
    page.goto(f"{base}/staff/")
    page.locator("#token").fill(STAFF_TOKEN)
    page.locator("#token").press("Enter")
    page.locator("#test-form").wait_for()
    if view:
        page.goto(f"{base}/staff/#{view}")
        page.locator(f"#view-{view}").wait_for()


def console(new_page: Callable[..., Any], lang: str = "zh-Hans", **options: Any) -> Any:
    """A new page whose browser prefers `lang` (the console follows it until switched)."""
    return new_page(locale={"zh-Hans": "zh-CN", "zh-Hant": "zh-TW", "en": "en-GB"}[lang], **options)


def test_sign_in_page_refuses_a_wrong_token_and_opens_the_console_with_the_right_one(
    servers: Any, new_page: Any, output_dir: Path
) -> None:
    base = servers.settings.rasa_url
    page = console(new_page)
    answer = page.goto(f"{base}/staff/")
    assert answer.status == 401 and page.locator("#token").is_visible()
    assert page.locator("label[for=token]").inner_text() == f"{S['zh-Hans']['token_label']} / {S['en']['token_label']}"
    page.locator("#token").fill("not-the-token")
    with page.expect_navigation() as navigation:
        page.locator("button[type=submit]").click()
    assert navigation.value.status == 401
    assert S["zh-Hans"]["sign_in_failed"] in page.locator("[role=alert]").inner_text()
    assert not page.context.cookies(), "no cookie for a wrong token"
    assert axe_violations(page) == [], "the sign-in page"
    page.locator("#token").fill(STAFF_TOKEN)
    page.locator("button[type=submit]").click()
    page.locator("#test-form").wait_for()
    assert page.url == f"{base}/staff/"
    cookie = [c for c in page.context.cookies() if c["name"] == "exobot_staff"][0]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/staff"
    assert page.evaluate("() => document.cookie") == "", "the page's script cannot read the token"
    assert page.locator("#test-heading").inner_text() == S["zh-Hans"]["test_heading"]
    page.locator(".top-tools button[type=submit]").click()  # sign out
    page.locator("#token").wait_for()
    assert page.goto(f"{base}/staff/").status == 401


def test_the_test_panel_shows_the_reply_per_channel_and_why_and_saves_a_review_case(
    servers: Any, new_page: Any, output_dir: Path
) -> None:
    base = servers.settings.rasa_url
    page = console(new_page)
    sign_in(page, base)
    page.locator("#test-text").fill(PARKINSONS)
    page.locator("#test-text").press("Enter")
    page.locator("#test-result").wait_for(timeout=UI_TIMEOUT_MS)
    oracle = api(base, "POST", "/staff/api/test", {"text": PARKINSONS})
    payload = oracle["payload"]
    grade = payload["parts"][0]["evidence"]["label"]

    widget = page.locator("#ch-widget")
    badge = widget.locator(".level").first
    assert badge.get_attribute("data-level") == "animal"
    assert badge.locator(".badge-label").inner_text() == grade
    assert widget.locator(".chip-n").all_inner_texts() == [f"[{c['ref']}]" for c in payload["citations"]]
    assert widget.locator(".part-text").first.inner_text() == payload["parts"][0]["text"]
    assert grade in page.locator("#ch-wechat").inner_text() and "1. " in page.locator("#ch-wechat").inner_text()
    assert grade in page.locator("#ch-telegram").inner_text()
    assert page.locator("#ch-telegram-buttons li").all_inner_texts() == oracle["channels"]["telegram"]["buttons"]
    status = page.locator("#test-status")
    assert status.get_attribute("role") == "status" and grade in status.inner_text()

    tables = page.locator("#why-tables")
    intent_table = tables.locator("table").nth(0)
    assert intent_table.locator("caption").inner_text() == S["zh-Hans"]["intent_ranking"]
    assert intent_table.locator("tbody tr").first.locator("td").first.inner_text() == "ask_knowledge"
    facts = tables.locator("table").nth(3)
    assert facts.locator("tbody tr").first.locator("td").first.inner_text() == "animal.parkinsons"
    assert page.locator("#why-summary").inner_text().count("ask_knowledge") == 1
    parts = tables.locator("table").nth(5)
    assert parts.locator(".badge-label").inner_text() == grade
    output_dir.mkdir(exist_ok=True)
    page.screenshot(path=str(output_dir / "staff-test-panel.png"), full_page=True)

    # Save as a review case: pre-filled from the reply, editable.
    assert page.locator("#case-question").input_value() == PARKINSONS
    assert page.locator("#case-topic").input_value() == payload["topic"]
    assert page.locator("#case-refs").input_value() == ";".join(str(c["ref"]) for c in payload["citations"])
    assert page.locator("#case-flag").input_value() == "no"
    assert page.locator("#case-lang").input_value() == "zh-Hans"
    page.locator("#case-refs").fill("11; x")
    page.locator("#case-form button[type=submit]").click()
    assert page.locator("#case-status").inner_text() == S["zh-Hans"]["case_refs_invalid"]
    assert page.locator("#case-refs").get_attribute("aria-invalid") == "true"
    question = f"{PARKINSONS} ({uuid.uuid4().hex[:6]})"
    page.locator("#case-question").fill(question)
    page.locator("#case-refs").fill("11")
    page.locator("#case-form button[type=submit]").click()
    review_file = staff_file(servers)
    page.wait_for_function("t => document.getElementById('case-status').textContent.includes(t)", arg=review_file.name)
    assert page.locator("#case-status").inner_text() == S["zh-Hans"]["case_saved"].format(file=review_file)
    row = list(csv.DictReader(review_file.open(encoding="utf-8")))[-1]
    assert row == {
        "question": question,
        "expect_topic": payload["topic"],
        "expect_refs": "11",
        "expect_flag": "no",
        "expect_lang": "zh-Hans",
    }


def test_the_hand_off_from_the_console(servers: Any, new_page: Any, output_dir: Path) -> None:
    base = servers.settings.rasa_url
    page = console(new_page)
    sign_in(page, base, "handoff")
    page.wait_for_function("() => document.getElementById('handoff-updated').textContent !== ''")
    user = Widget(base)
    try:
        asked = user.say("Can I talk to a real person please?")
        assert asked["custom"]["type"] == "handoff"
        conversation = f"web:{user.session}"
        item = page.locator(f'#waiting-list .item-open[data-id="{conversation}"]')
        item.wait_for(timeout=UI_TIMEOUT_MS)  # the list polls every few seconds
        page.wait_for_function("() => document.getElementById('announcer').textContent !== ''")
        announcer = page.locator("#announcer")
        assert announcer.get_attribute("aria-live") == "polite"
        assert pattern("zh-Hans", "new_waiting").match(announcer.inner_text()), announcer.inner_text()
        assert pattern("zh-Hans", "waiting_badge").match(page.locator("#waiting-badge").inner_text())
        assert page.locator("#waiting-list li").first.locator(".item-open").get_attribute("data-id") is not None

        item.click()
        detail = page.locator("#handoff-detail")
        detail.locator(".detail-heading").wait_for()
        assert conversation in detail.locator(".detail-heading").inner_text()
        assert page.evaluate("() => document.activeElement.className") == "detail-heading"
        assert "Can I talk to a real person please?" in detail.locator(".turn-user").first.inner_text()
        before = len(user.received)
        detail.locator("textarea").fill("您好，我是客服小美。")
        detail.locator("textarea").press("Control+Enter")
        page.wait_for_function(
            "t => document.getElementById('handoff-reply-status').textContent === t",
            arg=S["zh-Hans"]["reply_delivered"],
        )
        assert "您好，我是客服小美。" in user.next(before)["text"]
        assert api(base, "GET", f"/staff/api/conversations/{conversation}")["status"] == "staff"
        # The open conversation refreshes: the user's next message appears without a reload.
        user.say("Do exosomes help with Parkinson's disease?")
        detail.locator(".turn-user", has_text="Do exosomes help with Parkinson's disease?").wait_for(
            timeout=UI_TIMEOUT_MS
        )
        page.locator(f'#staff-list .item-open[data-id="{conversation}"]').wait_for(timeout=UI_TIMEOUT_MS)
        page.screenshot(path=str(output_dir / "staff-handoff.png"), full_page=True)

        before = len(user.received)
        detail.locator('[data-role="release"]').click()
        page.wait_for_function(
            "t => document.getElementById('handoff-reply-status').textContent === t",
            arg=S["zh-Hans"]["released_delivered"],
        )
        assert user.next(before)["text"]
        assert api(base, "GET", f"/staff/api/conversations/{conversation}")["status"] == "bot"
    finally:
        user.close()


def test_a_reply_that_cannot_be_delivered_says_why(servers: Any, new_page: Any, ask: Any) -> None:
    base = servers.settings.rasa_url
    sender = f"console-rest-{uuid.uuid4().hex[:6]}"
    ask(sender, "Can I talk to a real person please?")
    page = console(new_page, "en")
    sign_in(page, base, "handoff")
    page.locator(f'#waiting-list .item-open[data-id="rest:{sender}"]').click()
    page.locator("#handoff-detail textarea").fill("hello")
    page.locator('#handoff-detail [data-role="send"]').click()
    page.wait_for_function("() => document.getElementById('handoff-reply-status').classList.contains('error')")
    said = page.locator("#handoff-reply-status").inner_text()
    assert pattern("en", "reply_not_delivered").match(said) and "REST" in said, said


def test_conversations_filter_open_and_export(servers: Any, new_page: Any, output_dir: Path) -> None:
    base = servers.settings.rasa_url
    user = Widget(base)
    try:
        answer = user.say("广告说外泌体点滴能让全身年轻十岁")
        assert answer["custom"]["flags"]
        user.client.emit(
            "feedback",
            {
                "session_id": user.session,
                "rating": "not_helpful",
                "answer": answer["text"],
                "reason": "太笼统 <b>x</b>",
            },
        )
        time.sleep(1.0)
    finally:
        user.close()
    conversation = f"web:{user.session}"
    page = console(new_page)
    sign_in(page, base, "conversations")
    page.locator("#conv-count").wait_for()
    page.locator("#f-q").fill(user.session)
    page.locator("#filters").locator("input[name=flagged]").check()
    page.locator("#filters").locator("input[name=not_helpful]").check()
    page.locator("#f-channel").select_option("web")
    page.locator("#filters button[type=submit]").click()
    # Only the answer to the latest request is shown (each filter change asked again).
    page.wait_for_function(
        "t => document.getElementById('conv-count').textContent === t", arg=S["zh-Hans"]["conv_count"].format(n=1)
    )
    assert page.locator("#conv-list .item-open").count() == 1
    item = page.locator("#conv-list .item")
    assert item.locator(".item-open").inner_text() == "广告说外泌体点滴能让全身年轻十岁"
    assert conversation in item.locator(".meta").inner_text()
    assert S["zh-Hans"]["sig_flagged"].format(n=1) in item.locator(".signals").inner_text()
    assert S["zh-Hans"]["sig_not_helpful"].format(n=1) in item.locator(".signals").inner_text()

    href = page.locator("#export-csv").get_attribute("href")
    assert "format=csv" in href and "flagged=1" in href and f"q={user.session}" in href and "channel=web" in href
    exported = page.request.get(base + href)
    assert exported.status == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(exported.text().splitlines()))
    assert [r["id"] for r in rows] == [conversation] and rows[0]["not_helpful"] == "1"

    item.locator(".item-open").click()
    detail = page.locator("#conv-detail")
    detail.locator(".detail-heading").wait_for()
    assert page.evaluate("() => document.activeElement.className") == "detail-heading"
    assert detail.locator(".turn-user .turn-text").first.inner_text() == "广告说外泌体点滴能让全身年轻十岁"
    bot = detail.locator(".turn-bot").first
    assert bot.locator(".flag-code code").inner_text() == "unsupported_systemic_injection_claim"
    assert bot.locator(".level").first.get_attribute("data-level") == answer["custom"]["parts"][0]["evidence"]["level"]
    assert bot.locator(".chip-n").all_inner_texts() == [f"[{r}]" for r in answer["custom"]["parts"][0]["refs"]]
    feedback = detail.locator(".turn-feedback")
    assert feedback.locator(".rating").inner_text() == S["zh-Hans"]["rating_not_helpful"]
    assert "太笼统 <b>x</b>" in feedback.inner_text(), "the reason is shown as text"
    assert feedback.locator("b").count() == 0
    page.screenshot(path=str(output_dir / "staff-conversations.png"), full_page=True)
    detail.locator("button", has_text=S["zh-Hans"]["back_to_list"]).click()
    assert page.evaluate("() => document.activeElement.getAttribute('data-id')") == conversation

    # Clearing the filters lists more; a filter nobody matches says so.
    page.locator("#filters button[type=reset]").click()
    page.wait_for_function("() => document.getElementById('export-csv').getAttribute('href').indexOf('flagged') < 0")
    assert not page.locator("#filters input[name=flagged]").is_checked() and page.locator("#f-q").input_value() == ""
    assert page.locator("#conv-list .item-open").count() >= 1
    page.locator("#f-q").fill("no conversation says this " + uuid.uuid4().hex)
    page.locator("#f-q").press("Enter")
    page.wait_for_function(
        "t => document.getElementById('conv-count').textContent === t", arg=S["zh-Hans"]["no_conversations"]
    )


def test_review_runs_from_the_page(servers: Any, new_page: Any, run_ids: List[str], output_dir: Path) -> None:
    base = servers.settings.rasa_url
    review_file = save_parkinsons_case(base)
    page = console(new_page, "en")
    sign_in(page, base, "runs")
    name = str(review_file.resolve())
    page.locator(f'#run-file option[value="{name}"]').wait_for(state="attached")
    assert page.locator(f'#run-file option[value="{name}"]').inner_text() == S["en"]["run_file_staff"].format(name=name)
    ids = []
    for _ in range(2):
        page.locator("#run-file").select_option(name)
        page.locator("#run-form button[type=submit]").click()
        # Wait for the id of this run, not the previous run's id still shown when the button is pressed.
        page.wait_for_function(
            "seen => { const m = document.getElementById('run-status').textContent"
            ".match(/\\d{8}-\\d{6}-[0-9a-f]{4}/); return m && !seen.includes(m[0]); }",
            arg=ids,
        )
        run_id = re.search(r"\d{8}-\d{6}-[0-9a-f]{4}", page.locator("#run-status").inner_text()).group(0)
        assert run_id not in ids
        run_ids.append(run_id)
        ids.append(run_id)
        assert page.locator("#run-status").inner_text() == S["en"]["run_started"].format(id=run_id)
        item = page.locator(f'#runs-list li[data-id="{run_id}"]')
        item.wait_for()
        item.locator(".run-status-passed").wait_for(timeout=int(RUN_TIMEOUT * 1000))
        total = len(list(csv.DictReader(review_file.open(encoding="utf-8"))))
        assert item.locator(".progress-text").inner_text() == S["en"]["run_progress"].format(done=total, total=total)
        assert item.locator("progress").get_attribute("value") == str(total)
        link = item.locator(".report-link").first
        assert link.get_attribute("target") == "_blank" and S["en"]["new_tab"].strip() in link.inner_text()
        report = page.request.get(base + link.get_attribute("href"))
        assert report.status == 200 and PARKINSONS in report.text()
    page.wait_for_function(
        "t => document.getElementById('announcer').textContent.startsWith(t)", arg=S["en"]["run_finished"].split("{")[0]
    )

    page.locator("#compare-form").wait_for()
    page.locator("#compare-new").select_option(ids[1])
    page.locator("#compare-old").select_option(ids[0])
    page.locator("#compare-form button[type=submit]").click()
    page.locator("#compare-link a").wait_for()
    assert pattern("en", "compare_done").match(page.locator("#compare-status").inner_text())
    compared = page.request.get(base + page.locator("#compare-link a").get_attribute("href"))
    assert compared.status == 200
    page.screenshot(path=str(output_dir / "staff-review-runs.png"), full_page=True)


def test_the_language_switch_changes_every_string_and_is_remembered(servers: Any, new_page: Any) -> None:
    base = servers.settings.rasa_url
    page = console(new_page)
    sign_in(page, base)
    assert page.evaluate("() => document.documentElement.lang") == "zh-Hans"
    assert page.locator(".tabs a[data-view=conversations]").inner_text() == S["zh-Hans"]["tab_conversations"]
    switch = page.locator("#lang-switch")
    assert switch.locator("span[lang=en]").inner_text() == "English"
    switch.click()
    assert page.evaluate("() => document.documentElement.lang") == "en"
    assert page.locator(".tabs a[data-view=conversations]").inner_text() == S["en"]["tab_conversations"]
    assert page.locator("#test-heading").inner_text() == S["en"]["test_heading"]
    assert page.evaluate("() => document.activeElement.id") == "lang-switch", "focus stays on the switch"
    assert page.title().startswith(S["en"]["title"])
    page.reload()
    page.locator("#test-form").wait_for()
    assert page.evaluate("() => document.documentElement.lang") == "en", "remembered"
    # No string of the page is left empty or untranslated.
    missing = page.evaluate("""() => [...document.querySelectorAll('[data-t]')]
        .filter(n => !n.textContent.trim()).map(n => n.getAttribute('data-t'))""")
    assert missing == []
    page.locator("#lang-switch").click()
    assert page.evaluate("() => document.documentElement.lang") == "zh-Hans"
    # A browser that prefers Traditional Chinese gets the derived Traditional strings.
    hant = console(new_page, "zh-Hant")
    sign_in(hant, base)
    assert hant.evaluate("() => document.documentElement.lang") == "zh-Hant"
    assert hant.locator("#test-heading").inner_text() == S["zh-Hant"]["test_heading"] == "測試回答"


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two CSS rgb()/rgba() colours."""

    def luminance(colour: str) -> float:
        r, g, b = (int(x) / 255 for x in re.findall(r"\d+", colour)[:3])
        channel = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
        return 0.2126 * channel[0] + 0.7152 * channel[1] + 0.0722 * channel[2]

    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_keyboard_use_focus_ring_targets_and_landmarks_on_a_phone(servers: Any, new_page: Any) -> None:
    base = servers.settings.rasa_url
    page = console(new_page, "en", viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    sign_in(page, base)
    assert page.locator("header").count() == 1 and page.locator("nav").get_attribute("aria-label")
    assert page.locator("main#main").count() == 1
    # The skip link comes first and leads to the main content.
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.className") == "skip"
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "main"
    # Sections by keyboard: focus moves to the section's heading.
    page.locator(".tabs a[data-view=conversations]").focus()
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.activeElement.id === 'conv-heading'")
    assert page.locator("#view-test").is_hidden() and page.locator("#view-conversations").is_visible()
    assert page.locator(".tabs a[data-view=conversations]").get_attribute("aria-current") == "page"
    # The focus ring: at least 3 px, at least 3:1 against the page.
    page.locator("#f-q").focus()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")
    ring = page.evaluate("""() => { const s = getComputedStyle(document.activeElement);
        return [s.outlineStyle, parseFloat(s.outlineWidth), s.outlineColor,
                getComputedStyle(document.documentElement).backgroundColor]; }""")
    assert ring[0] == "solid" and ring[1] >= 3 and contrast(ring[2], ring[3]) >= 3, ring
    # Targets of at least 44 px and 16 px text in inputs, in every section.
    for view in ("test", "conversations", "handoff", "runs"):
        page.goto(f"{base}/staff/#{view}")
        page.locator(f"#view-{view}").wait_for()
        page.wait_for_timeout(300)
        small = page.evaluate("""() => [...document.querySelectorAll('button, a, input, select, textarea, label')]
            .filter(e => e.offsetParent !== null && !e.classList.contains('skip'))
            .filter(e => !(e.tagName === 'INPUT' && e.type === 'checkbox'))
            .filter(e => !(e.tagName === 'LABEL' && !e.querySelector('input[type=checkbox]')))
            .map(e => [e.tagName, e.id || e.className || e.textContent.slice(0, 20), Math.round(e.getBoundingClientRect().height)])
            .filter(x => x[2] < 44)""")
        assert small == [], (view, small)
        fonts = page.evaluate("""() => [...document.querySelectorAll('input:not([type=checkbox]), select, textarea')]
            .filter(e => e.offsetParent !== null).map(e => parseFloat(getComputedStyle(e).fontSize))""")
        assert not fonts or min(fonts) >= 16, (view, fonts)
    # Results are announced: live regions.
    assert {
        page.locator(f"#{i}").get_attribute("role") for i in ("test-status", "conv-count", "case-status", "run-status")
    } == {"status"}


# ---- axe-core ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "viewport",
    [
        pytest.param({"width": 1280, "height": 800}, id="desktop"),
        pytest.param({"width": 390, "height": 844}, id="phone"),
    ],
)
@pytest.mark.parametrize("lang", [pytest.param("zh-Hans", id="simplified"), pytest.param("en", id="english")])
def test_axe_finds_no_serious_violations(
    lang: str, viewport: Dict[str, int], servers: Any, new_page: Any, ask: Any, output_dir: Path
) -> None:
    base = servers.settings.rasa_url
    sender = f"console-axe-{uuid.uuid4().hex[:6]}"
    ask(sender, "广告说外泌体点滴能让全身年轻十岁")
    ask(sender, "我想找真人客服")
    page = console(new_page, lang, viewport=viewport)
    sign_in(page, base)
    size = "phone" if viewport["width"] < 500 else "desktop"
    assert axe_violations(page) == [], "the empty test panel"
    page.locator("#test-text").fill("广告说外泌体点滴能让全身年轻十岁")
    page.locator("#test-text").press("Enter")
    page.locator("#test-result").wait_for(timeout=UI_TIMEOUT_MS)
    assert axe_violations(page) == [], "the test panel with a flagged reply"
    page.screenshot(path=str(output_dir / f"staff-axe-test-{lang}-{size}.png"), full_page=True)

    page.goto(f"{base}/staff/#conversations")
    page.locator("#conv-list .item-open").first.wait_for()
    page.locator("#f-q").fill(sender)
    page.locator("#f-q").press("Enter")
    page.wait_for_function("() => document.querySelectorAll('#conv-list .item-open').length === 1")
    page.locator("#conv-list .item-open").first.click()
    page.locator("#conv-detail .detail-heading").wait_for()
    assert axe_violations(page) == [], "conversations with one open"

    page.goto(f"{base}/staff/#handoff")
    page.locator(f'#waiting-list .item-open[data-id="rest:{sender}"]').click()
    page.locator("#handoff-detail textarea").wait_for()
    assert axe_violations(page) == [], "hand-off with a waiting conversation open"
    page.screenshot(path=str(output_dir / f"staff-axe-handoff-{lang}-{size}.png"), full_page=True)

    page.goto(f"{base}/staff/#runs")
    page.locator("#run-file option").first.wait_for(state="attached")
    assert axe_violations(page) == [], "review runs"
