"""Issue 13: the widget never loses a question, keeps tabs consistent, and has what people expect of a
chat widget, accessibly (Debian's headless Chromium via Playwright, against the session's real servers).

Delivery is tested by standing between the page and the socket.io server (`SocketGate`): it can cut
the socket's network (open sockets closed, new ones refused, polling aborted), drop the client's messages
silently (the server never sees them, nothing tells the client), or drop the bot's answers on their way
back. axe-core (widget/node_modules, a dev dependency, never in the bundle) is injected into the page for
the accessibility checks.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import pytest

from bot.serve import BotServers
from bot.widget import WIDGET_DIR, install_node_modules
from tests.browser_checks import AXE, axe_violations
from tests.conftest import stored_events
from tests.test_widget_browser import (  # noqa: F401  (fixtures used by name)
    REPLY_TIMEOUT_MS,
    STRINGS,
    ask_widget,
    demo_url,
    new_page,
    open_widget,
    shadow_eval,
    shot,
)

SOCKET_URL = re.compile(r".*/socket\.io/.*")
PACKET_SEPARATOR = "\x1e"  # engine.io v4 joins the packets of one polling request with it


class SocketGate:
    """Stands between one browser context and the socket.io server (websocket and HTTP polling)."""

    def __init__(self, context: Any) -> None:
        self.open = True
        self.drop_user = 0  # client `user_uttered` messages to swallow (-1: all of them)
        self.drop_answers = False  # swallow the server's `bot_uttered` events
        self.dropped: List[str] = []
        self.sockets: List[Any] = []
        context.route_web_socket(SOCKET_URL, self._websocket)
        context.route(SOCKET_URL, self._http)

    def _swallow_user(self, message: str) -> bool:
        if '"user_uttered"' not in message or self.drop_user == 0:
            return False
        self.drop_user -= 1 if self.drop_user > 0 else 0
        self.dropped.append(message)
        return True

    def _answers_only_kept(self, payload: str) -> str:
        if not self.drop_answers:
            return payload
        packets = payload.split(PACKET_SEPARATOR)
        return PACKET_SEPARATOR.join(p for p in packets if '"bot_uttered"' not in p) or "6"  # noop packet

    def _websocket(self, ws: Any) -> None:
        if not self.open:
            ws.close()
            return
        server = ws.connect_to_server()
        self.sockets.append((ws, server))
        ws.on_message(lambda m: None if isinstance(m, str) and self._swallow_user(m) else server.send(m))
        server.on_message(
            lambda m: None if isinstance(m, str) and self.drop_answers and '"bot_uttered"' in m else ws.send(m)
        )

    def _http(self, route: Any) -> None:
        if not self.open:
            route.abort("internetdisconnected")
            return
        request = route.request
        if request.method == "POST" and self._swallow_user(request.post_data or ""):
            route.fulfill(
                status=200, body="ok", headers={"Content-Type": "text/html", "Access-Control-Allow-Origin": "*"}
            )
            return
        if request.method == "GET" and self.drop_answers:
            response = route.fetch()
            route.fulfill(response=response, body=self._answers_only_kept(response.text()))
            return
        route.continue_()

    def cut(self) -> None:
        """The socket's network is gone: open sockets closed, new ones refused."""
        self.open = False
        for ws, server in self.sockets:
            for end in (ws, server):
                try:
                    end.close()
                except Exception:  # already closed
                    pass
        self.sockets.clear()

    def restore(self) -> None:
        self.open = True


def session_of(page: Any) -> str:
    return page.evaluate(
        "() => { for (const k of Object.keys(localStorage)) if (k.startsWith('exobot:'))"
        " return JSON.parse(localStorage.getItem(k)).sessionId; }"
    )


def stored_state(page: Any) -> Dict[str, Any]:
    return page.evaluate(
        "() => { for (const k of Object.keys(localStorage)) if (k.startsWith('exobot:'))"
        " return JSON.parse(localStorage.getItem(k)); return null; }"
    )


def user_events(tracker_db: Path, session: str, client_id: Optional[str] = None) -> List[Dict[str, Any]]:
    events = [e for e in stored_events(tracker_db, session, "socketio") if e["event"] == "user"]
    return [e for e in events if client_id is None or (e.get("metadata") or {}).get("client_id") == client_id]


