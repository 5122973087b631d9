"""The web widget in a real browser (Debian's headless Chromium via Playwright) against the real servers.

Each test opens the demo page served by the widget server of the session's `servers`, talks to the real
Rasa server over socket.io, checks what a person sees, and saves a screenshot under test-output/.
The answers the widget shows are compared with what the bot says over REST for the same message.
"""

from __future__ import annotations

import http.client
import os
import signal
import uuid
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List

import pytest

from bot.contract import LEVELS
from bot.kb import default_knowledge_base
from bot.serve import BotServers
from bot.widget import DIST_DIR, WidgetError, build_widget, load_widget_texts
from tests.conftest import split_reply

STRINGS = load_widget_texts()
REPLY_TIMEOUT_MS = 60_000
XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def demo_url(servers: BotServers) -> str:
    """The demo page of the running servers, with the widget built from the current sources."""
    build_widget(DIST_DIR)
    return servers.settings.widget_url


@pytest.fixture
def new_page(browser: Any) -> Iterator[Callable[..., Any]]:
    """Open pages in a fresh browser context (empty localStorage); records dialogs, errors and requests."""
    contexts: List[Any] = []

    def open_page(**context_options: Any) -> Any:
        context = browser.new_context(**({"viewport": {"width": 1100, "height": 860}} | context_options))
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        page.dialogs, page.errors, page.requested = [], [], []
        page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
        page.on("pageerror", lambda error: page.errors.append(str(error)))
        page.on("request", lambda request: page.requested.append(request.url))
        return page

    yield open_page
    for context in contexts:
        context.close()


def open_widget(page: Any, url: str) -> None:
    """Load the demo page, open the chat panel and wait until the socket session is confirmed."""
    page.goto(url)
    page.locator(".exo-launcher").click()
    page.locator('.exo-root[data-status="connected"]').wait_for(timeout=REPLY_TIMEOUT_MS)


def ask_widget(page: Any, text: str) -> Any:
    """Type a message, press Enter, and return the bot message that answers it."""
    before = page.locator(".exo-bot").count()
    page.locator(".exo-input").fill(text)
    page.locator(".exo-input").press("Enter")
    reply = page.locator(".exo-bot").nth(before)
    reply.wait_for(timeout=REPLY_TIMEOUT_MS)
    return reply


def rest_reply(ask: Callable[[str, str], List[Dict[str, Any]]], text: str) -> tuple[str, Dict[str, Any]]:
    """What the bot answers over REST to the same message from a new conversation."""
    return split_reply(ask(f"widget-oracle-{uuid.uuid4().hex[:8]}", text))


def shot(page: Any, output_dir: Path, name: str) -> None:
    """Save a screenshot of the page under test-output/."""
    page.screenshot(path=str(output_dir / f"widget-{name}.png"))


def shadow_eval(page: Any, script: str) -> Any:
    """Evaluate `script` (a function body using `root`, the widget's shadow root) in the page."""
    return page.evaluate(f"() => {{ const root = document.getElementById('exobot-widget').shadowRoot; {script} }}")


