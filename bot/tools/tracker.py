"""Read conversations from the tracker store's `events` table (Rasa's SQLTrackerStore) with SQLAlchemy."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Collection, Dict, Iterator, List, Mapping, Optional

import sqlalchemy as sa

from bot.contract import FEEDBACK_SLOT
from bot.ocr import IMAGE_KEY
from bot.conversations import channel_of, conversation_id
from bot.tools import ToolError

_RELATIVE = re.compile(r"^(\d+)\s*([dhm])$")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


@dataclass
class Message:
    """One user or bot message of a conversation."""

    sender: str
    time: float
    by: str  # "user", "bot", or "feedback" (a rating of an earlier bot message; `payload` holds it)
    text: str
    intent: Optional[str] = None
    confidence: Optional[float] = None
    channel: Optional[str] = None
    payload: Optional[Dict[str, Any]] = None
    question: Optional[str] = None  # for a bot message: the user message it answers
    picture: Optional[Dict[str, Any]] = None  # for a user message read from a picture: what the reader measured


@dataclass
class Conversation:
    """All messages of one sender id, in order."""

    sender: str
    messages: List[Message] = field(default_factory=list)


def parse_when(value: Optional[str], end: bool = False) -> Optional[float]:
    """`2026-03-01`, `2026-03-01T08:30` (local time unless an offset is given) or `7d`/`12h`/`30m` ago.

    A date alone as an end (`--until`) includes that whole day.
    """
    if value is None or not value.strip():
        return None
    value = value.strip()
    relative = _RELATIVE.match(value)
    if relative:
        return (datetime.now() - timedelta(**{_UNITS[relative[2]]: int(relative[1])})).timestamp()
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ToolError(
            f"Cannot read the date {value!r}. Write 2026-03-01, 2026-03-01T08:30, or 7d / 12h / 30m for 'ago'."
        ) from None
    if end and len(value) == 10:
        moment += timedelta(days=1)
    return moment.timestamp()


def store_url(env: Mapping[str, str] = os.environ, db: Optional[str] = None) -> Any:
    """SQLAlchemy URL of the tracker store: --db, else the bot's own settings (bot.stores.tracker_db_settings)."""
    if db and "://" in db:
        url = sa.engine.make_url(db)
        if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
            return url
        db = url.database  # an SQLite file: check that it exists and open it read-only
    if db:
        path = Path(db).resolve()
    else:
        from bot.stores import tracker_db_settings

        settings = tracker_db_settings(env)
        if settings["dialect"] != "sqlite":
            return sa.engine.URL.create(
                settings["dialect"],
                username=settings["username"],
                password=settings["password"],
                host=settings["host"],
                port=settings["port"],
                database=settings["db"],
                query=settings["query"] or {},
            )
        path = Path(settings["db"])
    if not path.is_file():
        raise ToolError(
            f"No tracker store at {path}: no conversation has been stored there yet. Run the bot (`make run`) and "
            "talk to it, or point to the store with TRACKER_SQLITE_PATH, TRACKER_DB_URL or --db."
        )
    return f"sqlite:///file:{path}?mode=ro&uri=true"


def _events_table(engine: sa.engine.Engine) -> sa.Table:
    try:
        return sa.Table("events", sa.MetaData(), autoload_with=engine)
    except sa.exc.NoSuchTableError:
        raise ToolError(
            f"{engine.url!r} has no 'events' table, so it is not the bot's tracker store. "
            "Point to the database that TRACKER_DB_URL / TRACKER_SQLITE_PATH name for the running bot."
        ) from None
    except sa.exc.SQLAlchemyError as e:
        raise ToolError(f"Cannot read the tracker store {engine.url!r}: {e}. Check the address and credentials.") from e