def wait_until(check: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def watch_status(page: Any) -> None:
    """Record every status the widget shows from now on (window.statuses)."""
    shadow_eval(
        page,
        """
        const r = root.querySelector('.exo-root');
        window.statuses = [r.dataset.status];
        new MutationObserver(() => window.statuses.push(r.dataset.status)).observe(r, {attributes: true, attributeFilter: ['data-status']});
    """,
    )


def message_texts(page: Any) -> List[tuple[str, str]]:
    """(from, first text) of every message shown, in order."""
    return shadow_eval(
        page,
        """return [...root.querySelectorAll('.exo-msg')].map(m =>
        [m.dataset.from, (m.querySelector('.exo-text') || m).textContent]);""",
    )


def test_a_message_typed_offline_survives_a_reload_and_is_answered_exactly_once(
    demo_url: str, new_page: Any, tracker_db: Path, output_dir: Path
) -> None:
    page = new_page()
    gate = SocketGate(page.context)
    open_widget(page, demo_url)
    gate.cut()
    page.context.set_offline(True)
    page.locator('.exo-root[data-status="offline"]').wait_for()
    question = "What are exosomes?"
    page.locator(".exo-input").fill(question)
    page.locator(".exo-input").press("Enter")
    user = page.locator(".exo-user").last
    assert user.get_attribute("data-state") == "queued"
    assert user.locator(".exo-state").inner_text() == STRINGS["zh-Hans"]["state_queued"]
    assert page.locator(".exo-typing").is_hidden(), "nobody is typing while the message cannot be sent"
    saved = stored_state(page)["messages"]
    assert [(m["text"], m["state"]) for m in saved] == [(question, "queued")], "the outbox is in localStorage"
    client_id = saved[0]["id"]
    shot(page, output_dir, "offline-queued")

    # Back online, but the socket's server is still out of reach: reload (the page itself loads).
    page.context.set_offline(False)
    page.reload()
    page.locator(".exo-launcher").click()
    user = page.locator(".exo-user").last
    assert user.locator(".exo-text").inner_text() == question
    assert user.get_attribute("data-state") == "queued", "after the reload the message still waits to be sent"
    assert page.locator(".exo-root").get_attribute("data-status") in ("connecting", "queued")

    gate.restore()
    reply = page.locator(".exo-bot").first
    reply.wait_for(timeout=REPLY_TIMEOUT_MS)
    page.locator('.exo-root[data-status="connected"]').wait_for()
    assert user.get_attribute("data-state") == "answered"
    page.wait_for_timeout(1500)  # time for a second answer, if one were coming
    assert [m[0] for m in message_texts(page)] == ["user", "bot"], "answered exactly once"
    session = session_of(page)
    assert len(user_events(tracker_db, session, client_id)) == 1, "the bot ran the turn once"

    page.reload()
    page.locator(".exo-launcher").click()
    page.locator('.exo-root[data-status="connected"]').wait_for(timeout=REPLY_TIMEOUT_MS)
    page.wait_for_timeout(1000)
    assert [m[0] for m in message_texts(page)] == ["user", "bot"]
    assert len(user_events(tracker_db, session, client_id)) == 1
    shot(page, output_dir, "offline-answered")
    assert page.errors == []


def test_an_answer_lost_on_its_way_is_sent_again_after_a_reload_never_answered_twice(
    demo_url: str, new_page: Any, tracker_db: Path
) -> None:
    page = new_page()
    gate = SocketGate(page.context)
    open_widget(page, demo_url)
    gate.drop_answers = True
    page.locator(".exo-input").fill("Is exosome skincare safe?")
    page.locator(".exo-input").press("Enter")
    user = page.locator(".exo-user").last
    page.locator('.exo-user[data-state="sent"]').wait_for()
    client_id = user.get_attribute("data-id")
    session = session_of(page)
    wait_until(
        lambda: any(e["event"] == "bot" for e in stored_events(tracker_db, session, "socketio")),
        what="the bot's answer",
    )
    assert page.locator(".exo-bot").count() == 0

    gate.drop_answers = False
    page.reload()
    page.locator(".exo-launcher").click()
    page.locator(".exo-bot").first.wait_for(timeout=REPLY_TIMEOUT_MS)
    page.locator('.exo-root[data-status="connected"]').wait_for()
    page.wait_for_timeout(1000)
    assert [m[0] for m in message_texts(page)] == ["user", "bot"]
    assert page.locator(".exo-user").last.get_attribute("data-state") == "answered"
    assert (
        len(user_events(tracker_db, session, client_id)) == 1
    ), "the re-sent message was answered from memory, not run again"
    bots = [e for e in stored_events(tracker_db, session, "socketio") if e["event"] == "bot"]
    assert len(bots) == 1
    assert page.errors == []


def test_a_silently_dropped_message_is_sent_again_and_answered(demo_url: str, new_page: Any, tracker_db: Path) -> None:
    page = new_page()
    gate = SocketGate(page.context)
    open_widget(page, demo_url + "?ack_timeout=3")
    watch_status(page)
    gate.drop_user = 1
    page.locator(".exo-input").fill("外泌体护肤安全吗？")
    page.locator(".exo-input").press("Enter")
    reply = page.locator(".exo-bot").first
    reply.wait_for(timeout=REPLY_TIMEOUT_MS)
    assert len(gate.dropped) == 1, "the first copy was dropped without a word"
    assert reply.get_attribute("lang") == "zh-Hans"
    page.locator('.exo-root[data-status="connected"]').wait_for()
    statuses = page.evaluate("() => window.statuses")
    assert "queued" in statuses, f"the dead connection was re-opened: {statuses}"
    assert (
        statuses.index("connected", 1) == len(statuses) - 1
    ), f"the status said connected while the message was lost: {statuses}"
    session = session_of(page)
    client_id = page.locator(".exo-user").last.get_attribute("data-id")
    assert len(user_events(tracker_db, session, client_id)) == 1
    assert page.errors == []


def test_a_message_never_answered_shows_not_delivered_with_retry(
    demo_url: str, new_page: Any, output_dir: Path
) -> None:
    page = new_page()
    gate = SocketGate(page.context)
    open_widget(page, demo_url + "?reply_timeout=4&ack_timeout=30")
    watch_status(page)
    gate.drop_user = -1
    page.locator(".exo-input").fill("外泌体是什么？")
    page.locator(".exo-input").press("Enter")
    user = page.locator(".exo-user").last
    page.locator('.exo-user[data-state="failed"]').wait_for(timeout=15_000)
    assert user.locator(".exo-state").inner_text() == STRINGS["zh-Hans"]["state_failed"]
    retry = user.get_by_role("button", name="重试", exact=True)
    assert retry.is_visible()
    assert page.locator(".exo-root").get_attribute("data-status") == "no_reply"
    assert page.locator(".exo-status").inner_text() == STRINGS["zh-Hans"]["status_no_reply"]
    statuses = page.evaluate("() => window.statuses")
    assert "connected" not in statuses[1:], f"the status said connected while no reply could come: {statuses}"
    assert page.locator(".exo-typing").is_hidden()
    shot(page, output_dir, "not-delivered")

    gate.drop_user = 0
    retry.click()
    page.locator(".exo-bot").first.wait_for(timeout=REPLY_TIMEOUT_MS)
    assert user.get_attribute("data-state") == "answered"
    assert user.get_by_role("button", name="重试").count() == 0
    page.locator('.exo-root[data-status="connected"]').wait_for()
    assert STRINGS["en"]["retry"] == "Retry" and STRINGS["zh-Hant"]["retry"] == "重試"
    assert page.errors == []


def test_two_tabs_show_one_conversation_and_never_an_answer_without_its_question(
    demo_url: str, new_page: Any, output_dir: Path
) -> None:
    first = new_page()
    open_widget(first, demo_url)
    second = first.context.new_page()
    second.errors = []
    second.on("pageerror", lambda error: second.errors.append(str(error)))
    open_widget(second, demo_url)
    assert session_of(first) == session_of(second)

    ask_widget(second, "What are exosomes?")
    first.locator(".exo-bot").first.wait_for(timeout=REPLY_TIMEOUT_MS)
    ask_widget(first, "外泌体护肤安全吗？")
    second.locator(".exo-bot").nth(1).wait_for(timeout=REPLY_TIMEOUT_MS)
    first.wait_for_timeout(500)
    shown = [message_texts(first), message_texts(second)]
    assert shown[0] == shown[1], "both tabs show the same conversation"
    assert [m[0] for m in shown[0]] == ["user", "bot", "user", "bot"], f"every answer follows its question: {shown[0]}"
    assert shown[0][0][1] == "What are exosomes?" and shown[0][2][1] == "外泌体护肤安全吗？"
    shot(second, output_dir, "second-tab")

    # A new conversation in one tab is the new conversation in the other.
    first.locator(".exo-new").click()
    first.locator(".exo-confirm-ok").click()
    second.wait_for_function("() => !document.getElementById('exobot-widget').shadowRoot.querySelector('.exo-msg')")
    assert session_of(second) == session_of(first)
    ask_widget(second, "What are exosomes?")
    first.locator(".exo-bot").first.wait_for(timeout=REPLY_TIMEOUT_MS)
    assert [m[0] for m in message_texts(first)] == ["user", "bot"]
    assert first.errors == [] and second.errors == []


# ---- What people expect of a chat widget (issue 13, point 4)


def test_a_reply_while_closed_shows_an_unread_badge_and_a_count_in_the_page_title(demo_url: str, new_page: Any) -> None:
    page = new_page()
    open_widget(page, demo_url)
    title = page.title()
    page.keyboard.press("Escape")
    launcher = page.locator(".exo-launcher")
    assert launcher.get_attribute("aria-expanded") == "false"
    page.evaluate("() => window.ExobotWidget.send('What are exosomes?')")  # as a starter button would
    page.locator(".exo-unread").wait_for(timeout=REPLY_TIMEOUT_MS)
    assert page.locator(".exo-unread").inner_text() == "1"
    assert page.title() == f"(1) {title}"
    assert "1 条新回复" in launcher.aria_snapshot(), launcher.aria_snapshot()
    launcher.click()
    assert page.locator(".exo-unread").is_hidden() and page.title() == title
    assert page.errors == []


def test_timestamps_copy_button_counter_paste_notice_and_a_growing_input(
    demo_url: str, new_page: Any, output_dir: Path
) -> None:
    page = new_page()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    open_widget(page, demo_url + "?lang=en")
    reply = ask_widget(page, "Is exosome skincare safe?")
    for message in (page.locator(".exo-user").last, reply):
        stamp = message.locator("time.exo-time")
        assert re.fullmatch(r"\d{1,2}:\d{2}( [AP]M)?", stamp.inner_text()), stamp.inner_text()
        assert stamp.get_attribute("datetime").endswith("Z")
    assert page.locator(".exo-user").last.locator(".exo-state").inner_text() == STRINGS["en"]["state_answered"]

    copy = reply.get_by_role("button", name="Copy answer")
    copy.click()
    reply.locator(".exo-copy-text", has_text=STRINGS["en"]["copied"]).wait_for()
    answer_text = stored_state(page)["messages"][-1]["text"]
    assert (
        page.evaluate("() => navigator.clipboard.readText()") == answer_text
    ), "the whole answer, grade and sources included"

    box = page.locator(".exo-input")
    counter = page.locator(".exo-counter span[aria-hidden]")
    assert counter.is_hidden()
    box.fill("abc")
    assert counter.inner_text() == "3/2000" and counter.is_visible()
    assert page.locator(".exo-counter .exo-sr").text_content() == STRINGS["en"]["counter_label"].format(n=3, max=2000)
    assert box.get_attribute("aria-describedby") == "exo-counter"
    height = box.bounding_box()["height"]
    box.press("Shift+Enter")
    box.type("second line")
    box.press("Shift+Enter")
    box.type("third line")
    assert box.input_value() == "abc\nsecond line\nthird line", "Shift+Enter starts a new line"
    assert page.locator(".exo-user").count() == 1, "Shift+Enter does not send"
    assert box.bounding_box()["height"] > height + 20, "the input grows with its lines"

    box.fill("")
    shadow_eval(
        page,
        """
        const input = root.querySelector('.exo-input');
        input.focus();
        const data = new DataTransfer();
        data.setData('text/plain', 'x'.repeat(2500));
        input.dispatchEvent(new ClipboardEvent('paste', {clipboardData: data, bubbles: true, cancelable: true}));
    """,
    )
    assert len(box.input_value()) == 2000
    notice = page.locator(".exo-notice")
    assert notice.is_visible() and notice.inner_text() == STRINGS["en"]["paste_cut"].format(max=2000)
    assert counter.inner_text() == "2000/2000"
    shot(page, output_dir, "paste-cut")
    box.fill("")
    assert notice.is_hidden()
    assert page.errors == []


def test_urls_in_answers_are_safe_links(demo_url: str, new_page: Any) -> None:
    page = new_page()
    open_widget(page, demo_url + "?lang=en")
    page.evaluate("""() => window.ExobotWidget.connection.onBotUttered({text:
        'Read https://pubmed.ncbi.nlm.nih.gov/123/ and (see https://example.org/a?b=1&c=<x>). ' +
        'Not javascript:alert(1) nor data:text/html,<b>x</b> nor ftp://example.org/f.'})""")
    message = page.locator(".exo-bot").last
    links = message.locator("a")
    assert links.count() == 2
    assert [links.nth(i).get_attribute("href") for i in range(2)] == [
        "https://pubmed.ncbi.nlm.nih.gov/123/",
        "https://example.org/a?b=1&c=",
    ]
    for i in range(2):
        assert links.nth(i).get_attribute("rel") == "noopener noreferrer"
        assert links.nth(i).get_attribute("target") == "_blank"
    assert (
        message.locator(".exo-text")
        .inner_text()
        .startswith("Read https://pubmed.ncbi.nlm.nih.gov/123/ and (see https://example.org/a?b=1&c=<x>).")
    )
    assert links.first.get_attribute("aria-describedby") == "exo-new-tab"
    assert page.locator("#exo-new-tab").text_content() == STRINGS["en"]["new_tab"]
    assert shadow_eval(page, "return root.querySelectorAll('b, script, iframe').length;") == 0
    assert page.dialogs == []


def test_new_conversation_asks_first_and_delete_my_history_clears_the_browser(
    demo_url: str, new_page: Any, output_dir: Path
) -> None:
    page = new_page()
    open_widget(page, demo_url)
    question = "外泌体是什么？"
    ask_widget(page, question)
    session = session_of(page)

    new = page.locator(".exo-new")
    new.click()
    dialog = page.get_by_role("alertdialog")
    assert dialog.is_visible() and dialog.get_attribute("aria-modal") == "true"
    assert (
        shadow_eval(page, "return root.activeElement.className;") == "exo-confirm-cancel"
    ), "the safe choice has focus"
    shot(page, output_dir, "confirm-new")
    page.keyboard.press("Escape")
    assert dialog.is_hidden() and page.locator(".exo-msg").count() == 2, "Escape keeps the conversation"
    assert shadow_eval(page, "return root.activeElement.className;") == "exo-new"
    new.click()
    page.get_by_role("button", name=STRINGS["zh-Hans"]["new_chat_confirm"], exact=True).click()
    assert page.locator(".exo-msg").count() == 0 and page.locator(".exo-starters").is_visible()
    assert session_of(page) != session
    page.locator('.exo-root[data-status="connected"]').wait_for(timeout=REPLY_TIMEOUT_MS)

    ask_widget(page, question)
    page.locator(".exo-more").click()
    assert page.locator(".exo-menu-note").inner_text() == STRINGS["zh-Hans"]["history_note"].format(days=30)
    page.get_by_role("button", name=STRINGS["zh-Hans"]["delete_history"], exact=True).click()
    page.get_by_role("button", name=STRINGS["zh-Hans"]["delete_history_confirm"], exact=True).click()
    assert page.locator(".exo-msg").count() == 0
    kept = page.evaluate("() => JSON.stringify(Object.fromEntries(Object.entries(localStorage)))")
    assert question not in kept and session not in kept, "nothing of the conversation stays in the browser"
    assert page.errors == []


def test_history_expires_after_the_configured_number_of_days(demo_url: str, new_page: Any) -> None:
    page = new_page()
    open_widget(page, demo_url)
    ask_widget(page, "What are exosomes?")
    ask_widget(page, "Is exosome skincare safe?")
    # The first exchange happened three days ago, the second one day ago.
    page.evaluate("""() => {
        const key = Object.keys(localStorage).find(k => k.startsWith('exobot:'));
        const state = JSON.parse(localStorage.getItem(key));
        const day = 24 * 3600 * 1000;
        state.messages.forEach((m, i) => { m.ts = Date.now() - (i < 2 ? 3 : 1) * day + i; });
        localStorage.setItem(key, JSON.stringify(state));
    }""")
    page.goto(demo_url + "?history_days=2")
    page.locator(".exo-launcher").click()
    assert [m[1] for m in message_texts(page) if m[0] == "user"] == ["Is exosome skincare safe?"]
    assert len(stored_state(page)["messages"]) == 2, "expired messages are deleted from storage too"
    page.goto(demo_url)  # default: 30 days
    page.locator(".exo-launcher").click()
    assert page.locator(".exo-user").count() == 1


def test_history_saved_by_the_first_widget_version_is_kept(demo_url: str, new_page: Any) -> None:
    page = new_page()
    page.goto(demo_url)
    server = page.locator("script[data-server]").get_attribute("data-server")
    page.evaluate(
        """server => { localStorage.clear(); localStorage.setItem('exobot:v1:' + server, JSON.stringify({
        sessionId: 'legacy-session-123', lang: 'en',
        messages: [{from: 'user', text: 'What are exosomes?'}, {from: 'bot', text: 'Tiny packets.', payload: null}]})); }""",
        server,
    )
    page.reload()
    page.locator(".exo-launcher").click()
    assert message_texts(page) == [["user", "What are exosomes?"], ["bot", "Tiny packets."]]
    assert page.locator(".exo-user").get_attribute("data-state") == "answered"
    assert page.locator(".exo-send").inner_text() == STRINGS["en"]["send"]
    state = stored_state(page)
    assert state["sessionId"] == "legacy-session-123" and state["lang"] == "en"
    assert page.evaluate("() => Object.keys(localStorage).filter(k => k.startsWith('exobot:v1:')).length") == 0
    page.locator('.exo-root[data-status="connected"]').wait_for(timeout=REPLY_TIMEOUT_MS)
    assert page.errors == []


def test_dark_mode_follows_the_system_setting(demo_url: str, new_page: Any, output_dir: Path) -> None:
    page = new_page(color_scheme="dark")
    open_widget(page, demo_url)
    ask_widget(page, "What are exosomes?")
    colours = shadow_eval(
        page,
        """
        const style = (s, p) => getComputedStyle(root.querySelector(s))[p];
        return [style('.exo-panel', 'backgroundColor'), style('.exo-log', 'backgroundColor'), style('.exo-bot .exo-text', 'color')];
    """,
    )
    assert [luminance(c) for c in colours[:2]] < [0.05, 0.05] and luminance(colours[2]) > 0.6, colours
    shot(page, output_dir, "dark")


def luminance(css: str) -> float:
    r, g, b = (int(v) for v in re.findall(r"\d+", css)[:3])

    def channel(c: int) -> float:
        c /= 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


# ---- Accessibility (issue 13, point 5)


def test_the_reference_card_keeps_focus_inside_with_close_first(demo_url: str, new_page: Any) -> None:
    page = new_page()
    open_widget(page, demo_url)
    reply = ask_widget(page, "外泌体护肤在人身上有证据吗？")
    reply.locator(".exo-chip").first.click()
    card = page.locator(".exo-ref")
    assert card.get_attribute("aria-modal") == "true"
    order = shadow_eval(
        page, "return [...root.querySelector('.exo-ref').querySelectorAll('button, a')].map(e => e.className);"
    )
    assert order[0] == "exo-ref-close", f"Close comes first: {order}"
    assert shadow_eval(page, "return root.activeElement.className;") == "exo-ref-close"
    visited = []
    for _ in range(2 * len(order) + 1):
        page.keyboard.press("Tab")
        visited.append(
            shadow_eval(
                page, "const a = root.activeElement; return a && a.closest('.exo-ref') ? a.className : 'OUTSIDE';"
            )
        )
    assert "OUTSIDE" not in visited, visited
    assert set(visited) == set(order), "Tab goes round every control of the card"
    page.keyboard.press("Escape")
    page.locator(".exo-chip").first.focus()
    page.keyboard.press("Enter")
    page.keyboard.press("Shift+Tab")
    assert (
        shadow_eval(page, "return root.activeElement.className;") == order[-1]
    ), "Shift+Tab from Close goes to the last control"


def test_the_full_screen_phone_panel_keeps_focus_inside(demo_url: str, new_page: Any) -> None:
    page = new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, device_scale_factor=2)
    open_widget(page, demo_url)
    ask_widget(page, "What are exosomes?")
    assert page.locator(".exo-panel").get_attribute("aria-modal") == "true"
    page.locator(".exo-input").focus()
    for key in ["Tab"] * 40 + ["Shift+Tab"] * 40:
        page.keyboard.press(key)
        inside = page.evaluate("""() => {
            const host = document.getElementById('exobot-widget');
            const active = host.shadowRoot.activeElement;
            return document.activeElement === host && !!active && !!active.closest('.exo-panel');
        }""")
        assert inside, f"focus left the full-screen panel after {key}"


