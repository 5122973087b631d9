"""Issue 12, point 7: privacy by default, through running servers.

A bot whose actions all fail (tests/failing_actions.py: each raises an error quoting the user's text and
sender id, as a careless action would) is asked over REST, WeChat and socket.io. Rasa's stock servers then
write the whole conversation to the Rasa server's log at ERROR (rasa-sdk sends it back with the 500) and
the quoted text to the action server's log. Here neither log may hold a user's text or a raw sender id;
the tracker store and the logs are 0600 in 0700 folders; and no secret is on a started process's
command line.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Dict, Iterator, List

import jwt
import pytest

from bot import privacy
from bot.conversations import conversation_id
from bot.paths import ROOT
from bot.privacy import LogRedactor, log_id, private_dir, secret_values
from bot.serve import BotServers
from tests.conftest import TEST_ENV, split_reply, stored_events
from tests.test_fuzz_channels import _socketio_turns
from tests.test_security import request
from tests.test_wechat import WeChatServer, new_msg_id, new_user, text_message

SECRETS = {
    "RASA_API_TOKEN": "privacy-api-token-" + uuid.uuid4().hex,
    "RASA_JWT_SECRET": "privacy-jwt-secret-" + uuid.uuid4().hex,
    "ACTION_SERVER_TOKEN": "privacy-action-token-" + uuid.uuid4().hex,
}


def mode(path: Path) -> int:
    """The permission bits of a file or folder."""
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(scope="module")
def failing_bot(bot_factory: Any, channel_env: Dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> BotServers:
    """A bot whose every action raises; its log folder holds stale world-readable logs from an earlier run,
    its tracker store is in folders that do not exist yet."""
    root = tmp_path_factory.mktemp("privacy")
    logs = root / "logs"
    logs.mkdir(mode=0o700)
    for name in ("rasa-server.log", "action-server.log"):
        (logs / name).write_text("an earlier run\n")
        os.chmod(logs / name, 0o644)
    env = {**channel_env, **SECRETS, "TRACKER_SQLITE_PATH": str(root / "new" / "store" / "tracker.db")}
    return bot_factory(env=env, actions="tests.failing_actions", log_dir=logs)


def rest(bot: BotServers, sender: str, text: str) -> List[Dict[str, Any]]:
    """One REST turn (status 200 asserted)."""
    status, _, body = request(
        bot.settings.rasa_url,
        "POST",
        "/webhooks/rest/webhook",
        json.dumps({"sender": sender, "message": text}).encode(),
        {"Content-Type": "application/json"},
    )
    assert status == 200, (status, body[:300])
    return json.loads(body)


def logged(bot: BotServers) -> str:
    """Everything the bot's servers wrote to their log files."""
    files = sorted(bot.settings.log_dir.glob("*.log"))
    return "\n".join(path.read_text(encoding="utf-8", errors="replace") for path in files)


def forms(value: str) -> List[str]:
    """A value as it could appear in a log: as is, JSON-escaped, and JSON-escaped inside a bytes repr."""
    return [value, json.dumps(value)[1:-1], json.dumps(value).replace("\\", "\\\\")[1:-1]]