def read_conversations(
    url: Any,
    since: Optional[float] = None,
    until: Optional[float] = None,
    exclude_prefix: Optional[str] = None,
    senders: Optional[Collection[str]] = None,
) -> Iterator[Conversation]:
    """Conversations with user/bot messages in [since, until), one per sender id, in sender order (only
    those of `senders` when given)."""
    engine = sa.create_engine(url)
    try:
        events = _events_table(engine)
        # Messages, and ratings (the `feedback` slot, bot/feedback.py; a slot event's name is its action_name).
        query = sa.select(events.c.sender_id, events.c.type_name, events.c.timestamp, events.c.data).where(
            events.c.type_name.in_(("user", "bot"))
            | ((events.c.type_name == "slot") & (events.c.action_name == FEEDBACK_SLOT))
        )
        if since is not None:
            query = query.where(events.c.timestamp >= since)
        if until is not None:
            query = query.where(events.c.timestamp < until)
        if senders is not None:
            query = query.where(events.c.sender_id.in_(list(senders)))
        if exclude_prefix:
            # The review tool's REST senders: `rest:<prefix>...` (contract 1.1), or `<prefix>...` before it.
            for prefix in (exclude_prefix, conversation_id("rest", exclude_prefix)):
                query = query.where(sa.not_(events.c.sender_id.startswith(prefix, autoescape=True)))
        query = query.order_by(events.c.sender_id, events.c.id)
        current: Optional[Conversation] = None
        with engine.connect() as connection:
            for row in connection.execution_options(stream_results=True).execute(query):
                if current is None or current.sender != row.sender_id:
                    if current is not None:
                        yield current
                    current = Conversation(row.sender_id)
                current.messages.append(_message(row, current))
        if current is not None:
            yield current
    except sa.exc.SQLAlchemyError as e:
        raise ToolError(f"Reading the tracker store {engine.url!r} failed: {e}.") from e
    finally:
        engine.dispose()


def _message(row: Any, conversation: Conversation) -> Message:
    data = json.loads(row.data or "{}")
    if row.type_name == "slot":
        rating = data.get("value") if isinstance(data.get("value"), dict) else {}
        rated = next(
            (m for m in reversed(conversation.messages) if m.by == "bot" and m.time == rating.get("answer_timestamp")),
            None,
        )
        return Message(
            sender=row.sender_id,
            time=row.timestamp,
            by="feedback",
            text=rating.get("reason") or "",
            payload=rating,
            question=rated.question if rated else None,
            channel=rating.get("channel"),
        )
    if row.type_name == "user":
        intent = (data.get("parse_data") or {}).get("intent") or {}
        return Message(
            sender=row.sender_id,
            time=row.timestamp,
            by="user",
            text=data.get("text") or "",
            intent=intent.get("name"),
            confidence=intent.get("confidence"),
            channel=channel_of(row.sender_id, data.get("input_channel")),
            picture=_picture(data.get("metadata")),
        )
    last_user = next((m for m in reversed(conversation.messages) if m.by == "user"), None)
    custom = (data.get("data") or {}).get("custom")
    return Message(
        sender=row.sender_id,
        time=row.timestamp,
        by="bot",
        text=data.get("text") or "",
        payload=custom if isinstance(custom, dict) else None,
        question=last_user.text if last_user else None,
    )


def _picture(metadata: Any) -> Optional[Dict[str, Any]]:
    """The reader's measures of a message read from a picture (metadata `image`, bot.ocr), or None."""
    picture = metadata.get(IMAGE_KEY) if isinstance(metadata, dict) else None
    return dict(picture) if isinstance(picture, dict) else None


def latest_slot_values(url: Any, slot: str) -> Dict[str, Any]:
    """The last value set for `slot` in each conversation that ever set it (sender id -> value)."""
    engine = sa.create_engine(url)
    try:
        events = _events_table(engine)
        query = (
            sa.select(events.c.sender_id, events.c.data)
            .where((events.c.type_name == "slot") & (events.c.action_name == slot))
            .order_by(events.c.id)
        )
        values: Dict[str, Any] = {}
        with engine.connect() as connection:
            for row in connection.execute(query):
                values[row.sender_id] = json.loads(row.data or "{}").get("value")
        return values
    except sa.exc.SQLAlchemyError as e:
        raise ToolError(f"Reading the tracker store {engine.url!r} failed: {e}.") from e
    finally:
        engine.dispose()