@pytest.mark.parametrize(
    "lang, launcher, switch", [("zh-Hans", "问问证据", "English"), ("en", "Ask the evidence", "中文")]
)
def test_accessible_names_contain_the_visible_labels(
    lang: str, launcher: str, switch: str, demo_url: str, new_page: Any
) -> None:
    page = new_page()
    open_widget(page, demo_url + ("?lang=en" if lang == "en" else ""))
    button = page.locator(".exo-launcher")
    assert button.locator(".exo-launcher-label").inner_text() == launcher
    assert re.search(rf'button "{re.escape(launcher)}', button.aria_snapshot()), button.aria_snapshot()
    lang_button = page.locator(".exo-lang")
    assert lang_button.locator("span:not(.exo-sr)").inner_text() == switch
    assert re.search(rf'button "{re.escape(switch)}', lang_button.aria_snapshot()), lang_button.aria_snapshot()
    new = page.locator(".exo-new")
    assert f'button "{new.inner_text()}' in new.aria_snapshot()


def test_focus_rings_and_control_borders_have_3_to_1_contrast(demo_url: str, new_page: Any) -> None:
    page = new_page()
    open_widget(page, demo_url)
    ask_widget(page, "外泌体护肤安全吗？")
    page.keyboard.press("Shift")  # keyboard use: programmatic focus shows the focus ring
    checks = shadow_eval(
        page,
        """
        const bg = node => { for (let n = node.parentElement; n; n = n.parentElement) {
            const c = getComputedStyle(n).backgroundColor; if (c !== 'rgba(0, 0, 0, 0)') return c; } return 'rgb(255, 255, 255)'; };
        const out = [];
        for (const sel of ['.exo-input', '.exo-send', '.exo-lang', '.exo-close', '.exo-suggestion', '.exo-feedback-button', '.exo-chip', '.exo-copy']) {
            const node = root.querySelector(sel);
            node.focus();
            const s = getComputedStyle(node);
            out.push({sel, ring: s.outlineColor, ringWidth: s.outlineWidth, border: s.borderTopColor,
                      borderWidth: s.borderTopWidth, around: bg(node)});
        }
        return out;
    """,
    )
    for c in checks:
        assert c["ringWidth"] in ("3px",) and contrast(c["ring"], c["around"]) >= 3, f"focus ring of {c}"
        if c["sel"] in (
            ".exo-input",
            ".exo-suggestion",
            ".exo-feedback-button",
            ".exo-chip",
            ".exo-copy",
            ".exo-lang",
            ".exo-close",
        ):
            assert contrast(c["border"], c["around"]) >= 3, f"border of {c}"