@pytest.mark.parametrize(
    "lang",
    [
        pytest.param("zh-Hans", id="simplified"),
        pytest.param("zh-Hant", id="traditional"),
        pytest.param("en", id="english"),
    ],
)
def test_answer_shows_grade_badge_citation_chips_and_flags(
    lang: str, demo_url: str, new_page: Any, ask: Any, output_dir: Path
) -> None:
    questions = {
        "zh-Hans": "打外泌体针能让全身返老还童吗？",
        "zh-Hant": "外泌體護膚安全嗎？",
        "en": "What human evidence is there for exosomes in skin care?",
    }
    page = new_page()
    open_widget(page, demo_url)
    reply = ask_widget(page, questions[lang])
    text, payload = rest_reply(ask, questions[lang])
    assert (
        payload["lang"] == lang and payload["evidence"] and payload["citations"]
    ), f"the oracle answer is no graded answer: {payload}"

    assert reply.get_attribute("lang") == lang
    badge = reply.locator(".exo-badge")
    assert badge.get_attribute("data-level") == payload["evidence"]["level"] in LEVELS
    assert badge.locator(".exo-badge-label").inner_text() == payload["evidence"]["label"]
    assert badge.locator(".exo-badge-key").inner_text().rstrip(":") == STRINGS[lang]["evidence"]
    background = badge.evaluate("b => getComputedStyle(b).backgroundColor")
    assert background not in (
        "rgba(0, 0, 0, 0)",
        "transparent",
        "rgb(75, 85, 99)",
    ), "the level has no colour of its own"

    chips = reply.locator(".exo-chip")
    assert [chips.nth(i).locator(".exo-chip-n").inner_text() for i in range(chips.count())] == [
        f"[{c['ref']}]" for c in payload["citations"]
    ]
    flags = reply.locator(".exo-flag")
    assert [flags.nth(i).get_attribute("data-code") for i in range(flags.count())] == [
        f["code"] for f in payload["flags"]
    ]
    assert reply.locator(".exo-flag-text").all_inner_texts() == [f["message"] for f in payload["flags"]]
    if lang == "zh-Hans":
        assert reply.locator(".exo-flag").count() == 1, "the injection claim raises the ⚠️ banner"

    body = reply.locator(".exo-text").inner_text()
    assert body and body in text, "the answer shown is the bot's answer"
    assert (
        payload["evidence"]["label"] not in body and f"[{payload['citations'][0]['ref']}]" not in body
    ), "the grade and sources lines are shown as badge and chips, not repeated in the text"
    shot(page, output_dir, f"answer-{lang}")


def test_a_composite_answer_shows_one_badge_and_one_set_of_chips_per_part(
    demo_url: str, new_page: Any, ask: Any, output_dir: Path
) -> None:
    """Issue 11: each part of an answer with its own grade badge and its own citation chips."""
    question = "Are exosome facials safe? And do exosomes help with Parkinson's disease?"
    page = new_page()
    open_widget(page, demo_url)
    reply = ask_widget(page, question)
    _, payload = rest_reply(ask, question)
    assert len(payload["parts"]) == 2, f"the oracle answer is not composite: {payload['facts']}"
    boxes = reply.locator(".exo-part")
    assert boxes.count() == len(payload["parts"])
    for i, part in enumerate(payload["parts"]):
        box = boxes.nth(i)
        assert box.locator(".exo-text").inner_text() == part["text"]
        assert box.locator(".exo-badge").get_attribute("data-level") == part["evidence"]["level"]
        assert box.locator(".exo-badge-label").inner_text() == part["evidence"]["label"]
        chips = box.locator(".exo-chip-n")
        assert [chips.nth(j).inner_text() for j in range(chips.count())] == [f"[{n}]" for n in part["refs"]]
        # Issue 11, point 4: the article passage behind the part, folded, in the original Chinese.
        fact = default_knowledge_base().facts[part["fact"]]
        passages = box.locator(".exo-passages")
        passages.locator("summary").click()
        assert passages.locator(".exo-passage-quote").all_inner_texts() == [p.quote for p in fact.source]
    shot(page, output_dir, "composite")