def test_a_failing_action_leaves_no_user_text_and_no_sender_id_in_the_logs(
    failing_bot: BotServers, channel_env: Dict[str, str]
) -> None:
    tag = uuid.uuid4().hex[:10]
    texts = {
        "rest": f"PRIVATE-{tag}-rest 我的湿疹能用外泌体治好吗",
        "wechat": f"PRIVATE-{tag}-wechat 外泌体面霜安全吗",
        "socketio": f"PRIVATE-{tag}-web Do exosome drips reverse ageing",
    }
    senders = {"rest": f"privacy-{tag}-alice", "wechat": new_user(), "socketio": f"privacy-{tag}-session"}

    _, payload = split_reply(rest(failing_bot, senders["rest"], texts["rest"]))
    assert payload.get("unavailable"), payload  # the action failed, the user got the apology
    wechat = WeChatServer(failing_bot.settings.rasa_url, channel_env)
    # WeChat adds the follower's OpenID to the query string of every message.
    reply = wechat.post(
        text_message(senders["wechat"], texts["wechat"], new_msg_id()), query=wechat.query(openid=senders["wechat"])
    )
    assert reply.status == 200 and reply.fields, reply
    received = asyncio.run(
        _socketio_turns(
            failing_bot.settings.rasa_url,
            [
                ("session_request", {"session_id": senders["socketio"]}),
                ("user_uttered", {"message": texts["socketio"], "session_id": senders["socketio"]}),
            ],
        )
    )
    assert any(n == "bot_uttered" and d.get("custom", {}).get("unavailable") for n, d in received), received
    time.sleep(0.5)  # the last log lines

    log = logged(failing_bot)
    # The failures are in the logs: the error, its type and the conversation (by its hash) ...
    assert "Failed to execute custom action 'action_answer'" in log and "RuntimeError" in log
    for channel, sender in senders.items():
        assert log_id(conversation_id(channel, sender)) in log, f"no log line names the {channel} sender by its hash"
    # ... and nothing private: no text, no distinctive word of it (common English words may be in any log
    # line), no sender id, no secret.
    for channel, text in texts.items():
        words = [word for word in text.split() if tag in word or not word.isascii()]
        for piece in [*forms(text), *words, f"PRIVATE-{tag}"]:
            assert piece not in log, f"the {channel} text ({piece!r}) is in the logs"
    for sender in senders.values():
        assert sender not in log, f"the sender id {sender!r} is in the logs"
    for secret in SECRETS.values():
        assert secret not in log
    assert "an earlier run" not in log  # the stale logs were replaced, not appended to
    # Every message is still stored (the apology is sent by the channel, not stored: tests/test_faults.py).
    db = Path(failing_bot.settings.env["TRACKER_SQLITE_PATH"])
    for channel, sender in senders.items():
        events = stored_events(db, sender, channel)
        assert [e["text"] for e in events if e["event"] == "user"] == [texts[channel]], channel


def test_the_tracker_store_and_the_logs_are_private(
    failing_bot: BotServers, servers: BotServers, tracker_db: Path
) -> None:
    db = Path(failing_bot.settings.env["TRACKER_SQLITE_PATH"])
    for bot, database in ((failing_bot, db), (servers, tracker_db)):
        rest(bot, f"files-{uuid.uuid4().hex[:8]}", "外泌体是什么？")  # the -wal and -shm files exist while it runs
        files = [database, Path(f"{database}-wal"), Path(f"{database}-shm"), *bot.settings.log_dir.glob("*.log")]
        assert all(f.exists() for f in files[:3]), [f for f in files if not f.exists()]
        for path in files:
            assert mode(path) == 0o600, f"{path} is {oct(mode(path))}"
        assert mode(bot.settings.log_dir) == 0o700 and mode(database.parent) == 0o700
    # Folders the bot created: each level 0700 (here new/ and new/store/).
    assert mode(db.parent.parent) == 0o700


def test_private_folders_are_created_0700_and_var_is_tightened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import bot.paths

    var = tmp_path / "var"
    (var / "logs").mkdir(parents=True)
    os.chmod(var, 0o755)
    os.chmod(var / "logs", 0o755)
    monkeypatch.setattr(bot.paths, "VAR", var)
    private_dir(var / "logs")
    assert mode(var) == mode(var / "logs") == 0o700  # the project's var/ is ours: tightened
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    os.chmod(shared, 0o755)
    with caplog.at_level(logging.WARNING, logger="bot.privacy"):
        private_dir(shared)
    assert mode(shared) == 0o755 and "chmod 700" in caplog.text  # someone else's folder: a warning only
    private_dir(shared / "a" / "b")
    assert mode(shared / "a") == mode(shared / "a" / "b") == 0o700


def test_an_existing_world_readable_tracker_store_is_made_private(tmp_path: Path) -> None:
    """A store made by an earlier version (0644, with its -wal and -shm) is 0600 after the launcher's check."""
    import sqlite3

    from bot.endpoints import check_stores

    database = tmp_path / "tracker.db"
    old_umask = os.umask(0o022)
    try:
        connection = sqlite3.connect(database)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("CREATE TABLE t (x)")
        connection.commit()  # the -wal and -shm files exist while this connection is open
    finally:
        os.umask(old_umask)
    try:
        files = [database, Path(f"{database}-wal"), Path(f"{database}-shm")]
        assert [mode(f) for f in files] == [0o644] * 3
        check_stores({"TRACKER_SQLITE_PATH": str(database)})
        assert [mode(f) for f in files] == [0o600] * 3
    finally:
        connection.close()


def process_tree(bot: BotServers) -> Iterator[int]:
    """The pids of the bot's servers and of every process in their process groups."""
    groups = {p.pid for p in bot.processes if p.poll() is None}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) in groups:  # pgrp
                yield int(entry.name)