def test_phone_input_is_16px_and_touch_targets_are_44px(demo_url: str, new_page: Any, output_dir: Path) -> None:
    page = new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, device_scale_factor=2)
    open_widget(page, demo_url)
    reply = ask_widget(page, "外泌体护肤在人身上有证据吗？")
    assert shadow_eval(page, "return getComputedStyle(root.querySelector('.exo-input')).fontSize;") == "16px"
    small = shadow_eval(
        page,
        """
        return [...root.querySelectorAll('.exo-panel button, .exo-panel a, .exo-panel textarea, .exo-panel input')]
            .filter(e => e.getClientRects().length && !e.closest('[hidden]') && !e.closest('.exo-ref'))
            .map(e => [e.className, Math.round(e.getBoundingClientRect().height), Math.round(e.getBoundingClientRect().width)])
            .filter(([, h, w]) => h < 44 || w < 44);
    """,
    )
    assert small == [], f"touch targets under 44 px: {small}"
    reply.locator(".exo-chip").first.click()
    small = shadow_eval(
        page,
        """
        return [...root.querySelectorAll('.exo-ref button, .exo-ref a')]
            .map(e => [e.className, Math.round(e.getBoundingClientRect().height)]).filter(([, h]) => h < 44);
    """,
    )
    assert small == [], small
    shot(page, output_dir, "phone-reference")


