"""Several Rasa processes on one machine (bot.workers): the SQLite lock store, the proxy's configuration,
the settings, and the set-up stopping as a whole when one of its processes dies. The set-up running under load is tested in tests/test_load.py (the soak test runs against one
and against two processes) and, through the session's servers (two processes behind HAProxy), by every
REST, socket.io and browser test."""

from __future__ import annotations

import multiprocessing
import re
import sqlite3
import subprocess
from pathlib import Path
from typing import Any, List

import pytest
import yaml
from rasa.core.lock_store import InMemoryLockStore, LockError

from bot.locks import SQLiteLockStore
from bot.endpoints import write_endpoints
from bot.serve import ServerSettings
from bot.workers import WorkersError, find_haproxy, haproxy_config, worker_count


def _issue(path: str, conversation: str, start: "multiprocessing.synchronize.Barrier") -> List[int]:
    store = SQLiteLockStore(path=path)
    start.wait()
    return [store.issue_ticket(conversation, 60) for _ in range(25)]


def test_tickets_issued_at_once_by_several_processes_are_all_different(tmp_path: Path) -> None:
    path = str(tmp_path / "locks.db")
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        start = manager.Barrier(4)
        with context.Pool(4) as pool:
            issued = pool.starmap(_issue, [(path, "c1", start)] * 4)
    tickets = sorted(t for batch in issued for t in batch)
    assert tickets == list(range(100)), "two processes got the same ticket"
    store = SQLiteLockStore(path=path)
    lock = store.get_lock("c1")
    assert lock is not None and lock.now_serving == 0 and lock.last_issued == 99
    for ticket in tickets:
        store.cleanup("c1", ticket)
    assert store.get_lock("c1") is None, "the last one out deletes the lock"


def _open_at_once(directory: str, rounds: int, start: "multiprocessing.synchronize.Barrier") -> int:
    for n in range(rounds):
        start.wait(timeout=60)  # a process that failed leaves the others here: fail, do not hang
        SQLiteLockStore(path=f"{directory}/locks{n}.db").issue_ticket("c", 60)
    return rounds


def test_processes_opening_a_new_lock_file_at_the_same_moment_all_start(tmp_path: Path) -> None:
    # Rasa processes started together used to fail with "database is locked" while switching the new file
    # to WAL (CI, a restart with two processes); each must open it, whoever comes first.
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        start = manager.Barrier(4)
        with context.Pool(4) as pool:
            assert pool.starmap(_open_at_once, [(str(tmp_path), 30, start)] * 4) == [30] * 4
    for n in range(30):
        assert SQLiteLockStore(path=str(tmp_path / f"locks{n}.db")).get_lock("c") is not None


def test_the_launcher_prepares_the_lock_file_before_the_processes_start(tmp_path: Path) -> None:
    SQLiteLockStore.prepare(tmp_path / "locks.db")
    with sqlite3.connect(tmp_path / "locks.db") as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert connection.execute("SELECT count(*) FROM locks").fetchone()[0] == 0


def test_sqlite_lock_store_behaves_like_rasas_in_memory_one(tmp_path: Path) -> None:
    """The same operations give the same locks as stock Rasa's InMemoryLockStore."""
    stores = [InMemoryLockStore(), SQLiteLockStore(path=str(tmp_path / "locks.db"))]

    def state(store: object) -> object:
        lock = store.get_lock("c")  # type: ignore[attr-defined]
        return None if lock is None else (lock.now_serving, lock.last_issued, lock.is_someone_waiting())

    seen = []
    for store in stores:
        steps = [state(store)]
        first, second = store.issue_ticket("c", 60), store.issue_ticket("c", 60)
        steps += [first, second, state(store), store.get_lock("c").is_locked(second)]  # type: ignore[union-attr]
        store.finish_serving("c", first)
        steps += [state(store), store.get_lock("c").is_locked(second)]  # type: ignore[union-attr]
        store.cleanup("c", second)
        steps.append(state(store))
        seen.append(steps)
    assert seen[0] == seen[1]


def test_sqlite_lock_store_needs_a_file() -> None:
    with pytest.raises(LockError, match="path:"):
        SQLiteLockStore()