def test_citation_chip_opens_full_reference_with_pubmed_and_doi(
    demo_url: str, new_page: Any, ask: Any, output_dir: Path
) -> None:
    question = "外泌体护肤在人身上有证据吗？"
    page = new_page()
    open_widget(page, demo_url)
    reply = ask_widget(page, question)
    _, payload = rest_reply(ask, question)
    cite = payload["citations"][0]
    reference = default_knowledge_base().references[cite["ref"]]

    chip = reply.locator(".exo-chip").first
    chip.click()
    card = page.locator(".exo-ref")
    assert card.is_visible() and card.get_attribute("role") == "dialog"
    assert card.locator(".exo-ref-article").inner_text() == reference.title
    pubmed = card.locator('a[data-kind="pubmed"]')
    doi = card.locator('a[data-kind="doi"]')
    assert pubmed.get_attribute("href") == f"https://pubmed.ncbi.nlm.nih.gov/{cite['pmid']}/"
    assert doi.get_attribute("href") == f"https://doi.org/{cite['doi']}"
    assert pubmed.get_attribute("rel") == "noopener noreferrer" and pubmed.get_attribute("target") == "_blank"
    shot(page, output_dir, "reference")

    page.keyboard.press("Escape")
    assert not card.is_visible()
    assert shadow_eval(page, "return root.activeElement && root.activeElement.dataset.ref;") == str(cite["ref"])


def test_starter_and_suggestion_buttons_send_their_payload(demo_url: str, new_page: Any, output_dir: Path) -> None:
    page = new_page()
    open_widget(page, demo_url)
    starter = page.locator(".exo-starters .exo-suggestion").first
    starter_text = starter.inner_text()
    starter.click()
    first = page.locator(".exo-bot").first
    first.wait_for(timeout=REPLY_TIMEOUT_MS)
    assert page.locator(".exo-user .exo-text").first.inner_text() == starter_text
    assert first.get_attribute("data-type") in ("answer", "advice", "claim_check")

    suggestion = first.locator(".exo-suggestion").first
    title = suggestion.inner_text()
    suggestion.click()
    second = page.locator(".exo-bot").nth(1)
    second.wait_for(timeout=REPLY_TIMEOUT_MS)
    assert page.locator(".exo-user .exo-text").nth(1).inner_text() == title
    assert second.get_attribute("data-type") in (
        "answer",
        "advice",
        "claim_check",
    ), "a suggested question is understood"
    assert second.locator(".exo-badge").count() == 1
    shot(page, output_dir, "suggestion")


def test_pasted_markup_is_shown_as_text_and_never_runs(demo_url: str, new_page: Any, output_dir: Path) -> None:
    page = new_page()
    open_widget(page, demo_url)
    reply = ask_widget(page, XSS)
    page.wait_for_timeout(1000)  # time for an injected image to fail loading and fire onerror

    assert page.locator(".exo-user .exo-text").last.inner_text() == XSS, "the message is shown literally"
    assert page.dialogs == [], f"a script ran: {page.dialogs}"
    assert page.errors == []
    assert shadow_eval(page, "return root.querySelectorAll('img').length;") == 0
    assert page.evaluate("() => document.querySelectorAll('img').length") == 0
    assert not [url for url in page.requested if url.rstrip("/").endswith("/x")], "an injected <img src=x> was loaded"
    assert reply.inner_text().strip(), "the bot still answers"
    shot(page, output_dir, "markup-as-text")


def test_history_and_session_survive_a_reload(demo_url: str, new_page: Any, output_dir: Path) -> None:
    page = new_page()
    open_widget(page, demo_url)
    ask_widget(page, "What are exosomes?")
    before = page.locator(".exo-msg").all_inner_texts()
    session = page.evaluate(
        "() => JSON.parse(Object.entries(localStorage).find(([k]) => k.startsWith('exobot:'))[1]).sessionId"
    )

    page.reload()
    page.locator(".exo-launcher").click()
    page.locator('.exo-root[data-status="connected"]').wait_for(timeout=REPLY_TIMEOUT_MS)
    assert page.locator(".exo-msg").all_inner_texts() == before
    assert page.locator(".exo-starters").count() == 0, "no starter questions over an existing conversation"
    after = page.evaluate(
        "() => JSON.parse(Object.entries(localStorage).find(([k]) => k.startsWith('exobot:'))[1]).sessionId"
    )
    assert after == session, "the same Rasa session goes on after the reload"
    reply = ask_widget(page, "Is exosome skincare safe?")
    assert reply.get_attribute("lang") == "en", "replies still arrive in the resumed session"
    shot(page, output_dir, "history-after-reload")