def test_traditional_wording_and_traditional_fonts(demo_url: str, new_page: Any) -> None:
    hant = STRINGS["zh-Hant"]
    assert "分頁" in hant["new_tab"] and not any("標籤頁" in text for text in hant.values())
    assert not any(
        word in text for text in hant.values() for word in ("信息", "界面", "連接", "視圖")
    ), "mainland wording"
    page = new_page()
    open_widget(page, demo_url + "?lang=zh-Hant")
    fonts = shadow_eval(page, "return getComputedStyle(root.querySelector('.exo-root')).fontFamily;")
    assert (
        "PingFang TC" in fonts and "Noto Sans CJK TC" in fonts and fonts.index("TC") < fonts.index("sans-serif")
    ), fonts
    assert "SC" not in fonts, fonts


def test_a_phone_on_its_side_gets_a_full_screen_panel_with_a_usable_log(
    demo_url: str, new_page: Any, output_dir: Path
) -> None:
    page = new_page(viewport={"width": 844, "height": 390}, is_mobile=True, has_touch=True, device_scale_factor=2)
    open_widget(page, demo_url)
    ask_widget(page, "What are exosomes?")
    panel = page.locator(".exo-panel").bounding_box()
    assert (panel["x"], panel["y"], panel["width"], panel["height"]) == pytest.approx((0, 0, 844, 390), abs=1)
    log = page.locator(".exo-log").bounding_box()
    assert log["height"] >= 200, f"the conversation gets only {log['height']} px"
    assert page.locator(".exo-launcher").is_hidden()
    shot(page, output_dir, "landscape")