def test_worker_count_is_one_per_core_unless_set() -> None:
    import os

    assert worker_count({}) == max(1, os.cpu_count() or 1)
    assert worker_count({"RASA_WORKERS": "1"}) == 1
    assert worker_count({"RASA_WORKERS": " 3 "}) == 3
    for wrong in ("0", "-2", "two"):
        with pytest.raises(WorkersError, match="RASA_WORKERS"):
            worker_count({"RASA_WORKERS": wrong})


def test_several_processes_share_an_sqlite_lock_store_unless_redis_is_set(tmp_path: Path) -> None:
    settings = ServerSettings(action_port=5999)
    read = lambda path: yaml.safe_load(path.read_text(encoding="utf-8"))  # noqa: E731
    single = read(write_endpoints(settings, tmp_path, {}))
    assert "lock_store" not in single, "one process keeps Rasa's in-memory lock store"
    several = read(write_endpoints(settings, tmp_path, {}, tmp_path / "locks.db"))
    assert several["lock_store"] == {"type": "bot.locks.SQLiteLockStore", "path": str(tmp_path / "locks.db")}
    redis = read(write_endpoints(settings, tmp_path, {"REDIS_URL": "redis://127.0.0.1:6390/1"}, tmp_path / "x.db"))
    assert redis["lock_store"]["type"] == "bot.locks.AtomicRedisLockStore"


@pytest.mark.skipif(find_haproxy() is None, reason="haproxy is not installed (scripts/install-system-deps)")
def test_proxy_configuration_is_valid_and_keeps_socketio_sticky(tmp_path: Path) -> None:
    text = haproxy_config("127.0.0.1", 5005, [41001, 41002])
    config = tmp_path / "haproxy.cfg"
    config.write_text(text, encoding="utf-8")
    checked = subprocess.run([str(find_haproxy()), "-c", "-f", str(config)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "[WARNING]" not in checked.stdout + checked.stderr, checked.stdout + checked.stderr
    backends = {block.split("\n", 1)[0].strip(): block for block in text.split("\nbackend ")[1:]}
    assert "balance source" in backends["sticky_client"]
    assert "use_backend sticky_client if socketio" in text and "path_beg /socket.io/ /webhooks/socketio/" in text
    assert all(text.count(f"127.0.0.1:{port} check") == 4 for port in (41001, 41002)), "every backend has both"
    # Messaging apps: their channels keep state in process memory, so one process answers, one stands by.
    assert "use_backend one_process if messaging" in text and "path_beg /webhooks/wechat/ /webhooks/telegram/" in text
    assert "127.0.0.1:41001 check inter 2s fall 2 rise 1\n" in backends["one_process"]
    assert "127.0.0.1:41002 check inter 2s fall 2 rise 1 backup" in backends["one_process"]


def test_when_one_rasa_process_dies_the_set_up_stops_and_says_so(bot_factory: Any) -> None:
    """`make run` watches one process for "the Rasa server": the proxy's supervisor must not run on with a
    process missing, but stop the others and exit with an error that names it."""
    import os
    import signal
    import time

    bot = bot_factory(workers=2)
    supervisor = bot.rasa_process
    children = [
        int(p.name)
        for p in Path("/proc").iterdir()
        if p.name.isdigit() and _parent(p) == supervisor.pid and "bot.runtime" in _command(p)
    ]
    assert len(children) == 2, children
    os.kill(children[0], signal.SIGKILL)
    assert supervisor.wait(timeout=30) == 1
    time.sleep(1)
    assert not any(Path(f"/proc/{pid}").exists() and _state(pid) != "Z" for pid in children[1:]), "a process was left"
    log = Path(bot.settings.log_dir / "rasa-server.log").read_text(encoding="utf-8", errors="replace")
    assert re.search(r"Rasa process [12] of 2 exited with code -9", log) and "Stopping the others" in log, log[-2000:]


def _parent(proc: Path) -> int:
    try:
        return int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return -1


def _command(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_text().replace("\0", " ")
    except OSError:
        return ""


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"
