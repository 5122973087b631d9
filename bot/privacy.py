"""Privacy by default (README, "Privacy"), in the Rasa server (bot.runtime) and the action server
(bot.action_server):

- logs: every log record above DEBUG, of any logger (Rasa, Sanic, socket.io, structlog, ours), is
  redacted when it is made (`logging.setLogRecordFactory`, so no handler or logging configuration that
  Rasa or Sanic installs later can bypass it): the texts and sender ids of recent messages become
  `[text]` and `id:<hash>`, secrets from the environment `[secret]`, URL query values `…`, and HTTP
  response bodies quoted in errors (the stock action server sends the whole conversation back with
  every failure) are cut. A record factory rather than a log level: Rasa writes the errors an operator
  needs at ERROR, in the same lines as the texts, so no level keeps one without the other; and rather
  than a handler filter, because Sanic and Rasa add handlers of their own after we start;
- files: the processes run with umask 077; the tracker's SQLite file (with its -wal and -shm) and the
  logs are 0600, in folders created 0700;
- secrets: `python -m bot.runtime run ...` is `rasa run ...` that takes RASA_API_TOKEN and RASA_JWT_SECRET
  from the environment, so they never appear on a command line (`ps` shows those to every local user).
"""

from __future__ import annotations

import contextvars
import functools
import hashlib
import json
import logging
import os
import re
import stat
import threading
import traceback
from collections import OrderedDict
from pathlib import Path
from typing import IO, Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple, cast
from urllib.parse import urlsplit

from bot.conversations import PREFIXES

logger = logging.getLogger(__name__)

# -- privacy: logs ---------------------------------------------------------------------------------

# Settings whose values are secrets, never in a log line nor on a command line: those named here and any
# whose name ends in TOKEN, SECRET, KEY or PASSWORD (WECHAT_AES_KEY, LINE_CHANNEL_SECRET, a future channel's).
SECRET_SETTINGS = (
    "RASA_API_TOKEN",
    "RASA_JWT_SECRET",
    "ACTION_SERVER_TOKEN",
    "WECHAT_TOKEN",
    "WECHAT_AES_KEY",
    "TELEGRAM_TOKEN",
    "TELEGRAM_WEBHOOK_SECRET",
)
_SECRET_NAME = re.compile(r"(TOKEN|SECRET|KEY|PASSWORD)$")
# Settings holding URLs whose password is a secret.
SECRET_URL_SETTINGS = ("TRACKER_DB_URL", "REDIS_URL")
MIN_SECRET_CHARS = 6  # shorter values are not masked (they would mask ordinary words)
TEXT_MARK = "[text]"
SECRET_MARK = "[secret]"
MIN_MASKED_CHARS = 4  # shorter ASCII values ("hi", "ok") are masked as whole words, in their own turn only
RECENT_MESSAGES = 128  # messages whose text and sender are masked anywhere, also outside their turn
TURN_FORMS = 4096  # forms remembered for one turn (an action server request: the whole conversation)

