"""Session fixtures: one trained model and one set of running servers per test run."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List

import pytest

from bot.paths import ROOT
from bot.serve import QUIET_ENV, BotServers, ServerSettings
from tests.fake_line import FakeLineAPI
from tests.fake_telegram import FakeBotAPI
from tests.fake_whatsapp import FakeWhatsAppAPI

TESTS = Path(__file__).resolve().parent
OUTPUT = ROOT / "test-output"
RASA = str(Path(sys.executable).with_name("rasa"))
TEST_ENV = {**os.environ, **QUIET_ENV, "RASA_MAX_CACHE_SIZE": "0"}


# Fixtures that train a model, start servers or a browser; tests without them make `make test-unit`.
SLOW_FIXTURES = {"trained_model", "servers", "browser", "bot_factory", "fake_telegram", "fake_line", "fake_whatsapp"}


def pytest_configure(config: pytest.Config) -> None:
    """Declare the `servers` marker (given automatically, see pytest_collection_modifyitems)."""
    config.addinivalue_line(
        "markers",
        "servers: needs a trained model, running servers, a browser or "
        "subprocesses; `make test-unit` (-m 'not servers') leaves these out",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: List[pytest.Item]) -> None:
    """Mark every test that uses a slow fixture with `servers`."""
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.servers)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def output_dir() -> Path:
    """Folder for test artefacts (screenshots, reports); not committed."""
    OUTPUT.mkdir(exist_ok=True)
    return OUTPUT


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Train the real model once per run (EXOBOT_TEST_MODEL reuses a model, for local iteration)."""
    reuse = os.environ.get("EXOBOT_TEST_MODEL")
    if reuse:
        return Path(reuse)
    out = tmp_path_factory.mktemp("models")
    result = subprocess.run(
        # Validation has its own test (tests/test_data_validation.py).
        [RASA, "train", "--skip-validation", "--fixed-model-name", "test", "--out", str(out)],
        cwd=ROOT,
        env=TEST_ENV,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, f"rasa train failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return out / "test.tar.gz"


@pytest.fixture(scope="session")
def tracker_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SQLite tracker store file of the running test servers."""
    return tmp_path_factory.mktemp("store") / "tracker.db"


@pytest.fixture(scope="session")
def fake_telegram() -> Iterator[FakeBotAPI]:
    """A fake Telegram Bot API server on loopback, recording the bot's sendMessage calls."""
    with FakeBotAPI() as api:
        yield api


@pytest.fixture(scope="session")
def fake_line() -> Iterator[FakeLineAPI]:
    """A fake LINE Messaging API on loopback, recording the bot's replies."""
    with FakeLineAPI(token="exobot-line-test-access-token") as api:
        yield api


@pytest.fixture(scope="session")
def fake_whatsapp() -> Iterator[FakeWhatsAppAPI]:
    """A fake WhatsApp Cloud API on loopback, recording the messages the bot sends."""
    with FakeWhatsAppAPI(token="exobot-whatsapp-test-token", phone_number_id="106540352242922") as api:
        yield api


@pytest.fixture(scope="session")
def channel_env(fake_telegram: FakeBotAPI, fake_line: FakeLineAPI, fake_whatsapp: FakeWhatsAppAPI) -> Dict[str, str]:
    """Environment that turns on the messaging-app channels of the test servers."""
    return {
        "WECHAT_TOKEN": "exobot-test-token",
        "WECHAT_APP_ID": "wx5e1a9c0d7b3f2e41",
        # An EncodingAESKey: 43 characters, base64 of a 32-byte AES key without its "=".
        "WECHAT_AES_KEY": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
        # Pictures of WeChat image messages are fetched only from these hosts (tests/test_ocr.py serves them).
        "WECHAT_MEDIA_HOSTS": "127.0.0.1",
        "TELEGRAM_TOKEN": "123456789:exobot-test-token_ABCdef",
        "TELEGRAM_WEBHOOK_SECRET": "exobot-test-secret_42",
        "TELEGRAM_API_URL": fake_telegram.url,
        "LINE_CHANNEL_SECRET": "8c0e5bd1f3a94a7e9d6b2c41a0f7e3d5",
        "LINE_CHANNEL_ACCESS_TOKEN": fake_line.token,
        "LINE_API_URL": fake_line.url,
        "WHATSAPP_TOKEN": fake_whatsapp.token,
        "WHATSAPP_APP_SECRET": "4f1d9c27b6e84a03a5c1e92d7b3f6a80",
        "WHATSAPP_VERIFY_TOKEN": "exobot-whatsapp-verify_42",
        "WHATSAPP_PHONE_NUMBER_ID": fake_whatsapp.phone_number_id,
        "WHATSAPP_API_URL": fake_whatsapp.url,
    }


@pytest.fixture(scope="session")
def servers(
    trained_model: Path, tracker_db: Path, channel_env: Dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BotServers]:
    """The real action server and Rasa server on free loopback ports, for the whole session: two Rasa
    processes behind HAProxy (bot.workers), as `make run` starts them on a machine with two cores, so every
    REST, socket.io and browser test also runs through the proxy and the shared lock store."""
    settings = ServerSettings(
        model=trained_model,
        workers=2,
        rasa_port=free_port(),
        action_port=free_port(),
        widget_port=free_port(),
        log_dir=tmp_path_factory.mktemp("logs"),
        env={
            "TRACKER_SQLITE_PATH": str(tracker_db),
            "RASA_API_TOKEN": "test-api-token",
            **channel_env,
            "STAFF_TOKEN": STAFF_TOKEN,
            "STAFF_REVIEW_FILE": str(tmp_path_factory.mktemp("review") / "cases.csv"),
            # Support hours around the clock, so that a hand-off test says "a person will reply here".
            "SUPPORT_DAYS": "mon-sun",
            "SUPPORT_HOURS": "00:00-24:00",
        },
    )
    with BotServers(settings) as running:
        yield running


@pytest.fixture(scope="session")
def ask(servers: BotServers) -> Callable[[str, str], List[Dict[str, Any]]]:
    """Send a message over REST; returns Rasa's list of output messages."""
    import urllib.request

    def send(sender: str, message: str) -> List[Dict[str, Any]]:
        body = json.dumps({"sender": sender, "message": message}).encode()
        request = urllib.request.Request(
            f"{servers.settings.rasa_url}/webhooks/rest/webhook",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())

    return send


def split_reply(messages: List[Dict[str, Any]]) -> tuple[str, Dict[str, Any]]:
    """The one text and the one contract payload of a REST reply (asserting there is exactly one)."""
    texts = [m["text"] for m in messages if "text" in m]
    payloads = [m["custom"] for m in messages if "custom" in m]
    assert len(texts) == 1 and len(payloads) == 1, f"expected one text and one payload, got {messages}"
    return texts[0], payloads[0]


# Debian's chromium (scripts/install-system-deps), never a downloaded browser build.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium (Playwright) per test module. Not per session: Playwright's sync API keeps an
    event loop running in the main thread while it is open, and later tests call asyncio.run()."""
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.is_file(), f"{CHROMIUM} is missing: run scripts/install-system-deps (as root) or `make test`."
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def bot_factory(trained_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., BotServers]]:
    """Starts separate bots for one test module (own ports, own SQLite tracker store unless `env` names
    another); all are stopped at the module's end. The session's `servers` are never touched.

    `start(env=None, action_server=True, **settings)` returns the running BotServers (`settings` override
    ServerSettings fields, e.g. `action_port` to share another bot's action server; one Rasa process unless
    `workers` says otherwise: the single-process set-up stays tested); its tracker file is
    `servers.settings.env["TRACKER_SQLITE_PATH"]`.
    """
    started: List[BotServers] = []

    def start(env: Dict[str, str] | None = None, action_server: bool = True, **overrides: Any) -> BotServers:
        directory = tmp_path_factory.mktemp("bot")
        fields: Dict[str, Any] = dict(
            model=trained_model,
            rasa_port=free_port(),
            action_port=free_port(),
            widget_port=free_port(),
            log_dir=directory / "logs",
            env={"TRACKER_SQLITE_PATH": str(directory / "tracker.db"), **(env or {})},
            workers=1,
        )
        settings = ServerSettings(**{**fields, **overrides})
        servers = BotServers(settings)
        started.append(servers)
        if action_server:
            servers.start_action_server()
        servers.start_rasa_server()
        return servers

    yield start
    for servers in reversed(started):
        servers.__exit__(None, None, None)


STAFF_TOKEN = "exobot-test-staff-token"


def stored_events(db: Path, sender: str, channel: str = "rest") -> List[Dict[str, Any]]:
    """The events of the conversation of `sender` on `channel` (its id is `<channel prefix>:<sender>`) in a
    SQLite tracker store, oldest first (`event` is the type)."""
    import sqlite3

    from bot.conversations import conversation_id

    with sqlite3.connect(db) as connection:
        rows = connection.execute(
            "SELECT type_name, data FROM events WHERE sender_id = ? ORDER BY id", (conversation_id(channel, sender),)
        ).fetchall()
    return [{**json.loads(data), "event": kind} for kind, data in rows]


def last_bot(db: Path, sender: str, channel: str = "rest") -> Dict[str, Any]:
    """The last bot message of a conversation: its text and contract payload."""
    bots = [e for e in stored_events(db, sender, channel) if e["event"] == "bot"]
    assert bots, f"the bot never answered {sender}"
    return {"text": bots[-1]["text"], "custom": bots[-1]["data"]["custom"]}