def test_no_secret_is_on_a_command_line(failing_bot: BotServers, servers: BotServers) -> None:
    checked = 0
    for bot, secrets in ((failing_bot, SECRETS), (servers, {"RASA_API_TOKEN": servers.settings.env["RASA_API_TOKEN"]})):
        secrets = {**secrets, **secret_values(bot.settings.env)}  # the channels' tokens and secrets too
        assert len(secrets) >= 5, secrets
        for pid in process_tree(bot):
            try:
                cmdline = (Path("/proc") / str(pid) / "cmdline").read_bytes().decode("utf-8", "replace")
            except OSError:
                continue
            checked += 1
            for name, value in secrets.items():
                assert value not in cmdline, f"{name} is on the command line of process {pid}: {cmdline!r}"
    assert checked >= 5  # two action servers, two Rasa servers, a widget server at least
    # The secrets still reach the Rasa server, through its environment.
    base, token = failing_bot.settings.rasa_url, SECRETS["RASA_API_TOKEN"]
    assert request(base, "GET", "/status")[0] == 401
    assert request(base, "GET", f"/status?token={token}")[0] == 200
    admin = jwt.encode(
        {"user": {"username": "staff", "role": "admin"}, "exp": int(time.time()) + 600},
        SECRETS["RASA_JWT_SECRET"],
        algorithm="HS256",
    )
    assert request(base, "GET", "/status", headers={"Authorization": f"Bearer {admin}"})[0] == 200


def test_the_rasa_entry_point_refuses_secrets_on_its_command_line() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bot.runtime", "run", "--auth-token", "visible"],
        cwd=ROOT,
        env=TEST_ENV,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2 and "RASA_API_TOKEN" in run.stderr


def test_log_records_above_debug_are_redacted() -> None:
    """Rasa's own lines that carry a sender id or a text, and what a stock action server sends back."""
    redactor = LogRedactor()
    redactor.add_secrets({"RASA_API_TOKEN": "token-1234567", "REDIS_URL": "redis://:pass-1234@h:6379/0"})
    redactor.remember(
        texts=["我的湿疹能治好吗"], senders=["wechat:o6_abcdefgh", "o6_abcdefgh"], conversation="wechat:o6_abcdefgh"
    )
    assert redactor.redact(
        "Circuit breaker tripped. Stopped predicting more actions for sender " "'wechat:o6_abcdefgh'."
    ).endswith(f"sender '{log_id('wechat:o6_abcdefgh')}'.")
    line = json.dumps({"event": "rest.message.received.failure", "text": "我的湿疹能治好吗", "sender": "o6_abcdefgh"})
    assert "湿疹" not in redactor.redact(line) and "\\u" not in redactor.redact(line)
    assert "o6_abcdefgh" not in redactor.redact(line)
    body = "ClientResponseError: 500, Internal Server Error, body='b\\'{\"request_body\": {\"tracker\": 1}}\\''"
    assert redactor.redact(body).endswith("body=[not logged]")
    assert (
        redactor.redact("uri: 'http://h/webhooks/wechat/webhook?signature=abc&openid=o6_zz'")
        == "uri: 'http://h/webhooks/wechat/webhook?signature=…&openid=…'"
    )
    assert redactor.redact("token-1234567 pass-1234") == "[secret] [secret]"
    assert redactor.redact("a conversation rest:someone-else") == f"a conversation {log_id('rest:someone-else')}"
    assert (
        redactor.redact("LockError: Could not issue a lock ticket for conversation 'telegram:4242' in Redis")
        == f"LockError: Could not issue a lock ticket for conversation '{log_id('telegram:4242')}' in Redis"
    )
    # Short texts are masked as words in their own turn only: "hi" goes, "this" stays.
    redactor.remember(texts=["hi"])
    assert redactor.redact("hi: this") == "[text]: this"
    # Records: message with arguments and traceback; DEBUG is left alone (it is off unless asked for).
    privacy.REDACTOR.remember(texts=["a secret question 42"])
    try:
        raise ValueError("cannot parse 'a secret question 42'")
    except ValueError:
        record = logging.LogRecord(
            "rasa", logging.ERROR, __file__, 1, "failed on %r", ("a secret question 42",), sys.exc_info()
        )
    privacy.redact_record(record)
    text = logging.Formatter().format(record)
    assert "a secret question 42" not in text and "ValueError: cannot parse '[text]'" in text
