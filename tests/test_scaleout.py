"""Scale-out on Rasa's own design: two Rasa server replicas sharing a PostgreSQL tracker store and a Redis
lock store, and one action server serving both.

PostgreSQL and Redis are Debian's packages (scripts/install-system-deps), started here on free loopback
ports with throw-away data. One conversation's messages alternate between the replicas; the stored
conversation must be ordered, consistent with what the user received, and complete.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest

from bot.serve import BotServers
from tests.conftest import STAFF_TOKEN, free_port, split_reply

DB_USER = "exobot"


def postgres_bin() -> Path:
    """The newest installed PostgreSQL server's bin directory (Debian keeps them per major version)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if not found:
        pytest.fail("PostgreSQL is not installed: run scripts/install-system-deps (as root) or `make test`.")
    return Path(found[-1]).parent


def as_db_owner(args: List[str]) -> List[str]:
    """PostgreSQL refuses to run as root: as root, run the command as Debian's `postgres` user."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


def run(args: List[str], what: str) -> None:
    """Run a set-up command; fail with its output."""
    result = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{what} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL server on a free loopback port with a fresh data directory; its SQLAlchemy URL."""
    import psycopg2

    binaries = postgres_bin()
    directory = Path(tempfile.mkdtemp(prefix="exobot-pg-"))
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres", "postgres")
    data, port = directory / "data", free_port()
    run(as_db_owner([str(binaries / "initdb"), "-D", str(data), "-U", DB_USER, "--auth=trust", "-E", "UTF8"]), "initdb")
    run(
        as_db_owner(
            [
                str(binaries / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(directory / "server.log"),
                "-w",
                "-t",
                "60",
                "-o",
                f"-p {port} -c listen_addresses=127.0.0.1 -k {directory}",
                "start",
            ]
        ),
        "pg_ctl start",
    )
    try:
        connection = psycopg2.connect(host="127.0.0.1", port=port, user=DB_USER, dbname="postgres")
        connection.autocommit = True
        connection.cursor().execute("CREATE DATABASE rasa")
        connection.close()
        yield f"postgresql://{DB_USER}@127.0.0.1:{port}/rasa"
    finally:
        subprocess.run(
            as_db_owner([str(binaries / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]),
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """A Redis server on a free loopback port, without persistence; its URL."""
    import redis

    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server is not installed: run scripts/install-system-deps (as root) or `make test`.")
    port = free_port()
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        client, deadline = redis.Redis(host="127.0.0.1", port=port), time.monotonic() + 30
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert process.poll() is None and time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def replicas(bot_factory: Any, postgres_url: str, redis_url: str) -> Tuple[BotServers, BotServers]:
    """Two Rasa servers on the same stores; the second uses the first one's action server."""
    env = {"TRACKER_DB_URL": postgres_url, "REDIS_URL": redis_url, "STAFF_TOKEN": STAFF_TOKEN}
    first = bot_factory(env=env)
    second = bot_factory(env=env, action_server=False, action_port=first.settings.action_port)
    return first, second


def ask(replica: BotServers, sender: str, message: str) -> Tuple[str, Dict[str, Any]]:
    """One REST message to one replica; the reply's text and payload."""
    body = json.dumps({"sender": sender, "message": message}).encode()
    request = urllib.request.Request(
        f"{replica.settings.rasa_url}/webhooks/rest/webhook", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        text, payload = split_reply(json.loads(response.read()))
    assert not payload.get("unavailable"), f"{message!r}: the bot apologised"
    return text, payload


def stored(postgres_url: str, sender: str) -> List[Dict[str, Any]]:
    """The conversation's events in the PostgreSQL tracker store, in id order."""
    import psycopg2

    with psycopg2.connect(postgres_url) as connection:
        cursor = connection.cursor()
        cursor.execute("SELECT type_name, data FROM events WHERE sender_id = %s ORDER BY id", (f"rest:{sender}",))
        return [{**json.loads(data), "event": kind} for kind, data in cursor.fetchall()]


def turns(events: List[Dict[str, Any]]) -> List[Tuple[str, List[str]]]:
    """(user text, bot texts) per turn: the events from one user message to the next."""
    found: List[Tuple[str, List[str]]] = []
    for event in events:
        if event["event"] == "user":
            found.append((event["text"], []))
        elif event["event"] == "bot":
            assert found, "a bot message before any user message"
            found[-1][1].append(event["text"])
    return found


CONVERSATION = [
    "外泌体点滴能抗衰老吗？",
    "那安全吗？",
    "出处是哪里？",
    "What are exosomes?",
    "Is it safe?",
    "外泌體護膚有證據嗎？",
    "第6篇文献是什么？",
    "外泌体能治帕金森吗？",
    "你好",
    "How were the studies done?",
]


def test_messages_alternating_between_replicas_are_ordered_consistent_and_complete(
    replicas: Tuple[BotServers, BotServers], postgres_url: str, redis_url: str
) -> None:
    import redis

    tag = uuid.uuid4().hex[:6]
    senders = [f"scale-{tag}-{n}" for n in range(6)]

    def converse(sender: str) -> List[Tuple[str, str, Dict[str, Any]]]:
        return [(m, *ask(replicas[i % 2], sender, m)) for i, m in enumerate(CONVERSATION)]

    with ThreadPoolExecutor(len(senders)) as pool:
        received = dict(zip(senders, pool.map(converse, senders)))

    for sender, replies in received.items():
        # Context carried from one replica to the other: the follow-up on replica 2 uses replica 1's answer.
        assert replies[1][2]["facts"][0] == "safety.injection", replies[1][2]
        assert [c["ref"] for c in replies[2][2]["citations"]] == [c["ref"] for c in replies[1][2]["citations"]]
        # The store holds every turn once, in the order sent, with the reply the user got.
        assert turns(stored(postgres_url, sender)) == [(m, [text]) for m, text, _ in replies]
    stats = redis.Redis.from_url(redis_url).info("commandstats")
    assert stats.get("cmdstat_set", {}).get("calls", 0) >= len(senders) * len(
        CONVERSATION
    ), "the replicas did not use the Redis lock store"


def test_simultaneous_messages_of_one_conversation_on_both_replicas_are_serialised(
    replicas: Tuple[BotServers, BotServers], postgres_url: str
) -> None:
    sender = f"burst-{uuid.uuid4().hex[:6]}"
    # With Rasa's own RedisLockStore (not atomic), most runs lose a turn somewhere.
    pairs = [
        (f"{a} ({n})", f"{b}（{n}）")
        for n in range(5)
        for a, b in (("What are exosomes?", "外泌体是什么？"), ("Is exosome skincare proven?", "外泌体面霜有用吗？"))
    ]
    answered: Dict[str, str] = {}
    start = threading.Barrier(2)

    def together(replica: BotServers, message: str) -> Tuple[str, Dict[str, Any]]:
        start.wait()
        return ask(replica, sender, message)

    with ThreadPoolExecutor(2) as pool:
        for pair in pairs:
            futures = [pool.submit(together, replicas[i], message) for i, message in enumerate(pair)]
            for message, future in zip(pair, futures):
                answered[message] = future.result()[0]
    stored_turns = turns(stored(postgres_url, sender))
    # Both messages of each pair were processed one after the other, never interleaved, none lost.
    assert sorted(m for m, _ in stored_turns) == sorted(answered)
    assert all(bots == [answered[message]] for message, bots in stored_turns), stored_turns


def test_lock_store_settings_come_from_redis_url() -> None:
    from bot.endpoints import StartupError, lock_store_settings

    assert lock_store_settings({}) is None
    assert lock_store_settings({"REDIS_URL": "redis://:pw@10.0.0.5:6380/2"}) == {
        "type": "bot.locks.AtomicRedisLockStore",
        "url": "10.0.0.5",
        "port": 6380,
        "db": 2,
        "key_prefix": "exobot",
        "password": "pw",
    }
    with pytest.raises(StartupError, match="REDIS_URL"):
        lock_store_settings({"REDIS_URL": "http://10.0.0.5"})


def test_tickets_issued_at_once_by_many_servers_are_all_different(redis_url: str) -> None:
    from rasa.utils.endpoints import EndpointConfig

    from bot.locks import AtomicRedisLockStore

    settings = lock_store_settings_for(redis_url)
    stores = [AtomicRedisLockStore(endpoint_config=EndpointConfig(**settings)) for _ in range(8)]
    conversation = f"tickets-{uuid.uuid4().hex[:6]}"
    start = threading.Barrier(len(stores))

    def issue(store: AtomicRedisLockStore) -> List[int]:
        start.wait()
        return [store.issue_ticket(conversation, 60) for _ in range(25)]

    with ThreadPoolExecutor(len(stores)) as pool:
        tickets = [t for issued in pool.map(issue, stores) for t in issued]
    assert sorted(tickets) == list(range(len(stores) * 25)), "two servers got the same ticket"
    for ticket in tickets:
        stores[ticket % len(stores)].cleanup(conversation, ticket)
    assert stores[0].get_lock(conversation) is None  # the last one out deleted the lock


def lock_store_settings_for(redis_url: str) -> Dict[str, Any]:
    """EndpointConfig arguments for the lock store of `redis_url` (as bot.serve writes them)."""
    from bot.endpoints import lock_store_settings

    settings = dict(lock_store_settings({"REDIS_URL": redis_url}) or {})
    settings.pop("type")
    return settings


def test_a_staff_reply_sent_by_one_server_reaches_the_widget_on_the_other(
    replicas: Tuple[BotServers, BotServers],
) -> None:
    """The widget's socket.io session is held by the first server; the staff console's request reaches the
    second: the reply passes through Redis (python-socketio's Redis manager, set up from REDIS_URL)."""
    from tests.test_staff import Widget, api

    user = Widget(replicas[0].settings.rasa_url)
    try:
        assert user.say("Can I talk to a real person please?")["custom"]["type"] == "handoff"
        conversation = f"web:{user.session}"
        before = len(user.received)
        sent = api(
            replicas[1].settings.rasa_url,
            "POST",
            f"/staff/api/conversations/{conversation}/reply",
            {"text": "Mei here."},
        )
        assert sent["delivered"] is True
        assert "Mei here." in user.next(before, timeout=15)["text"]
        api(replicas[1].settings.rasa_url, "POST", f"/staff/api/conversations/{conversation}/release")
    finally:
        user.close()
