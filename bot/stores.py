"""Tracker store configured from the environment: SQLite file by default, PostgreSQL when asked.

SQLite connections stay open between turns and use write-ahead logging with `synchronous=NORMAL`: a
commit is not synced to disk on its own, so a power cut or an operating-system crash can lose the last
turns, a crash of the bot cannot. Loading and saving a conversation run Rasa's SQLTrackerStore queries
(same table, same "since the latest session start" rule, same order) through SQLAlchemy Core instead of
ORM objects. README, "Performance", says what each of these bought.

The SQLite file, its -wal and -shm files and their folder are private to the bot's user (0600 and 0700;
README, "Privacy").
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import logging
import os
from pathlib import Path
from typing import Any, AsyncIterator, Dict, Iterator, List, Mapping, Optional

import sqlalchemy as sa
from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import SQLTrackerStore, ensure_schema_exists
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker

from bot import privacy, runtime
from bot.paths import VAR
from bot.sqlite import use_wal

logger = logging.getLogger(__name__)

DEFAULT_SQLITE = VAR / "tracker.db"


ENDPOINT_KEYS = ("dialect", "host", "port", "db", "username", "password", "query", "login_db")


def tracker_db_settings(
    env: Mapping[str, str], url: Optional[str] = None, endpoint: Optional[Mapping[str, Any]] = None
) -> Dict[str, Any]:
    """SQLTrackerStore arguments: from endpoints.yml when it names the database (`url:` with any
    SQLAlchemy URL, for example `url: ${TRACKER_DB_URL}`, or Rasa's own `dialect`/`db`/... keys), else
    from `TRACKER_DB_URL` (any SQLAlchemy URL) or `TRACKER_SQLITE_PATH`.

    Without any of them, conversations go to `var/tracker.db` in the project.
    """
    endpoint = {k: v for k, v in (endpoint or {}).items() if k in ENDPOINT_KEYS and v not in (None, "")}
    if url and "://" not in url:
        endpoint.setdefault("host", url)  # Rasa passes the endpoint's `url:` as the host name
        url = None
    if endpoint.get("dialect") or endpoint.get("db"):
        settings = dict(endpoint)
        if settings.get("dialect", "sqlite") == "sqlite" and settings.get("db"):
            settings["db"] = str(Path(settings["db"]).resolve())
            privacy.private_dir(Path(settings["db"]).parent)
        return settings
    url = (url or env.get("TRACKER_DB_URL", "")).strip()
    if url:
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
        return {
            "dialect": parsed.drivername,
            "host": parsed.host,
            "port": parsed.port,
            "db": parsed.database,
            "username": parsed.username,
            "password": parsed.password,
            "query": dict(parsed.query) or None,
        }
    path = Path(env.get("TRACKER_SQLITE_PATH") or DEFAULT_SQLITE).resolve()
    privacy.private_dir(path.parent)  # created 0700 (README, "Privacy")
    return {"dialect": "sqlite", "db": str(path)}


class TrackerStoreValueError(RuntimeError):
    """A conversation's id or event could not be stored or read; only that request fails."""


class ConfiguredSQLTrackerStore(SQLTrackerStore):
    """Rasa's SQL tracker store; its database is named in endpoints.yml or by environment variables
    (docs/operators.md, "Storage")."""

    def __init__(
        self,
        domain: Optional[Domain] = None,
        host: Optional[str] = None,
        event_broker: Optional[EventBroker] = None,
        **kwargs: Any,
    ) -> None:
        """Connect to the database endpoints.yml names (`url:` or Rasa's keys), else the environment's."""
        runtime.apply()
        # The faster queries repeat Rasa 3.6.21's; with another release Rasa's own run instead.
        self._fast = runtime.rasa_version_matches()
        settings = tracker_db_settings(os.environ, url=host, endpoint=kwargs)
        super().__init__(domain=domain, event_broker=event_broker, **settings)
        if self.engine.dialect.name == "sqlite":
            self._pool_sqlite_connections()
            database = self.engine.url.database
            if database and database != ":memory:":
                # The file and its -wal and -shm are the owner's only, also when they were made before.
                privacy.private_sqlite(Path(database))

    @contextlib.contextmanager
    def session_scope(self) -> Iterator[Any]:
        """Rasa's transactional scope, except that a value the database refuses (a lone surrogate on
        SQLite, a NUL byte on PostgreSQL) fails this request only: Rasa's own scope turns every
        ValueError into "schema not found" and exits the whole server."""
        session = self.sessionmaker()
        try:
            ensure_schema_exists(session)
            yield session
        except ValueError as error:
            session.rollback()
            logger.error(
                "Tracker store: the database refused a value of this conversation (%s); the request "
                "fails, the server goes on.",
                type(error).__name__,
            )
            raise TrackerStoreValueError(
                "the tracker store could not store or read this conversation: the database refused a value "
                f"({type(error).__name__}). Channels refuse such sender ids and texts at their door."
            ) from None
        finally:
            session.close()

    def _since_session_start(self, all_sessions: bool) -> Any:
        """The WHERE clause of Rasa's event query: the events of sender `:sender_id`, from its latest session
        start (a bound parameter, so that each statement is built and compiled once, not at every turn)."""
        events = self.SQLEvent.__table__
        sender: Any = sa.bindparam("sender_id")
        clause = events.c.sender_id == sender
        if all_sessions:
            return clause
        start = (
            sa.select(sa.func.max(events.c.timestamp))
            .where(events.c.sender_id == sender, events.c.type_name == SessionStarted.type_name)
            .scalar_subquery()
        )
        return sa.and_(clause, sa.or_(events.c.timestamp >= start, start.is_(None)))

    @functools.cached_property
    def _queries(self) -> Dict[str, Any]:
        """The statements of _retrieve and save, built once."""
        events = self.SQLEvent.__table__
        return {
            "load": sa.select(events.c.data).where(self._since_session_start(False)).order_by(events.c.id),
            "load_all": sa.select(events.c.data).where(self._since_session_start(True)).order_by(events.c.id),
            "count": sa.select(sa.func.count()).select_from(events).where(self._since_session_start(False)),
        }

    async def _retrieve(self, sender_id: str, fetch_events_from_all_sessions: bool) -> Optional[DialogueStateTracker]:
        """The conversation's events in id order (as Rasa's), read as plain rows."""
        if not self._fast:
            return await super()._retrieve(sender_id, fetch_events_from_all_sessions)
        query = self._queries["load_all" if fetch_events_from_all_sessions else "load"]
        with self.session_scope() as session:
            rows = session.execute(query, {"sender_id": sender_id}).all()
        if not rows or not self.domain:
            return None
        return DialogueStateTracker.from_dict(sender_id, [json.loads(data) for (data,) in rows], self.domain.slots)

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Append the events not stored yet (counted as Rasa counts them) in one INSERT."""
        if not self._fast:
            return await super().save(tracker)
        await self.stream_events(tracker)
        events = self.SQLEvent.__table__
        with self.session_scope() as session:
            stored = session.execute(self._queries["count"], {"sender_id": tracker.sender_id}).scalar()
            rows: List[Dict[str, Any]] = []
            for event in itertools.islice(tracker.events, stored, None):
                data = event.as_dict()
                rows.append(
                    {
                        "sender_id": tracker.sender_id,
                        "type_name": event.type_name,
                        "timestamp": data.get("timestamp"),
                        "intent_name": ((data.get("parse_data") or {}).get("intent") or {}).get("name"),
                        "action_name": data.get("name"),
                        "data": json.dumps(data),
                    }
                )
            if rows:
                session.execute(events.insert(), rows)
            session.commit()

    def _pool_sqlite_connections(self) -> None:
        """Keep SQLite connections open between turns (SQLAlchemy opens and closes one per session by
        default) and give each new one the pragmas of `sqlite_pragmas`."""
        from sqlalchemy.orm import sessionmaker

        url = self.engine.url
        self.engine.dispose()
        self.engine = sa.create_engine(
            url,
            poolclass=sa.pool.QueuePool,
            pool_size=4,
            max_overflow=8,
            connect_args={"check_same_thread": False, "timeout": 5},
        )
        sa.event.listen(self.engine, "connect", sqlite_pragmas)
        self.sessionmaker = sessionmaker(bind=self.engine)


def sqlite_pragmas(connection: Any, _record: Any) -> None:
    """WAL journal, `synchronous=NORMAL` and a 5 s busy timeout on every new SQLite connection."""
    use_wal(connection)
    cursor = connection.cursor()
    try:
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=5000")
    finally:
        cursor.close()


@contextlib.asynccontextmanager
async def stored_conversation(agent: Any, conversation: str) -> AsyncIterator[Optional[DialogueStateTracker]]:
    """A stored conversation, locked like a turn, to add events to outside a turn (a rating, a staff
    message); it is saved when the block ends without an error. None when it is not stored."""
    async with agent.lock_store.lock(conversation):
        tracker = await agent.tracker_store.retrieve(conversation)
        yield tracker if tracker is not None and tracker.events else None
        if tracker is not None:
            await agent.tracker_store.save(tracker)