# Conversation ids (bot.conversations): `rest:<sender>`, `wechat:<openid>`, ... of every channel.
_CONVERSATION = re.compile(
    r"(?<![\w/.-])(?:%s):[^\s'\"<>,;)\]}]+"
    % "|".join(re.escape(prefix) for prefix in sorted(set(PREFIXES.values()), key=len, reverse=True))
)
# The query of a URL (tokens, signatures, OpenIDs): each value is masked, the names stay.
_URL_QUERY = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>?]*\?)([^\s'\"<>]+)")
_QUERY_VALUE = re.compile(r"=[^&;#]*")
# An HTTP response body quoted in an error (Rasa: `ClientResponseError: 500, ..., body='...'`), and the
# conversation the stock action server sends back with a failure (`"request_body": {...}`).
_BODY = re.compile(r"(\bbody=|\"request_body\"\s*:)\s*b?['\"{].*$", re.MULTILINE)


def secret_values(env: Mapping[str, str]) -> Dict[str, str]:
    """The secrets in `env` by setting name: SECRET_SETTINGS, settings named like a secret, and the
    passwords in SECRET_URL_SETTINGS (values under MIN_SECRET_CHARS characters are left out)."""
    found = {name: value.strip() for name, value in env.items() if name in SECRET_SETTINGS or _SECRET_NAME.search(name)}
    for name in SECRET_URL_SETTINGS:
        try:
            found[name] = urlsplit(env.get(name, "").strip()).password or ""
        except ValueError:
            continue
    return {name: value for name, value in found.items() if len(value) >= MIN_SECRET_CHARS}


def log_id(sender: Any) -> str:
    """A sender id as logs show it: a short hash, so logs name no OpenID or chat id (privacy)."""
    return "id:" + hashlib.sha256(str(sender).encode("utf-8", "surrogatepass")).hexdigest()[:12]


def _forms(value: str) -> List[str]:
    """The ways a value shows up in a log line: as is, JSON-escaped (with and without \\u escapes),
    inside a Python repr, and inside the repr of JSON bytes (backslashes doubled)."""
    ascii_json = json.dumps(value)[1:-1]
    forms = {
        value,
        value.strip(),
        value.strip().lstrip("\u2060"),
        ascii_json,
        json.dumps(value, ensure_ascii=False)[1:-1],
        repr(value)[1:-1],
        ascii_json.replace("\\", "\\\\"),
    }
    return [form for form in forms if form.strip()]


def _long_enough(form: str) -> bool:
    return len(form) >= MIN_MASKED_CHARS or not form.isascii()


_ASCII_WORD = re.compile(r"[A-Za-z0-9_]")


@functools.lru_cache(maxsize=8192)
def _word_pattern(form: str) -> "re.Pattern[str]":
    """`form` where it is not part of a longer ASCII word: a sender "deep" is masked, "deepcopy" is not."""
    before = r"(?<![A-Za-z0-9_])" if _ASCII_WORD.match(form[0]) else ""
    after = r"(?![A-Za-z0-9_])" if _ASCII_WORD.match(form[-1]) else ""
    return re.compile(before + re.escape(form) + after)


class LogRedactor:
    """Masks private values in log text: users' texts and sender ids, secrets, URL query values, quoted
    response bodies. Texts and ids are known from the messages themselves (`remember`): those of the
    current turn (a context variable, so a request's own log lines) and of the last RECENT_MESSAGES."""

    def __init__(self, recent: int = RECENT_MESSAGES) -> None:
        """An empty redactor remembering up to `recent` messages."""
        self._recent: "OrderedDict[Tuple[str, str], None]" = OrderedDict()
        self._limit = recent * 16  # about eight forms of a text and of a sender id each
        self._turn: contextvars.ContextVar[Tuple[Tuple[str, str], ...]] = contextvars.ContextVar(
            "exobot_private_turn", default=()
        )
        self._secrets: List[str] = []
        self._lock = threading.Lock()

    def add_secrets(self, env: Mapping[str, str]) -> None:
        """Mask the secrets of `env` (`secret_values`)."""
        with self._lock:
            self._secrets = sorted({*self._secrets, *secret_values(env).values()}, key=len, reverse=True)

    def remember(
        self, texts: Iterable[Any] = (), senders: Iterable[Any] = (), conversation: Optional[str] = None
    ) -> None:
        """Mask these texts and sender ids from now on (ids as `log_id(conversation)`, or their own hash)."""
        pairs: List[Tuple[str, str]] = []
        for text in texts:
            if isinstance(text, str) and text.strip():
                pairs += [(form, TEXT_MARK) for form in _forms(text)]
        for sender in senders:
            if isinstance(sender, str) and sender.strip():
                mark = log_id(conversation or sender)
                pairs += [(form, mark) for form in _forms(sender)]
        if not pairs:
            return
        self._turn.set((self._turn.get() + tuple(pairs))[-TURN_FORMS:])
        with self._lock:
            for pair in pairs:
                if _long_enough(pair[0]):
                    self._recent.pop(pair, None)
                    self._recent[pair] = None
            while len(self._recent) > self._limit:
                self._recent.popitem(last=False)

    def redact(self, text: str) -> str:
        """`text` with every private value masked."""
        if not text:
            return text
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, SECRET_MARK)
        text = _BODY.sub(lambda m: m.group(1) + ("" if m.group(1).endswith("=") else " ") + "[not logged]", text)
        text = _URL_QUERY.sub(lambda m: m.group(1) + _QUERY_VALUE.sub("=…", m.group(2)), text)
        text = _CONVERSATION.sub(lambda m: log_id(m.group(0)), text)
        turn = self._turn.get()
        with self._lock:
            known = {*self._recent, *turn}
        for form, mark in sorted(known, key=lambda pair: len(pair[0]), reverse=True):
            if form in text and (_long_enough(form) or (form, mark) in turn):
                # cast: mypy cannot infer a lambda with a default argument
                text = _word_pattern(form).sub(cast(Callable[["re.Match[str]"], str], lambda _, mark=mark: mark), text)
        return text


REDACTOR = LogRedactor()
_base_record_factory: Any = None


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """Replace the record's message and traceback by their redacted text (arguments merged in)."""
    try:
        message = record.getMessage()
    except Exception:  # arguments that do not fit the format: keep the format only
        message = f"{record.msg} (the log call's arguments did not match its format)"
    record.msg, record.args = REDACTOR.redact(message), None
    exc_info: Any = record.exc_info  # Any: an exception instance is handled too, whatever typeshed says
    if isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    if isinstance(exc_info, tuple) and exc_info[0] is not None:
        # Formatted now and kept as exc_text: a formatter appends exc_text when exc_info is gone.
        record.exc_text = REDACTOR.redact("".join(traceback.format_exception(*exc_info)).rstrip("\n"))
        record.exc_info = None
    elif record.exc_text:
        record.exc_text = REDACTOR.redact(record.exc_text)
    return record


def _private_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record = _base_record_factory(*args, **kwargs)
    if record.levelno > logging.DEBUG:
        try:
            redact_record(record)
        except Exception as error:  # never let a record through unchecked
            record.msg, record.args, record.exc_info, record.exc_text = (
                f"(a {record.levelname} record of {record.name} was dropped: it could not be checked for private "
                f"data: {type(error).__name__})",
                None,
                None,
                None,
            )
    return record


def protect_logs(env: Optional[Mapping[str, str]] = None) -> None:
    """Redact every log record above DEBUG of this process when it is made (once per process)."""
    global _base_record_factory
    REDACTOR.add_secrets(os.environ if env is None else env)
    current = logging.getLogRecordFactory()
    if getattr(current, "exobot_private", False):
        return
    _base_record_factory = current
    _private_record.exobot_private = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(_private_record)


def remember_user_messages() -> None:
    """Every UserMessage, of any channel, has its text and sender id masked in this process's logs."""
    from rasa.core.channels.channel import UserMessage

    from bot.conversations import platform_sender

    original = UserMessage.__init__
    if getattr(original, "exobot_private", False):
        return

    @functools.wraps(original)
    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        sender = getattr(self, "sender_id", None)
        senders = [sender, platform_sender(sender)] if isinstance(sender, str) else []
        REDACTOR.remember(
            texts=[getattr(self, "text", None)],
            senders=senders,
            conversation=sender if isinstance(sender, str) else None,
        )

    init.exobot_private = True  # type: ignore[attr-defined]
    UserMessage.__init__ = init  # type: ignore[method-assign]


# -- privacy: files ----------------------------------------------------------------------------------

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
PRIVATE_UMASK = 0o077
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


_warned_folders: set = set()


def private_dir(path: Path) -> Path:
    """`path` as a folder only its owner can open: missing folders are created 0700; an existing one is
    tightened to 0700 when it is the project's var/ or inside it, and otherwise left as it is (a folder
    like /tmp or a home directory is not ours to change) with a warning when others can read it."""
    from bot.paths import VAR

    path = Path(path).absolute()
    missing = []
    folder = path
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for created in reversed(missing):
        created.mkdir(mode=PRIVATE_DIR_MODE, exist_ok=True)
        os.chmod(created, PRIVATE_DIR_MODE)  # mkdir's mode is reduced by the umask, never widened
    if missing:
        return path
    var = VAR.absolute()
    if path == var or var in path.parents:
        for folder in [path, *path.parents]:
            os.chmod(folder, PRIVATE_DIR_MODE)
            if folder == var:
                break
    elif stat.S_IMODE(path.stat().st_mode) & 0o077 and path not in _warned_folders:
        _warned_folders.add(path)
        logger.warning(
            "The folder %s can be read by other users; it holds the bot's conversations or logs. "
            "Run `chmod 700 %s`, or use a folder of its own.",
            path,
            path,
        )
    return path


def private_file(path: Path, create: bool = False) -> Path:
    """Make `path` readable and writable by its owner only (0600); create it empty first when `create`."""
    if create:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE_MODE))
    if os.path.exists(path):
        os.chmod(path, PRIVATE_FILE_MODE)
    return Path(path)


