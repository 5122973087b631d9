"""Conversation locks shared by several Rasa servers: Rasa's Redis lock store, made atomic.

Rasa serialises the messages of one conversation with ticket locks. Its RedisLockStore (Rasa 3.6) reads a
conversation's lock, changes it in Python and writes it back: two replicas that receive messages of the
same conversation at the same moment can both read "no lock", both take ticket 0 and process the two
messages at once, and one turn's events are then lost from the tracker store (tests/test_scaleout.py
shows it). Here every change of a lock (issuing a ticket, dropping expired ones, finishing and deleting)
is one optimistic Redis transaction (WATCH / MULTI / EXEC, retried on conflict). Locks are stored
exactly as Rasa stores them, under the same keys.

endpoints.yml (written by bot.serve from REDIS_URL):

    lock_store:
      type: bot.locks.AtomicRedisLockStore
      url: 127.0.0.1
      port: 6379
      db: 0
      key_prefix: exobot
"""

from __future__ import annotations

import json
from typing import Any, Callable, Optional, Text, Tuple, TypeVar, cast

import redis
from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, RedisLockStore
from rasa.utils.endpoints import EndpointConfig

T = TypeVar("T")
Change = Callable[[Optional[TicketLock]], Tuple[Optional[TicketLock], T]]


class AtomicRedisLockStore(RedisLockStore):
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

    def issue_ticket(self, conversation_id: Text, lock_lifetime: float = LOCK_LIFETIME) -> int:
        """Issue a ticket (creating the lock if needed), atomically."""

        def change(lock: Optional[TicketLock]) -> Tuple[Optional[TicketLock], int]:
            lock = lock or self.create_lock(conversation_id)
            return lock, lock.issue_ticket(lock_lifetime)

        try:
            return self._atomically(conversation_id, change)
        except redis.RedisError as error:
            raise LockError(
                f"Could not issue a lock ticket for conversation '{conversation_id}' in Redis: "
                f"{error}. Check that the Redis server of REDIS_URL is running."
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
