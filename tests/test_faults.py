"""Faults: the action server killed or hung during load, and the Rasa server restarted mid-conversation.

These tests start and stop servers of their own (bot_factory); the session's `servers` are not touched.
While the action server is down, every channel answers with the apology of data/texts.yml
(`replies.unavailable`) instead of silence, and the bot recovers when the action server is back. After a
restart of the Rasa server, a follow-up question continues the conversation from the tracker store.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Dict, List, Optional

import aiohttp
import pytest

from bot.lang import detect_script, normalize
from bot.serve import BotServers
from bot.texts import default_texts
from tests.conftest import split_reply, stored_events
from tests.test_telegram import TelegramServer
from tests.test_wechat import WeChatServer, new_user

ACTION_TIMEOUT = 3  # seconds, for the hung-action-server case (the default is 10)
API_TOKEN = "fault-api-token"
QUESTIONS = [
    "外泌体是什么？",
    "What are exosomes?",
    "外泌體安全嗎？",
    "Is exosome skincare proven?",
    "外泌体面霜有用吗？",
    "Do exosome injections reverse ageing?",
]
TEXTS = default_texts()


@pytest.fixture(scope="module")
def bot(bot_factory: Any, channel_env: Dict[str, str]) -> BotServers:
    """A bot of its own, with the messaging channels on, the HTTP API on and a short action timeout."""
    return bot_factory(env={**channel_env, "ACTION_TIMEOUT": str(ACTION_TIMEOUT), "RASA_API_TOKEN": API_TOKEN})


def webhook(bot: BotServers) -> str:
    """The REST channel's URL."""
    return f"{bot.settings.rasa_url}/webhooks/rest/webhook"


def ask(bot: BotServers, sender: str, message: str) -> tuple[List[Dict[str, Any]], float]:
    """REST reply and the seconds it took."""
    body = json.dumps({"sender": sender, "message": message}).encode()
    request = urllib.request.Request(webhook(bot), data=body, headers={"Content-Type": "application/json"})
    started = time.monotonic()
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read()), time.monotonic() - started


def is_apology(message: str, text: str, payload: Dict[str, Any]) -> bool:
    """True for the 'unavailable' apology, after checking it is well formed and in the user's language."""
    if not payload.get("unavailable"):
        return False
    lang = detect_script(message)
    assert payload["type"] == "fallback" and payload["lang"] == lang, payload
    assert payload["evidence"] is None and payload["citations"] == [] and payload["flags"] == [], payload
    assert text == TEXTS.get("replies.unavailable", lang)
    return True


def signal_group(process: Any, sig: int) -> None:
    """Send a signal to a server and its children (they run in their own process group)."""
    os.killpg(process.pid, sig)