def test_staff_view_shows_intent_confidence_topic_facts_and_level(
    demo_url: str, new_page: Any, ask: Any, output_dir: Path
) -> None:
    question = "外泌体是什么？"
    page = new_page()
    open_widget(page, demo_url)
    assert ask_widget(page, question).locator(".exo-debug").count() == 0, "no staff view without ?debug=1"

    page = new_page()
    open_widget(page, demo_url + "?debug=1")
    reply = ask_widget(page, question)
    _, payload = rest_reply(ask, question)
    field = lambda name: reply.locator(f'.exo-debug dd[data-field="{name}"]').inner_text()  # noqa: E731
    assert field("intent") == payload["intent"]
    assert abs(float(field("confidence")) - payload["confidence"]) < 0.01
    assert field("topic") == payload["topic"]
    assert field("facts") == ", ".join(payload["facts"])
    assert field("level") == payload["evidence"]["level"]
    # Why (the server's bot_explained): the NLU's intent ranking, the normalised text and the fact ranking
    # with scores, best first, with the answer's lead fact among the top five.
    reply.locator('.exo-debug dd[data-field="fact_ranking"] li').first.wait_for(timeout=REPLY_TIMEOUT_MS)
    ranking = lambda name: [  # noqa: E731
        (li.get_attribute("data-name"), float(li.get_attribute("data-score")))
        for li in reply.locator(f'.exo-debug dd[data-field="{name}"] li').all()
    ]
    intents, facts = ranking("intent_ranking"), ranking("fact_ranking")
    assert intents and [score for _, score in intents] == sorted((score for _, score in intents), reverse=True)
    assert all(0.0 <= score <= 1.0 for _, score in intents + facts)
    assert payload["facts"][0] in [name for name, _ in facts]
    assert field("normalised") == "外泌体是什么?"
    shot(page, output_dir, "staff-view")


def test_keyboard_use_typing_indicator_and_announcements(demo_url: str, new_page: Any, output_dir: Path) -> None:
    page = new_page()
    page.goto(demo_url)
    launcher = page.locator(".exo-launcher")
    launcher.focus()
    page.keyboard.press("Enter")
    assert launcher.get_attribute("aria-expanded") == "true"
    assert shadow_eval(page, "return root.activeElement.id;") == "exo-input"
    log = page.locator(".exo-log")
    assert log.get_attribute("role") == "log" and log.get_attribute("aria-live") == "polite"
    assert page.locator(".exo-status").get_attribute("role") == "status"
    page.locator('.exo-root[data-status="connected"]').wait_for(timeout=REPLY_TIMEOUT_MS)
    shadow_eval(
        page,
        """
        const typing = root.querySelector('.exo-typing');
        window.typingSeen = false;
        new MutationObserver(() => { if (!typing.hidden) window.typingSeen = true; }).observe(typing, {attributes: true});
    """,
    )

    page.keyboard.type("外泌体护肤安全吗？")
    page.keyboard.press("Enter")
    reply = page.locator(".exo-bot").first
    reply.wait_for(timeout=REPLY_TIMEOUT_MS)
    assert page.evaluate("() => window.typingSeen"), "the typing indicator showed while waiting"
    assert page.locator(".exo-typing").is_hidden()

    chip = reply.locator(".exo-chip").first
    chip.focus()
    page.keyboard.press("Enter")
    assert page.locator(".exo-ref").is_visible()
    assert shadow_eval(page, "return root.activeElement.className;") == "exo-ref-close"
    page.keyboard.press("Escape")
    page.keyboard.press("Escape")
    assert page.locator(".exo-panel").is_hidden()
    assert launcher.get_attribute("aria-expanded") == "false"
    assert shadow_eval(page, "return root.activeElement.className;") == "exo-launcher"
    shot(page, output_dir, "keyboard-closed")


