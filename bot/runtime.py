"""Run-time adjustments of Rasa 3.6 inside the Rasa server, measured in README, "Performance".

`apply()` is called when our REST channel and our tracker store are loaded (both always are), once per
process:

- the action server timeout: Rasa waits up to 300 s for a custom action and ignores any `timeout` in
  endpoints.yml; ACTION_TIMEOUT (seconds, default 10) replaces it, so a hung action server costs a user
  seconds and the conversation's lock is freed soon;
- the action-response check: Rasa validates every action server response with `jsonschema.validate`,
  which re-checks the whole events schema against its meta-schema on every call (about 40 % of the
  Rasa server's CPU time under load). The same schema is now compiled once and every response is still
  validated against it, with the same error;
- event types: Rasa finds the class of every stored event by walking all subclasses of `Event` (about 7 %
  of the CPU time, at every tracker load). The class found for each type name is now remembered.

Privacy by default (README, "Privacy"), in the Rasa server and the action server (bot.action_server):

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
import sys
import threading
import traceback
from collections import OrderedDict
from pathlib import Path
from typing import IO, Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Text, Tuple, cast
from urllib.parse import urlsplit

from bot.conversations import PREFIXES

logger = logging.getLogger(__name__)

DEFAULT_ACTION_TIMEOUT = 10.0  # seconds; Rasa's own is 300


def action_timeout(env: Optional[Mapping[str, str]] = None) -> float:
    """Seconds Rasa waits for the action server: ACTION_TIMEOUT, default 10."""
    raw = (os.environ if env is None else env).get("ACTION_TIMEOUT", "").strip()
    try:
        value = float(raw) if raw else DEFAULT_ACTION_TIMEOUT
    except ValueError:
        value = -1.0
    if value <= 0:
        logger.error(
            "ACTION_TIMEOUT=%r is not a positive number of seconds; using %.0f s. Set it to e.g. 10.",
            raw,
            DEFAULT_ACTION_TIMEOUT,
        )
        value = DEFAULT_ACTION_TIMEOUT
    return value


@functools.lru_cache(maxsize=1)
def _action_response_validator() -> Any:
    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction

    schema = RemoteAction.action_response_format_spec()
    cls = validator_for(schema)
    cls.check_schema(schema)  # once, instead of on every action call
    return cls(schema)


@functools.lru_cache(maxsize=1)
def _event_validators() -> Optional[Tuple[Any, Dict[str, Any]]]:
    """(validator of the response without the per-event `oneOf`, validator of each event type's branch), or
    None when the schema is not shaped as this assumes (then every response takes the full check).

    Rasa's schema says each event is exactly one of ~20 branches (`oneOf`), so jsonschema checks every event
    against every branch. Each branch fixes `event` to its own constant; an event whose `event` is X can only
    match branch X, so "valid against the base schema and against branch X" means exactly what `oneOf` means.
    """
    import copy

    full = _action_response_validator()
    schema = copy.deepcopy(full.schema)
    try:
        items = schema["properties"]["events"]["items"]
        branches = items.pop("oneOf")
        names = [branch["properties"]["event"]["const"] for branch in branches]
    except (KeyError, TypeError):
        return None
    if len(set(names)) != len(names) or "event" not in items.get("required", ()):
        return None
    cls = type(full)
    return cls(schema), {name: cls(branch) for name, branch in zip(names, branches)}


def _quickly_valid(result: Any) -> bool:
    """True when the response is certainly valid (see _event_validators); False means: check it fully."""
    validators = _event_validators()
    if validators is None or not isinstance(result, dict):
        return False
    base, branches = validators
    if not base.is_valid(result):
        return False
    for event in result.get("events") or ():
        branch = branches.get(event.get("event"))
        if branch is None or not branch.is_valid(event):
            return False
    return True


def _validate_action_result(self: Any, result: Dict[Text, Any]) -> bool:
    """RemoteAction._validate_action_result with a validator compiled once (same checks, same error); a valid
    response is recognised without checking each event against every event type."""
    from jsonschema.exceptions import best_match
    from rasa.shared.constants import DOCS_BASE_URL

    if _quickly_valid(result):
        return True
    error = best_match(_action_response_validator().iter_errors(result))
    if error is not None:
        error.message += (
            ". Failed to validate Action server response from API, make sure your response from the Action "
            f"endpoint is valid. For more information about the format visit {DOCS_BASE_URL}/custom-actions"
        )
        raise error
    return True


def _run_graph(
    self: Any, inputs: Optional[Dict[Text, Any]] = None, targets: Optional[List[Text]] = None
) -> Dict[Text, Any]:
    """DaskGraphRunner.run without dask: the same nodes called with the same inputs, in an order computed
    once per set of targets (Rasa rebuilds the minimal graph and dask plans it at every message)."""
    from rasa.engine.exceptions import GraphRunError

    run_targets = list(targets if targets else self._graph_schema.target_names)
    plans, key = self.__dict__.setdefault("_exobot_plans", {}), tuple(run_targets)
    plan = plans.get(key)
    if plan is None:
        plan = plans[key] = _graph_plan(self._graph_schema, run_targets)
    results: Dict[Text, Any] = {}
    for name, value in (inputs or {}).items():
        if isinstance(value, str) and value in self._graph_schema.nodes:
            raise GraphRunError(
                f"Input value '{value}' clashes with a node name. Make sure that none of the input names passed to "
                "the `run` method are the same as node names in the graph schema."
            )
        results[name] = (name, value)
    try:
        for name, needs in plan:
            results[name] = self._instantiated_nodes[name](*(results[need] for need in needs))
    except RuntimeError as e:
        raise GraphRunError("Error running runner.") from e
    return dict(results[target] for target in run_targets)


def _graph_plan(schema: Any, targets: List[Text]) -> List[Tuple[Text, List[Text]]]:
    """(node, the names it needs) for every node the targets depend on, each after what it needs."""
    order: List[Tuple[Text, List[Text]]] = []
    done: set = set()

    def visit(name: Text) -> None:
        if name in done or name not in schema.nodes:  # done, or an input placeholder
            return
        done.add(name)
        needs = list(schema.nodes[name].needs.values())
        for need in needs:
            visit(need)
        order.append((name, needs))

    for target in targets:
        visit(target)
    return order


class _KeptSession:
    """`async with` on a client session that stays open for the next call (EndpointConfig.session)."""

    def __init__(self, session: Any) -> None:
        self.session = session

    async def __aenter__(self) -> Any:
        return self.session

    async def __aexit__(self, *exc: object) -> None:
        return None


# Idle connections to the action server are dropped after 2 s, before Sanic's own keep-alive limit (5 s)
# closes them from its side, so a kept connection is never one the server is closing at that moment.
KEEP_ALIVE_S = 2.0


def _kept_session(self: Any) -> Any:
    """EndpointConfig.session returning one client session per endpoint and event loop, kept open: Rasa opens
    a new session (and a new connection to the action server) for every action call."""
    import asyncio

    import aiohttp
    from rasa.utils import endpoints

    loop = asyncio.get_running_loop()
    kept = self.__dict__.get("_exobot_session")
    if kept is None or kept[0] is not loop or kept[1].closed:
        # The session Rasa's EndpointConfig.session makes, with a connector that keeps connections.
        auth = aiohttp.BasicAuth(self.basic_auth["username"], self.basic_auth["password"]) if self.basic_auth else None
        session = aiohttp.ClientSession(
            headers=self.headers,
            auth=auth,
            timeout=aiohttp.ClientTimeout(total=endpoints.DEFAULT_REQUEST_TIMEOUT),
            connector=aiohttp.TCPConnector(keepalive_timeout=KEEP_ALIVE_S),
        )
        kept = self.__dict__["_exobot_session"] = (loop, session)
    return _KeptSession(kept[1])


_event_classes: Dict[str, Any] = {}


def _resolve_event_type(type_name: Text, default: Optional[Any] = None) -> Optional[Any]:
    """Event.resolve_by_type, remembering each answer (classes found the same way, in the same order)."""
    found = _event_classes.get(type_name)
    if found is None:
        found = _original_resolve(type_name, default=default)  # the same answers and errors as Rasa's
        if found is not None and getattr(found, "type_name", None) == type_name:
            _event_classes[type_name] = found
    return found


_original_resolve: Any = None
_originals: Dict[str, Any] = {}  # Rasa's own functions that apply() replaced
_applied: Dict[str, Any] = {}

# The Rasa release the adjustments above and the store overrides in bot.stores were written for and
# tested against (tests/test_rasa_equivalence.py compares them with stock Rasa).
RASA_WRITTEN_FOR = "3.6.21"


def rasa_version_matches() -> bool:
    """True when the installed Rasa is the release our patches were written for; else log why once."""
    import rasa

    installed = getattr(rasa, "__version__", "unknown")
    if installed == RASA_WRITTEN_FOR:
        return True
    if not _version_warned:
        _version_warned.append(installed)
        logger.warning(
            "Rasa %s is installed, but bot.runtime and bot.stores were written for Rasa %s: the "
            "speed adjustments stay off. Install rasa==%s (make setup), or check them against the "
            "new release (tests/test_rasa_equivalence.py) and update RASA_WRITTEN_FOR.",
            installed,
            RASA_WRITTEN_FOR,
            RASA_WRITTEN_FOR,
        )
    return False


_version_warned: List[str] = []


def apply() -> Dict[str, Any]:
    """Apply the adjustments (once per process); what was set, for the log."""
    if _applied:
        return _applied
    global _original_resolve
    import rasa.core.actions.action as rasa_action
    from rasa.shared.core.events import Event

    # Rasa's constant is an int (inferred); aiohttp's timeout takes any number of seconds.
    rasa_action.DEFAULT_REQUEST_TIMEOUT = action_timeout()  # type: ignore[assignment]
    speed = rasa_version_matches()
    if speed:
        rasa_action.RemoteAction._validate_action_result = _validate_action_result  # type: ignore[method-assign]
        from rasa.engine.runner.dask import DaskGraphRunner

        _originals.setdefault("graph_run", DaskGraphRunner.run)  # stock, for tests/test_rasa_equivalence.py
        DaskGraphRunner.run = _run_graph  # type: ignore[method-assign]
        from rasa.utils.endpoints import EndpointConfig

        EndpointConfig.session = _kept_session  # type: ignore[method-assign]
        _original_resolve = Event.resolve_by_type
        Event.resolve_by_type = staticmethod(_resolve_event_type)  # type: ignore[method-assign]
    protect_logs()
    remember_user_messages()
    _applied.update(
        action_timeout_s=rasa_action.DEFAULT_REQUEST_TIMEOUT,
        compiled_action_schema=speed,
        event_type_cache=speed,
        planned_graph_runs=speed,
        kept_action_connections=speed,
        private_logs=True,
    )
    logger.info(
        "Rasa adjustments: action server timeout %.0f s (ACTION_TIMEOUT); action responses checked "
        "against a compiled schema: %s; event classes remembered: %s; graph runs planned once: %s; "
        "connections to the action server kept: %s.",
        rasa_action.DEFAULT_REQUEST_TIMEOUT,
        speed,
        speed,
        speed,
        speed,
    )
    return _applied


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


SECRET_OPTIONS = ("--auth-token", "--jwt-secret", "--jwt-private-key")


def main(argv: Optional[Sequence[str]] = None) -> int:
    """`python -m bot.runtime run [rasa run options]`: Rasa's command line, with the HTTP API options
    (RASA_API_TOKEN, RASA_JWT_SECRET) read from the environment instead of the command line, private
    logs and umask 077."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] != "run":
        print(
            "usage: python -m bot.runtime run [rasa run options]; secrets come from RASA_API_TOKEN and "
            "RASA_JWT_SECRET in the environment.",
            file=sys.stderr,
        )
        return 2
    given = [option for option in args if option.split("=", 1)[0] in SECRET_OPTIONS]
    if given:
        print(
            f"error: {given[0].split('=', 1)[0]} on the command line is visible to every local user (`ps`). "
            "Set RASA_API_TOKEN or RASA_JWT_SECRET in the environment instead.",
            file=sys.stderr,
        )
        return 2
    os.umask(PRIVATE_UMASK)
    protect_logs()
    remember_user_messages()
    # Rasa parses sys.argv; this process's command line (/proc/<pid>/cmdline) keeps what it was started with.
    sys.argv = ["rasa", *args, *api_arguments(os.environ)]
    from rasa.__main__ import main as rasa_main

    rasa_main()
    return 0


if __name__ == "__main__":
    from bot.runtime import main as _main  # the module's own copy, the one the channels and stores use

    sys.exit(_main())