class Load:
    """Senders that keep asking, each one message after another; every reply is kept with its phase."""

    def __init__(self, url: str, senders: int) -> None:
        self.url, self.phase = url, "healthy"
        self.senders = [f"load-{uuid.uuid4().hex[:6]}-{n}" for n in range(senders)]
        self.replies: Dict[str, List[Dict[str, Any]]] = {s: [] for s in self.senders}
        self.stopping = False

    async def sender(self, session: aiohttp.ClientSession, sender: str, offset: int) -> None:
        n = offset
        while not self.stopping:
            message, phase = QUESTIONS[n % len(QUESTIONS)], self.phase
            started = time.monotonic()
            async with session.post(self.url, json={"sender": sender, "message": message}) as response:
                body = await response.json(content_type=None)
                status = response.status
            self.replies[sender].append(
                {
                    "message": message,
                    "phase": phase,
                    "end_phase": self.phase,
                    "status": status,
                    "body": body,
                    "seconds": time.monotonic() - started,
                }
            )
            n += 1

    def count(self, phase: str) -> int:
        """Replies to messages sent and answered in `phase`, for the sender with the fewest."""
        return min(sum(r["phase"] == r["end_phase"] == phase for r in replies) for replies in self.replies.values())

    async def wait_for(self, phase: str, each: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while self.count(phase) < each:
            assert time.monotonic() < deadline, f"the load did not get {each} replies per sender in phase {phase}"
            await asyncio.sleep(0.05)


def test_killed_action_server_gets_an_apology_at_once_and_the_bot_recovers(bot: BotServers) -> None:
    load = Load(webhook(bot), senders=6)

    async def scenario() -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
            tasks = [asyncio.create_task(load.sender(session, s, i)) for i, s in enumerate(load.senders)]
            await load.wait_for("healthy", 3)
            load.phase = "killing"
            signal_group(bot.action_process, signal.SIGKILL)
            await asyncio.get_running_loop().run_in_executor(None, bot.action_process.wait)
            load.phase = "down"
            await load.wait_for("down", 3)
            load.phase = "restarting"
            await asyncio.get_running_loop().run_in_executor(None, bot.start_action_server)
            load.phase = "back"
            await load.wait_for("back", 3)
            load.stopping = True
            await asyncio.gather(*tasks)

    asyncio.run(scenario())

    db = Path(bot.settings.env["TRACKER_SQLITE_PATH"])
    for sender, replies in load.replies.items():
        for reply in replies:
            assert reply["status"] == 200, reply
            text, payload = split_reply(reply["body"])  # never silence: always one text and one payload
            apologised = is_apology(reply["message"], text, payload)
            if reply["phase"] == reply["end_phase"] == "healthy" or reply["phase"] == "back":
                assert not apologised, f"apology while the action server was up: {reply}"
            if reply["phase"] == reply["end_phase"] == "down":
                assert apologised and reply["seconds"] < 5, f"no quick apology while it was down: {reply}"
        # Nothing lost: every message is in the tracker store, and every real answer too.
        events = stored_events(db, sender)
        assert [e["text"] for e in events if e["event"] == "user"] == [r["message"] for r in replies]
        answers = [split_reply(r["body"])[0] for r in replies if not split_reply(r["body"])[1].get("unavailable")]
        assert [e["text"] for e in events if e["event"] == "bot"] == answers


def test_hung_action_server_costs_the_action_timeout_not_minutes(bot: BotServers) -> None:
    sender = f"hung-{uuid.uuid4().hex[:6]}"
    signal_group(bot.action_process, signal.SIGSTOP)
    try:
        messages, seconds = ask(bot, sender, "外泌体护肤有证据吗？")
    finally:
        signal_group(bot.action_process, signal.SIGCONT)
    text, payload = split_reply(messages)
    assert is_apology("外泌体护肤有证据吗？", text, payload)
    assert ACTION_TIMEOUT - 0.5 < seconds < ACTION_TIMEOUT + 7, f"the apology took {seconds:.1f} s"
    text, payload = split_reply(ask(bot, sender, "外泌体护肤有证据吗？")[0])
    assert not payload.get("unavailable") and payload["type"] == "answer" and payload["citations"]


async def widget_turn(bot: BotServers, message: str) -> Dict[str, Any]:
    """Send one message over socket.io as the widget does; the `bot_uttered` event that answers it."""
    import socketio

    client, replies, session = socketio.AsyncClient(), asyncio.Queue(), uuid.uuid4().hex
    confirmed = asyncio.Event()
    client.on("session_confirm", lambda *_: confirmed.set())
    client.on("bot_uttered", replies.put)
    # polling: python-engineio's websocket client needs a newer aiohttp than Rasa 3.6 allows
    await client.connect(bot.settings.rasa_url, socketio_path="/socket.io", transports=["polling"])
    try:
        await client.emit("session_request", {"session_id": session})
        await asyncio.wait_for(confirmed.wait(), 10)
        await client.emit("user_uttered", {"message": message, "session_id": session})
        return await asyncio.wait_for(replies.get(), 15)
    finally:
        await client.eio.disconnect(abort=True)  # no wait for the pending long poll


def test_the_widget_and_the_messaging_apps_get_the_apology_too(
    bot: BotServers, channel_env: Dict[str, str], fake_telegram: Any
) -> None:
    wechat = WeChatServer(bot.settings.rasa_url, channel_env)
    telegram = TelegramServer(bot.settings.rasa_url, channel_env["TELEGRAM_WEBHOOK_SECRET"], fake_telegram)
    user, chat = new_user(), int(time.time() * 1000) % 10**10
    signal_group(bot.action_process, signal.SIGKILL)
    bot.action_process.wait()
    try:
        event = asyncio.run(widget_turn(bot, "外泌體是什麼？"))
        assert is_apology("外泌體是什麼？", event["text"], event["custom"]), event
        reply = wechat.ask(user, "外泌体是什么？")
        assert reply.status == 200 and reply.content == TEXTS.get("replies.unavailable", "zh-Hans"), reply
        assert reply.elapsed < 5
        assert telegram.post(telegram.message(chat, "What are exosomes?")) == 200
        assert telegram.answer(chat, 0).params["text"] == TEXTS.get("replies.unavailable", "en")
    finally:
        bot.start_action_server()
    assert TEXTS.get("format.evidence_line", "zh-Hans", label="")[:4] in wechat.ask(user, "外泌体是什么？").content
    event = asyncio.run(widget_turn(bot, "外泌體是什麼？"))
    assert not event["custom"].get("unavailable") and event["custom"]["evidence"], event


def tracker(bot: BotServers, sender: str) -> Dict[str, Any]:
    """The conversation as the Rasa server holds it (HTTP API, with the token)."""
    url = f"{bot.settings.rasa_url}/conversations/rest:{sender}/tracker?token={API_TOKEN}"  # REST's id
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def test_restarted_rasa_server_continues_the_conversation_from_the_tracker_store(bot: BotServers) -> None:
    sender = f"restart-{uuid.uuid4().hex[:6]}"
    first = "外泌体点滴能抗衰老吗？"
    _, payload = split_reply(ask(bot, sender, first)[0])
    assert payload["citations"] and not payload.get("unavailable")
    old: Optional[Any] = bot.rasa_process
    signal_group(old, signal.SIGKILL)  # a crash: nothing is flushed on the way out
    old.wait()
    bot.start_rasa_server()
    assert bot.rasa_process.pid != old.pid
    slots = tracker(bot, sender)["slots"]
    # The context keeps the normalised question (full-width folded, rewritten), as the NLU read it.
    assert slots["last_question"] == normalize(first) and slots["last_facts"] == payload["facts"], slots
    _, follow_up = split_reply(ask(bot, sender, "那安全吗？")[0])
    assert follow_up["facts"][0] == "safety.injection" and follow_up["lang"] == "zh-Hans"
    _, sources = split_reply(ask(bot, sender, "出处是哪里？")[0])
    assert sources["type"] == "reference" and [c["ref"] for c in sources["citations"]] == [
        c["ref"] for c in follow_up["citations"]
    ]