def test_language_switch_changes_the_widget_strings_and_is_remembered(
    demo_url: str, new_page: Any, output_dir: Path
) -> None:
    page = new_page()
    open_widget(page, demo_url)
    send = page.locator(".exo-send")
    assert send.inner_text() == STRINGS["zh-Hans"]["send"]
    page.locator(".exo-lang").click()
    assert send.inner_text() == STRINGS["en"]["send"]
    assert page.locator(".exo-title").inner_text() == STRINGS["en"]["title"]
    assert page.locator(".exo-input").get_attribute("placeholder") == STRINGS["en"]["placeholder"]
    starters = page.locator(".exo-starters .exo-suggestion").all_inner_texts()
    assert starters and all(s.isascii() for s in starters), "starter questions follow the widget's language"
    page.reload()
    page.locator(".exo-launcher").click()
    assert page.locator(".exo-send").inner_text() == STRINGS["en"]["send"]
    assert page.evaluate("() => typeof window.io") == "undefined", "the bundled socket.io-client stays private"
    shot(page, output_dir, "english")


def test_phone_sized_screen_gets_a_full_screen_panel(demo_url: str, new_page: Any, output_dir: Path) -> None:
    page = new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, device_scale_factor=2)
    open_widget(page, demo_url)
    reply = ask_widget(page, "外泌體能讓皮膚變年輕嗎？")
    panel = page.locator(".exo-panel").bounding_box()
    assert panel["width"] == pytest.approx(390, abs=1) and panel["height"] == pytest.approx(844, abs=1)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390, "nothing overflows sideways"
    assert shadow_eval(page, "const log = root.querySelector('.exo-log'); return log.scrollWidth <= log.clientWidth;")
    for selector in (".exo-input", ".exo-send", ".exo-close"):
        box = page.locator(selector).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390 and box["height"] >= 32, f"{selector} is not usable"
    assert reply.locator(".exo-badge").is_visible()
    shot(page, output_dir, "phone")


def _get(servers: BotServers, path: str, host: str = "") -> tuple[int, str, str]:
    connection = http.client.HTTPConnection(servers.settings.host, servers.settings.widget_port, timeout=10)
    headers = {"Host": host} if host else {}
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    body = response.read().decode("utf-8", errors="replace")
    connection.close()
    return response.status, response.getheader("Content-Type", ""), body


def test_widget_server_serves_only_the_widget_and_the_demo_page(servers: BotServers, demo_url: str) -> None:
    status, content_type, body = _get(servers, "/widget.js")
    assert status == 200 and content_type.startswith("text/javascript") and "session_request" in body
    status, _, page = _get(servers, "/?debug=1")
    assert status == 200 and f'data-server="http://127.0.0.1:{servers.settings.rasa_port}"' in page
    assert 'data-debug="1"' in page
    for path in (
        "/../pyproject.toml",
        "/widget/src/widget.js",
        "/dist/widget.js",
        "/demo/index.html",
        "/%2e%2e/bot/serve.py",
    ):
        assert _get(servers, path)[0] == 404, path
    _, _, page = _get(servers, "/", host='evil"><script>alert(1)</script>:80')
    assert "<script>alert(1)" not in page and 'data-server="http://127.0.0.1:' in page


def test_widget_strings_need_both_languages(tmp_path: Path) -> None:
    assert all(STRINGS[lang][key] for lang in ("zh-Hans", "zh-Hant", "en") for key in STRINGS["en"])
    assert STRINGS["zh-Hant"]["evidence"] != STRINGS["zh-Hans"]["evidence"], "Traditional is derived, not copied"
    broken = tmp_path / "widget_texts.yml"
    broken.write_text("strings:\n  send:\n    zh: 发送\n", encoding="utf-8")
    with pytest.raises(WidgetError, match="'send' needs non-empty 'zh' and 'en'"):
        load_widget_texts(broken)
    broken.write_text("strings:\n  n:\n    zh: 第{n}条\n    en: number {m}\n", encoding="utf-8")
    with pytest.raises(WidgetError, match="different placeholders"):
        load_widget_texts(broken)