def private_sqlite(database: Path) -> None:
    """The SQLite file and its -wal, -shm and -journal files 0600 (SQLite gives new side files the mode of
    the database file), created empty when missing, in a private folder."""
    private_dir(Path(database).parent)
    private_file(Path(database), create=True)
    for suffix in SQLITE_SIDE_FILES:
        private_file(Path(f"{database}{suffix}"))


def open_private_log(path: Path) -> IO[str]:
    """A log file opened for writing (truncated), 0600 in a private folder."""
    private_dir(Path(path).parent)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
    os.fchmod(descriptor, PRIVATE_FILE_MODE)  # an existing file keeps its mode otherwise
    return os.fdopen(descriptor, "w", encoding="utf-8")


# -- privacy: secrets ----------------------------------------------------------------------------------


def api_arguments(env: Mapping[str, str]) -> List[str]:
    """`rasa run` options for the HTTP API: off by default; token (RASA_API_TOKEN) and/or JWT (RASA_JWT_SECRET)."""
    token, secret = env.get("RASA_API_TOKEN", "").strip(), env.get("RASA_JWT_SECRET", "").strip()
    if not (token or secret):
        return []
    args = ["--enable-api"]
    if token:
        args += ["--auth-token", token]
    if secret:
        args += ["--jwt-secret", secret, "--jwt-method", env.get("RASA_JWT_METHOD", "").strip() or "HS256"]
    return args