# ---- axe-core: no serious or critical violations


@pytest.mark.parametrize("lang", ["zh-Hans", "en"])
@pytest.mark.parametrize(
    "viewport",
    [
        pytest.param({"width": 1280, "height": 800}, id="desktop"),
        pytest.param({"width": 390, "height": 844}, id="phone"),
    ],
)
def test_axe_finds_no_serious_violations(
    lang: str, viewport: Dict[str, int], demo_url: str, new_page: Any, output_dir: Path
) -> None:
    phone = viewport["width"] < 500
    page = new_page(viewport=viewport, **({"is_mobile": True, "has_touch": True} if phone else {}))
    open_widget(page, demo_url + ("?lang=en" if lang == "en" else ""))
    question = {
        "zh-Hans": "打外泌体针能让全身返老还童吗？",
        "en": "What human evidence is there for exosomes in skin care?",
    }[lang]
    reply = ask_widget(page, question)
    assert reply.locator(".exo-chip").count() and reply.locator(".exo-feedback").count()
    assert axe_violations(page) == [], "with an answer shown"
    reply.locator(".exo-chip").first.click()
    assert page.locator(".exo-ref").is_visible()
    assert axe_violations(page) == [], "with the reference card open"
    shot(page, output_dir, f"axe-{lang}-{'phone' if phone else 'desktop'}")