def test_widget_reconnects_after_the_rasa_server_restarts(
    servers: BotServers, demo_url: str, new_page: Any, output_dir: Path
) -> None:
    """Runs last: it restarts the session's Rasa server (same port, same tracker store)."""
    page = new_page()
    open_widget(page, demo_url)
    ask_widget(page, "What are exosomes?")

    try:
        os.killpg(servers.rasa_process.pid, signal.SIGTERM)
        servers.rasa_process.wait(timeout=30)
        page.locator('.exo-root[data-status="reconnecting"]').wait_for(timeout=REPLY_TIMEOUT_MS)
        page.locator(".exo-input").fill("外泌体护肤安全吗？")
        page.locator(".exo-input").press("Enter")
        assert page.locator(".exo-root").get_attribute("data-status") == "queued"
        assert page.locator(".exo-typing").is_hidden(), "no typing indicator while nobody can answer"
        shot(page, output_dir, "reconnecting")
        servers.start_rasa_server()
    finally:
        if servers.rasa_process.poll() is not None:  # leave a running server for the tests after this one
            servers.start_rasa_server()
    page.locator('.exo-root[data-status="connected"]').wait_for(timeout=REPLY_TIMEOUT_MS)
    queued_reply = page.locator(".exo-bot").nth(1)
    queued_reply.wait_for(timeout=REPLY_TIMEOUT_MS)
    assert queued_reply.get_attribute("lang") == "zh-Hans", "the message typed while offline was sent on reconnection"
    assert page.locator(".exo-msg").count() == 4
    shot(page, output_dir, "reconnected")


@pytest.mark.parametrize(
    "lang, helpful, not_helpful", [("en", "Helpful", "Not helpful"), ("zh-Hans", "有帮助", "没帮助")]
)
def test_feedback_buttons_store_the_rating_with_the_answer_and_insights_count_it(
    lang: str,
    helpful: str,
    not_helpful: str,
    demo_url: str,
    new_page: Any,
    tracker_db: Path,
    tmp_path: Path,
) -> None:
    """Contract 1.1 section 3 / issue 13 point 3: two buttons with accessible names, pressed state shown,
    an optional reason after "Not helpful"; stored as an event of web:<session> tied to the answer."""
    import json
    import time

    from tests.conftest import stored_events
    from tests.test_tools import run_bot

    question = {"en": "Is exosome skincare safe?", "zh-Hans": "外泌体护肤安全吗？"}[lang]
    page = new_page()
    open_widget(page, demo_url)
    since = time.time() - 1
    reply = ask_widget(page, question)
    good, bad = (
        reply.get_by_role("button", name=helpful, exact=True),
        reply.get_by_role("button", name=not_helpful, exact=True),
    )
    assert good.get_attribute("aria-pressed") == bad.get_attribute("aria-pressed") == "false"
    good.click()
    assert good.get_attribute("aria-pressed") == "true" and bad.get_attribute("aria-pressed") == "false"
    bad.click()
    assert bad.get_attribute("aria-pressed") == "true" and good.get_attribute("aria-pressed") == "false"
    reason = reply.locator(".exo-feedback-input")
    reason.fill("too vague <b>x</b>")
    reply.locator(".exo-feedback-send").click()

    session = page.evaluate(
        "() => { for (const k of Object.keys(localStorage)) if (k.startsWith('exobot:'))"
        " return JSON.parse(localStorage.getItem(k)).sessionId; }"
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        events = stored_events(tracker_db, session, "socketio")
        ratings = [e["value"] for e in events if e["event"] == "slot" and e.get("name") == "feedback"]
        if len(ratings) == 3:
            break
        time.sleep(0.2)
    answer = [e for e in events if e["event"] == "bot"][-1]
    assert [r["rating"] for r in ratings] == ["helpful", "not_helpful", "not_helpful"], ratings
    assert all(r["answer_timestamp"] == answer["timestamp"] for r in ratings)
    assert ratings[-1]["reason"] == "too vague <b>x</b>" and ratings[-1]["channel"] == "web"
    # A reload shows the rating pressed; the reason was shown as text, never as markup.
    open_widget(page, page.url)
    last = page.locator(".exo-bot").last
    assert last.get_by_role("button", name=not_helpful, exact=True).get_attribute("aria-pressed") == "true"

    result = run_bot(
        "insights",
        "--since",
        str(since_iso(since)),
        "--json",
        str(tmp_path / "i.json"),
        env={"TRACKER_SQLITE_PATH": str(tracker_db)},
    )
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "i.json").read_text(encoding="utf-8"))
    assert report["feedback"]["by_rating"]["not_helpful"] >= 2 and report["feedback"]["by_rating"]["helpful"] >= 1
    assert any(
        g["question"] == question and "too vague <b>x</b>" in g["reasons"] for g in report["feedback"]["not_helpful"]
    )


