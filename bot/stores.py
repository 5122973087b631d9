"""Tracker store configured from the environment: SQLite file by default, PostgreSQL when asked.

SQLite connections stay open between turns and use write-ahead logging with `synchronous=NORMAL`: a
commit is not synced to disk on its own, so a power cut or an operating-system crash can lose the last
turns, a crash of the bot cannot. Loading and saving a conversation run Rasa's SQLTrackerStore queries
(same table, same "since the latest session start" rule, same order) through SQLAlchemy Core instead of
ORM objects; on SQLite, the same statements are compiled once and run on the pooled DB-API connection,
events are read and written with ujson (the same JSON values), and a conversation saved by this process
is handed back by its next load, without reading and replaying its events, while the database still
holds exactly what was saved. docs/operators.md, "Performance", says what each of these bought.

The SQLite file, its -wal and -shm files and their folder are private to the bot's user (0600 and 0700;
README, "Privacy").
"""

from __future__ import annotations

import collections
import contextlib
import functools
import itertools
import logging
import os
import sqlite3
from pathlib import Path
from typing import Any, AsyncIterator, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

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
        # Conversations saved by this process, handed back by their next load (see _stamp).
        self._kept: "collections.OrderedDict[str, Tuple[DialogueStateTracker, Any, Tuple[Any, ...]]]" = (
            collections.OrderedDict()
        )
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
            raise _refused(error) from None
        finally:
            session.close()

    @contextlib.contextmanager
    def _sqlite_connection(self) -> Iterator[Any]:
        """A pooled SQLite DB-API connection for one load or save, with session_scope's errors: a refused
        value raises TrackerStoreValueError, a database error SQLAlchemy's error for it."""
        connection = self.engine.raw_connection()
        try:
            yield connection
        except ValueError as error:
            connection.rollback()
            raise _refused(error) from None
        except sqlite3.Error as error:
            connection.rollback()
            raise sa.exc.DBAPIError.instance(None, None, error, sqlite3.Error) from error
        finally:
            connection.close()

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
            "insert": events.insert(),
            "last": sa.select(events.c.id, events.c.timestamp)
            .where(events.c.sender_id == sa.bindparam("sender_id"))
            .order_by(events.c.id.desc())
            .limit(1),
        }

    @functools.cached_property
    def _sqlite_statements(self) -> Optional[Dict[str, "CompiledStatement"]]:
        """The same statements compiled once for SQLite's DB-API; None on another database."""
        if not self._fast or self.engine.dialect.name != "sqlite":
            return None
        return {
            name: CompiledStatement(statement, self.engine.dialect, EVENT_COLUMNS if name == "insert" else None)
            for name, statement in self._queries.items()
        }

    def _stamp(self, cursor: Any, sender_id: str) -> Tuple[Any, ...]:
        """What the database holds of a conversation, in brief: the number of events of its latest session
        (what a load reads) and the id and time of its last event. Events are only ever appended, so the
        same stamp means the same events; an erased and rewritten conversation has new times."""
        compiled = self._sqlite_statements
        assert compiled is not None
        count, last = compiled["count"], compiled["last"]
        (events,) = cursor.execute(count.sql, count.parameters(sender_id=sender_id)).fetchone()
        row = cursor.execute(last.sql, last.parameters(sender_id=sender_id)).fetchone()
        return (events, *(row or (None, None)))

    def _keep(self, tracker: DialogueStateTracker, stamp: Tuple[Any, ...]) -> None:
        """Keep a saved conversation for its next load when it holds exactly the events a load would read:
        as many as the database holds of its latest session, the same last one, and none from before that
        session's start (a conversation's first turn, or one in which a new session started, is read again)."""
        self._kept.pop(tracker.sender_id, None)
        events = tracker.events
        if self.domain is None or not events or stamp[0] != len(events) or events[-1].timestamp != stamp[2]:
            return
        starts = [event.timestamp for event in events if isinstance(event, SessionStarted)]
        if starts and any(event.timestamp < max(starts) for event in events):
            return  # events before the latest session start, which a load does not read
        self._kept[tracker.sender_id] = (tracker, self.domain, stamp)
        while len(self._kept) > KEPT_CONVERSATIONS:
            self._kept.popitem(last=False)

    async def _retrieve(self, sender_id: str, fetch_events_from_all_sessions: bool) -> Optional[DialogueStateTracker]:
        """The conversation's events in id order (as Rasa's), read as plain rows."""
        if not self._fast:
            return await super()._retrieve(sender_id, fetch_events_from_all_sessions)
        name = "load_all" if fetch_events_from_all_sessions else "load"
        compiled = self._sqlite_statements
        if compiled is not None:
            kept = self._kept.pop(sender_id, None)  # handed out: whoever loads it owns it until it is saved
            with self._sqlite_connection() as connection:
                cursor = connection.cursor()
                if kept is not None and not fetch_events_from_all_sessions:
                    tracker, domain, stamp = kept
                    if domain is self.domain and self._stamp(cursor, sender_id) == stamp:
                        return tracker
                rows = cursor.execute(compiled[name].sql, compiled[name].parameters(sender_id=sender_id)).fetchall()
        else:
            with self.session_scope() as session:
                rows = session.execute(self._queries[name], {"sender_id": sender_id}).all()
        if not rows or not self.domain:
            return None
        return DialogueStateTracker.from_dict(
            sender_id, [runtime.read_json(data) for (data,) in rows], self.domain.slots
        )

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Append the events not stored yet (counted as Rasa counts them) in one INSERT."""
        if not self._fast:
            return await super().save(tracker)
        await self.stream_events(tracker)
        compiled = self._sqlite_statements
        if compiled is not None:
            count, insert = compiled["count"], compiled["insert"]
            with self._sqlite_connection() as connection:
                cursor = connection.cursor()
                stored = cursor.execute(count.sql, count.parameters(sender_id=tracker.sender_id)).fetchone()[0]
                rows = _new_rows(tracker, stored)
                if rows:
                    cursor.executemany(insert.sql, [insert.parameters(**row) for row in rows])
                connection.commit()
                self._keep(tracker, self._stamp(cursor, tracker.sender_id))
            return
        with self.session_scope() as session:
            stored = session.execute(self._queries["count"], {"sender_id": tracker.sender_id}).scalar()
            rows = _new_rows(tracker, stored)
            if rows:
                session.execute(self._queries["insert"], rows)
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


# Conversations kept in memory per process after a save, handed back by their next load while the database
# still holds exactly what was saved (ConfiguredSQLTrackerStore._stamp); the least recently saved go first.
KEPT_CONVERSATIONS = 512

EVENT_COLUMNS = ("sender_id", "type_name", "timestamp", "intent_name", "action_name", "data")


class CompiledStatement:
    """A statement compiled once into its DB-API SQL text, with its bound parameters in the driver's order."""

    def __init__(self, statement: Any, dialect: Any, column_keys: Optional[Sequence[str]] = None) -> None:
        """Compile `statement` for `dialect` (for an INSERT, `column_keys` are the columns it sets)."""
        compiled = statement.compile(dialect=dialect, column_keys=list(column_keys) if column_keys else None)
        self.sql = str(compiled)
        self.names: Tuple[str, ...] = tuple(compiled.positiontup or ())
        self.fixed: Dict[str, Any] = dict(compiled.params)

    def parameters(self, **values: Any) -> Tuple[Any, ...]:
        """The positional parameters: `values` by name, the statement's own constants for the rest."""
        return tuple(values[name] if name in values else self.fixed[name] for name in self.names)


def _refused(error: ValueError) -> TrackerStoreValueError:
    """The error for a value the database refused, logged: only this request fails, the server goes on."""
    logger.error(
        "Tracker store: the database refused a value of this conversation (%s); the request fails, the "
        "server goes on.",
        type(error).__name__,
    )
    return TrackerStoreValueError(
        "the tracker store could not store or read this conversation: the database refused a value "
        f"({type(error).__name__}). Channels refuse such sender ids and texts at their door."
    )


def _new_rows(tracker: DialogueStateTracker, stored: int) -> List[Dict[str, Any]]:
    """The rows of the tracker's events after the first `stored` ones, as Rasa's store writes them (the
    event's JSON written by ujson: the same values as json.dumps's)."""
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
                "data": runtime.compact_json(data),
            }
        )
    return rows


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
