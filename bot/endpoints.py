"""The deployment's Rasa files and the checks before start-up: endpoints.yml with this run's action server
and lock store, credentials.yml without the channels whose settings are missing, and the tracker and lock
stores reached before Rasa starts (Rasa would otherwise fall back to memory). Used by bot.serve."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional
from urllib.parse import urlsplit

import yaml

from bot.paths import ROOT
from bot.privacy import private_file, private_sqlite
from bot.sqlite import use_wal

if TYPE_CHECKING:
    from bot.serve import ServerSettings

# Channels that are on only when their settings are in the environment (the first one is required).
OPTIONAL_CHANNELS: Dict[str, List[str]] = {
    "bot.channels.wechat.WeChatInput": ["WECHAT_TOKEN", "WECHAT_APP_ID", "WECHAT_AES_KEY"],
    "bot.channels.telegram.TelegramInput": ["TELEGRAM_TOKEN", "TELEGRAM_WEBHOOK_SECRET", "TELEGRAM_API_URL"],
    "bot.channels.line.LineInput": ["LINE_CHANNEL_SECRET", "LINE_CHANNEL_ACCESS_TOKEN", "LINE_API_URL"],
    "bot.channels.whatsapp.WhatsAppInput": [
        "WHATSAPP_TOKEN",
        "WHATSAPP_APP_SECRET",
        "WHATSAPP_VERIFY_TOKEN",
        "WHATSAPP_PHONE_NUMBER_ID",
        "WHATSAPP_API_URL",
    ],
}


class StartupError(RuntimeError):
    """A server did not come up; the message says which, why (its log) and what to check."""


def action_host(env: Mapping[str, str]) -> str:
    """The interface the action server listens on: ACTION_HOST, loopback by default (bot/action_server.py)."""
    host = env.get("ACTION_HOST", "").strip() or "127.0.0.1"
    return "127.0.0.1" if host in ("0.0.0.0", "::") else host


def check_stores(env: Mapping[str, str]) -> None:
    """Connect to the tracker store (and the Redis lock store when REDIS_URL is set) before starting Rasa.

    Rasa falls back to an in-memory tracker store when the configured one fails, which loses every
    conversation at the next restart while the bot seems to run; here that stops the start instead,
    naming the setting to fix.
    """
    import sqlalchemy as sa

    from bot.stores import tracker_db_settings

    db = tracker_db_settings(env)
    if db["dialect"] == "sqlite":
        private_sqlite(Path(db["db"]))  # created 0600 here, before SQLite makes it with the default mode
        url = sa.engine.URL.create("sqlite", database=db["db"])
        where = f"TRACKER_SQLITE_PATH ({db['db']})" if env.get("TRACKER_SQLITE_PATH") else f"the SQLite file {db['db']}"
    else:
        url = sa.engine.URL.create(
            db["dialect"],
            username=db.get("username"),
            password=db.get("password"),
            host=db.get("host"),
            port=db.get("port"),
            database=db.get("db"),
            query=db.get("query") or {},
        )
        where = "TRACKER_DB_URL"
    try:
        engine = sa.create_engine(
            url, connect_args={"connect_timeout": 5} if db["dialect"].startswith("postgres") else {}
        )
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        engine.dispose()
        if db["dialect"] == "sqlite":
            with contextlib.closing(sqlite3.connect(db["db"], timeout=5)) as connection:
                use_wal(connection)  # here, before several Rasa processes open the file at the same moment
            private_sqlite(Path(db["db"]))  # side files (-wal, -shm) an earlier run left behind
    except Exception as error:
        raise StartupError(
            f"The tracker store cannot be reached: {type(error).__name__}: {str(error).splitlines()[0][:200]}. "
            f'Check {where}: the database must exist and accept connections (README, "Storage"). Rasa would '
            "otherwise keep conversations in memory only and lose them."
        ) from None
    lock = lock_store_settings(env)
    if lock:
        import redis

        try:
            redis.Redis(
                host=str(lock["url"]),
                port=int(lock["port"]),
                db=int(lock["db"]),
                password=lock.get("password"),
                ssl=bool(lock.get("use_ssl")),
                socket_connect_timeout=5,
            ).ping()
        except Exception as error:
            raise StartupError(
                f"The Redis lock store at REDIS_URL cannot be reached ({type(error).__name__}). Start Redis or fix "
                "REDIS_URL, or unset it to use the in-memory lock store of a single Rasa server."
            ) from None


def lock_store_settings(env: Mapping[str, str]) -> Optional[Dict[str, Any]]:
    """endpoints.yml `lock_store` for Redis from REDIS_URL (redis://[:password@]host[:port][/db]), or None.

    Without REDIS_URL the lock store stays Rasa's in-memory one, which is right for one Rasa server.
    Several replicas (or SANIC_WORKERS > 1) must share a Redis lock store, or one conversation could be
    processed by two of them at once.
    """
    url = env.get("REDIS_URL", "").strip()
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        raise StartupError(
            f"REDIS_URL={url!r} is not a Redis address. Use redis://[:password@]host[:port][/db], "
            "e.g. redis://127.0.0.1:6379/0."
        )
    store: Dict[str, Any] = {
        "type": "bot.locks.AtomicRedisLockStore",
        "url": parts.hostname,
        "port": parts.port or 6379,
        "db": int(parts.path.strip("/") or 0),
        "key_prefix": env.get("REDIS_KEY_PREFIX", "exobot"),
    }
    if parts.password:
        store["password"] = parts.password
    if parts.scheme == "rediss":
        store["use_ssl"] = True
    return store


def write_endpoints(
    settings: ServerSettings,
    directory: Path,
    env: Optional[Mapping[str, str]] = None,
    lock_file: Optional[Path] = None,
) -> Path:
    """A copy of endpoints.yml with this deployment's action server address and lock store: Redis with
    REDIS_URL, else the SQLite `lock_file` when given (several Rasa processes), else Rasa's in-memory one."""
    endpoints = yaml.safe_load((ROOT / "endpoints.yml").read_text(encoding="utf-8")) or {}
    endpoints["action_endpoint"] = {"url": settings.action_url}
    token = (os.environ if env is None else env).get("ACTION_SERVER_TOKEN", "").strip()
    if token:
        endpoints["action_endpoint"]["token"] = token  # sent with every call, checked by bot/action_server.py
    lock_store = lock_store_settings(os.environ if env is None else env)
    if lock_store:
        endpoints["lock_store"] = lock_store
    elif lock_file is not None:
        endpoints["lock_store"] = {"type": "bot.locks.SQLiteLockStore", "path": str(lock_file)}
    path = directory / "endpoints.yml"
    private_file(path, create=True)  # 0600 before the action server token is written into it
    path.write_text(yaml.safe_dump(endpoints, sort_keys=False), encoding="utf-8")
    return path


def write_credentials(env: Dict[str, str], directory: Path) -> tuple[Path, List[str]]:
    """A copy of credentials.yml without the optional channels whose settings are missing.

    Returns the file and one line per channel saying whether it is on or off, and why.
    """
    credentials = yaml.safe_load((ROOT / "credentials.yml").read_text(encoding="utf-8")) or {}
    notes = []
    for channel, variables in OPTIONAL_CHANNELS.items():
        if channel not in credentials:
            continue
        short = channel.rsplit(".", 1)[-1]
        if env.get(variables[0]):
            notes.append(f"{short}: on")
        else:
            del credentials[channel]
            notes.append(f"{short}: off (set {variables[0]} to turn it on; see README)")
    path = directory / "credentials.yml"
    path.write_text(yaml.safe_dump(credentials, sort_keys=False), encoding="utf-8")
    return path, notes
