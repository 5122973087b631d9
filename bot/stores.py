"""Tracker store configured from the environment: SQLite file by default, PostgreSQL when asked."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain

from bot.paths import VAR

DEFAULT_SQLITE = VAR / "tracker.db"


def tracker_db_settings(env: Mapping[str, str]) -> Dict[str, Any]:
    """SQLTrackerStore arguments from `TRACKER_DB_URL` (any SQLAlchemy URL) or `TRACKER_SQLITE_PATH`.

    Without either, conversations go to `var/tracker.db` in the project.
    """
    url = env.get("TRACKER_DB_URL", "").strip()
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
    path.parent.mkdir(parents=True, exist_ok=True)
    return {"dialect": "sqlite", "db": str(path)}


class ConfiguredSQLTrackerStore(SQLTrackerStore):
    """Rasa's SQL tracker store, with its database chosen by environment variables (see README)."""

    def __init__(
        self,
        domain: Optional[Domain] = None,
        host: Optional[str] = None,
        event_broker: Optional[EventBroker] = None,
        **kwargs: Any,
    ) -> None:
        """Connect to the configured database; endpoint-file settings are ignored on purpose."""
        super().__init__(domain=domain, event_broker=event_broker, **tracker_db_settings(os.environ))