def test_axe_finds_no_serious_violations_in_dark_mode_and_the_staff_view(demo_url: str, new_page: Any) -> None:
    page = new_page(color_scheme="dark", viewport={"width": 1280, "height": 800})
    open_widget(page, demo_url + "?debug=1")
    reply = ask_widget(page, "打外泌体针能让全身返老还童吗？")
    reply.get_by_role("button", name=STRINGS["zh-Hans"]["not_helpful"], exact=True).click()
    page.locator(".exo-more").click()
    assert axe_violations(page) == []


# ---- Staff view (issue 13, point 6)


def test_staff_view_shows_language_flags_parts_session_and_copies_the_payload(
    demo_url: str, new_page: Any, output_dir: Path
) -> None:
    page = new_page()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    open_widget(page, demo_url + "?debug=1")
    reply = ask_widget(page, "Are exosome facials safe? And do exosomes help with Parkinson's disease?")
    payload = stored_state(page)["messages"][-1]["payload"]
    assert len(payload["parts"]) == 2, payload
    field = lambda name: reply.locator(f'.exo-debug dd[data-field="{name}"]')  # noqa: E731
    assert field("lang").inner_text() == payload["lang"] == "en"
    items = field("parts").locator("li")
    assert [
        (items.nth(i).get_attribute("data-fact"), items.nth(i).get_attribute("data-level"))
        for i in range(items.count())
    ] == [(p["fact"], p["evidence"]["level"]) for p in payload["parts"]]
    assert field("flags").inner_text() == "—"
    flagged = ask_widget(page, "打外泌体针能让全身返老还童吗？")
    flagged_payload = stored_state(page)["messages"][-1]["payload"]
    assert flagged.locator('.exo-debug dd[data-field="flags"]').inner_text() == "unsupported_systemic_injection_claim"
    assert flagged.locator('.exo-debug dd[data-field="lang"]').inner_text() == flagged_payload["lang"] == "zh-Hans"
    assert field("session").inner_text() == session_of(page)
    assert field("reply_to").inner_text() == page.locator(".exo-user").first.get_attribute("data-id")
    reply.locator(".exo-debug-copy").click()
    assert json.loads(page.evaluate("() => navigator.clipboard.readText()")) == payload
    shot(page, output_dir, "staff-view-full")