def since_iso(timestamp: float) -> str:
    """A local ISO time for `bot insights --since`."""
    from datetime import datetime

    return datetime.fromtimestamp(timestamp).isoformat(timespec="seconds")


def test_chinese_that_reads_the_same_in_both_scripts_is_answered_in_the_widgets_language(
    demo_url: str, new_page: Any
) -> None:
    """The widget sends its language with each message; Chinese without a script-specific character is
    answered in it (here Traditional), while the text's own script still comes first."""
    page = new_page()
    open_widget(page, demo_url + "?lang=zh-Hant")
    reply = ask_widget(page, "exosome 能不能改善 mitochondria 的 energy metabolism？")
    assert reply.get_attribute("lang") == "zh-Hant"
    assert ask_widget(page, "外泌体对帕金森病有用吗？").get_attribute("lang") == "zh-Hans"


def test_a_picture_of_an_ad_is_read_and_answered_with_its_flags(demo_url: str, new_page: Any, output_dir: Path) -> None:
    """Issue 18: a picture attached in the widget goes to our server, is read there, and is answered with the
    claim's flags, led by what was read; a file that is no picture is refused in the browser."""
    from tests.ocr.render import render

    page = new_page()
    open_widget(page, demo_url)
    lang = page.locator(".exo-root").get_attribute("lang") or "zh-Hans"
    strings = STRINGS[lang if lang in STRINGS else "zh-Hans"]
    data = render(["外泌体静脉回输", "激活全身细胞 逆转衰老", "临床证实 零副作用"], "zh-Hans", "photo", 7)
    before = page.locator(".exo-bot").count()
    page.locator(".exo-file").set_input_files(files=[{"name": "ad.jpg", "mimeType": "image/jpeg", "buffer": data}])
    reply = page.locator(".exo-bot").nth(before)
    reply.wait_for(timeout=REPLY_TIMEOUT_MS)
    codes = [
        reply.locator(".exo-flag").nth(i).get_attribute("data-code") for i in range(reply.locator(".exo-flag").count())
    ]
    assert "unsupported_systemic_injection_claim" in codes and "overstated_proof_claim" in codes, codes
    assert "我在你的图片里读到" in reply.inner_text()
    assert page.locator(".exo-user").last.locator(".exo-text").inner_text() == strings["picture_sent"]
    assert page.locator(".exo-user").last.get_attribute("data-state") == "answered"
    assert reply.locator("img").count() == 0 and not page.errors
    shot(page, output_dir, "picture")

    page.locator(".exo-file").set_input_files(files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hi"}])
    assert page.locator(".exo-notice").inner_text() == strings["picture_type"]
    assert page.locator(".exo-bot").count() == before + 1, "a refused file is never sent"
    assert page.locator(".exo-attach").get_attribute("title") == strings["attach_picture"]
