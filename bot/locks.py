"""Conversation locks shared by several Rasa server processes: Rasa's Redis lock store made atomic, and one
on SQLite that needs no server.

Rasa serialises the messages of one conversation with ticket locks. Its RedisLockStore (Rasa 3.6) reads a
conversation's lock, changes it in Python and writes it back: two replicas that receive messages of the
same conversation at the same moment can both read "no lock", both take ticket 0 and process the two
messages at once, and one turn's events are then lost from the tracker store (tests/test_scaleout.py
shows it). Here every change of a lock (issuing a ticket, dropping expired ones, finishing and deleting)
is one transaction: an optimistic Redis transaction (WATCH / MULTI / EXEC, retried on conflict), or an
SQLite `BEGIN IMMEDIATE` transaction, which other processes wait for. Locks are stored as Rasa stores them
(`TicketLock.dumps()`), under the conversation id.

endpoints.yml (written by bot.serve: Redis from REDIS_URL; SQLite when several Rasa processes run on one
machine without REDIS_URL, bot.workers):

    lock_store:
      type: bot.locks.AtomicRedisLockStore
      url: 127.0.0.1
      port: 6379
      db: 0
      key_prefix: exobot

    lock_store:
      type: bot.locks.SQLiteLockStore
      path: var/locks.db
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any, Callable, Optional, Text, Tuple, TypeVar, cast

import redis
from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, LockStore, RedisLockStore
from rasa.utils.endpoints import EndpointConfig

from bot.sqlite import use_wal

T = TypeVar("T")
Change = Callable[[Optional[TicketLock]], Tuple[Optional[TicketLock], T]]


class AtomicChanges:
    """Rasa's lock operations written as changes that a store applies in one transaction (`_atomically`)."""

    def _atomically(self, conversation_id: Text, change: Change[T]) -> T:
        """Apply `change` to the stored lock (None: no lock) in one transaction; None back deletes it."""
        raise NotImplementedError

    def _store_error(self, error: Exception) -> str:
        """What to check when the store failed (said in the LockError)."""
        raise NotImplementedError

    def issue_ticket(self, conversation_id: Text, lock_lifetime: float = LOCK_LIFETIME) -> int:
        """Issue a ticket (creating the lock if needed), atomically."""

        def change(lock: Optional[TicketLock]) -> Tuple[Optional[TicketLock], int]:
            lock = lock or TicketLock(conversation_id)
            return lock, lock.issue_ticket(lock_lifetime)

        try:
            return self._atomically(conversation_id, change)
        except (redis.RedisError, sqlite3.Error) as error:
            raise LockError(
                f"Could not issue a lock ticket for conversation '{conversation_id}': {error}. "
                + self._store_error(error)
            ) from error

    def update_lock(self, conversation_id: Text) -> None:
        """Drop expired tickets, atomically."""

        def change(lock: Optional[TicketLock]) -> Tuple[Optional[TicketLock], None]:
            if lock is not None:
                lock.remove_expired_tickets()
            return lock, None

        self._atomically(conversation_id, change)

    def finish_serving(self, conversation_id: Text, ticket_number: int) -> None:
        """Remove a finished ticket, atomically."""
        self.cleanup(conversation_id, ticket_number)

    def cleanup(self, conversation_id: Text, ticket_number: int) -> None:
        """Remove a finished ticket and delete the lock when no one else waits, in one transaction."""

        def change(lock: Optional[TicketLock]) -> Tuple[Optional[TicketLock], None]:
            if lock is None:
                return None, None
            lock.remove_ticket_for(ticket_number)
            return (lock if lock.is_someone_waiting() else None), None

        self._atomically(conversation_id, change)