def test_a_stored_conversation_gives_the_answer_of_a_client_id() -> None:
    from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    from bot.channels.socketio import client_id_of, stored_reply

    tracker = DialogueStateTracker.from_events(
        "web:s",
        [
            UserUttered("What are exosomes?", metadata={"client_id": "a" * 32}),
            ActionExecuted("action_answer"),
            BotUttered(
                "Tiny packets.", data={"custom": {"type": "answer"}, "buttons": [{"title": "More", "payload": "more"}]}
            ),
            UserUttered("外泌体护肤安全吗？", metadata={"client_id": "b" * 32}),
            ActionExecuted("action_answer"),
            UserUttered("no id"),
            BotUttered("Later."),
        ],
    )
    assert stored_reply(tracker, "a" * 32) == [
        {
            "text": "Tiny packets.",
            "custom": {"type": "answer"},
            "quick_replies": [{"title": "More", "payload": "more"}],
        },
    ]
    apology = stored_reply(tracker, "b" * 32)
    assert (
        len(apology) == 1 and apology[0]["custom"]["unavailable"] is True and apology[0]["custom"]["lang"] == "zh-Hans"
    )
    assert stored_reply(tracker, "c" * 32) is None and stored_reply(None, "a" * 32) is None
    assert client_id_of({"client_id": "a" * 32}) == "a" * 32
    assert [client_id_of({"client_id": v}) for v in ("short", "x" * 65, "bad id with spaces", 12345678, None)] == [
        None
    ] * 5


# ---- The server answers a client message id once, also after a restart (a bot of its own: restarted here)


def socket_client(servers: BotServers, session: str) -> Any:
    import socketio

    client = socketio.SimpleClient()
    client.connect(servers.settings.rasa_url, socketio_path="/socket.io", transports=["polling"], wait_timeout=20)
    client.emit("session_request", {"session_id": session})
    assert client.receive(timeout=20) == ["session_confirm", session]
    return client


def exchange(client: Any, session: str, text: str, client_id: str, attempt: int) -> List[List[Any]]:
    """Send one message; the events received until its first bot message."""
    client.emit("user_uttered", {"message": text, "session_id": session, "client_id": client_id, "attempt": attempt})
    events = []
    while not any(e[0] == "bot_uttered" for e in events):
        events.append(client.receive(timeout=60))
    return events


def test_the_server_answers_a_client_id_once_even_after_a_restart(servers: BotServers, bot_factory: Any) -> None:
    import uuid

    # Two Rasa processes as the session's, sharing its action server; restarting them leaves the session's be.
    servers = bot_factory(action_server=False, action_port=servers.settings.action_port, workers=2)
    tracker_db = Path(servers.settings.env["TRACKER_SQLITE_PATH"])
    session, client_id = uuid.uuid4().hex, uuid.uuid4().hex
    client = socket_client(servers, session)
    try:
        first = exchange(client, session, "What are exosomes?", client_id, 0)
        assert first[0] == ["user_received", {"client_id": client_id}]
        answer = first[-1][1]
        assert answer["reply_to"] == client_id and answer["message_id"] == f"{client_id}:0" and "replay" not in answer
        again = exchange(client, session, "What are exosomes?", client_id, 1)[-1][1]
        assert again == {**answer, "replay": True}
    finally:
        client.disconnect()
    events = user_events(tracker_db, session, client_id)
    assert len(events) == 1 and events[0]["text"] == "What are exosomes?", "the client id is stored with the user event"

    try:
        os.killpg(servers.rasa_process.pid, signal.SIGTERM)
        servers.rasa_process.wait(timeout=30)
        servers.start_rasa_server()
    finally:
        if servers.rasa_process.poll() is not None:
            servers.start_rasa_server()
    client = socket_client(servers, session)
    try:
        replayed = exchange(client, session, "What are exosomes?", client_id, 2)[-1][1]
        assert replayed == {**answer, "replay": True}, "answered from the stored conversation"
        other = exchange(client, session, "Is exosome skincare safe?", uuid.uuid4().hex, 0)[-1][1]
        assert "replay" not in other and other["custom"]["type"] in ("answer", "advice")
    finally:
        client.disconnect()
    assert len(user_events(tracker_db, session, client_id)) == 1
    assert len(user_events(tracker_db, session)) == 2