class SQLiteLockStore(AtomicChanges, LockStore):
    """Ticket locks in an SQLite file shared by the Rasa processes of one machine (no server needed)."""

    def __init__(self, endpoint_config: Optional[EndpointConfig] = None, path: Optional[str] = None) -> None:
        """Open (creating) the lock file: `path`, or endpoints.yml's `path` (Rasa passes the entry)."""
        super().__init__()
        path = path or (endpoint_config.kwargs.get("path") if endpoint_config is not None else None)
        if not path:
            raise LockError(
                "The SQLite lock store needs a file: set `path:` under `lock_store` in endpoints.yml "
                "(bot.serve writes var/locks.db when several Rasa processes run)."
            )
        self.path = Path(path)
        self._local = threading.local()  # one connection per thread (sqlite3 objects stay on their thread)
        with self._connection() as connection:
            connection.execute(
                "CREATE TABLE IF NOT EXISTS locks (conversation_id TEXT PRIMARY KEY, lock TEXT NOT NULL)"
            )

    def _connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            # isolation_level None: transactions are begun explicitly; WAL lets readers run during a write;
            # synchronous=OFF: a lock does not outlive the servers, so it need not survive a power cut.
            connection = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
            use_wal(connection)
            connection.execute("PRAGMA synchronous=OFF")
            self._local.connection = connection
        return connection

    @classmethod
    def prepare(cls, path: Path) -> None:
        """Create the lock file with its table in WAL mode before the Rasa processes start, so that they do
        not race to create it (the launcher calls this; a store opened on an existing file only checks it)."""
        store = cls(path=str(path))
        store._connection().close()

    def _store_error(self, error: Exception) -> str:
        return f"Check that the lock file {self.path} is writable and its disk is not full."

    def _atomically(self, conversation_id: Text, change: Change[T]) -> T:
        # The statements below run on this thread's connection, inside its transaction.
        connection = self._connection()
        connection.execute("BEGIN IMMEDIATE")  # the write lock first: no other process changes it meanwhile
        try:
            lock, result = change(self.get_lock(conversation_id))
            if lock is None:
                self.delete_lock(conversation_id)
            else:
                self.save_lock(lock)
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        return result

    def get_lock(self, conversation_id: Text) -> Optional[TicketLock]:
        """The conversation's lock, or None."""
        row = (
            self._connection()
            .execute("SELECT lock FROM locks WHERE conversation_id = ?", (conversation_id,))
            .fetchone()
        )
        return TicketLock.from_dict(json.loads(row[0])) if row else None

    def delete_lock(self, conversation_id: Text) -> None:
        """Delete the conversation's lock."""
        self._connection().execute("DELETE FROM locks WHERE conversation_id = ?", (conversation_id,))

    def save_lock(self, lock: TicketLock) -> None:
        """Store a lock."""
        self._connection().execute(
            "INSERT OR REPLACE INTO locks (conversation_id, lock) VALUES (?, ?)", (lock.conversation_id, lock.dumps())
        )


class AtomicRedisLockStore(AtomicChanges, RedisLockStore):
    """RedisLockStore whose read-modify-write steps are atomic across processes and machines."""

    def __init__(self, endpoint_config: Optional[EndpointConfig] = None, **kwargs: Any) -> None:
        """Connect as RedisLockStore does; Rasa passes the endpoints.yml entry as `endpoint_config`."""
        if endpoint_config is not None:
            kwargs = {"host": endpoint_config.url or "localhost", **endpoint_config.kwargs, **kwargs}
        super().__init__(**kwargs)

    def _atomically(self, conversation_id: Text, change: Change[T]) -> T:
        """Apply `change` to the stored lock (None: no lock) in one transaction; None back deletes it."""
        key = self.key_prefix + conversation_id
        while True:
            with self.red.pipeline() as pipe:
                try:
                    pipe.watch(key)
                    # cast: after watch() the pipeline runs commands at once (types-redis types it as buffered)
                    raw = cast(Optional[bytes], pipe.get(key))
                    lock, result = change(TicketLock.from_dict(json.loads(raw)) if raw else None)
                    pipe.multi()
                    if lock is None:
                        pipe.delete(key)
                    else:
                        pipe.set(key, lock.dumps())
                    pipe.execute()
                    return result
                except redis.WatchError:
                    continue  # another server changed this lock meanwhile: read it again

    def _store_error(self, error: Exception) -> str:
        return "Check that the Redis server of REDIS_URL is running."
