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

Privacy by default (logs, files, secrets) is bot.privacy; `main()` below runs `rasa run` with it.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
from typing import Any, Dict, List, Mapping, Optional, Sequence, Text, Tuple

import ujson

from bot import fastpaths
from bot.privacy import PRIVATE_UMASK, api_arguments, protect_logs, remember_user_messages

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


def compact_json(value: Any) -> str:
    """The JSON text of `value` for the action server, written by ujson (a conversation's events in half
    json.dumps's time): the same JSON as json.dumps without the spaces after separators, non-ASCII
    characters escaped as json.dumps escapes them; json.dumps for what ujson refuses."""
    try:
        return ujson.dumps(value, escape_forward_slashes=False)
    except (TypeError, ValueError, OverflowError):
        return json.dumps(value)


def read_json(text: str) -> Any:
    """The value of JSON `text`, read by ujson (about 2.5 times json.loads's speed, the same values: exact
    floats, big integers, lone surrogates, NaN); json.loads for what ujson refuses, with its error."""
    try:
        return ujson.loads(text)
    except ValueError:
        return json.loads(text)


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
            json_serialize=compact_json,
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
        _applied.update(fastpaths.apply())
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
        "connections to the action server kept: %s; DIET's graph called directly: %s; copies for debug "
        "logs only when logged: %s.",
        rasa_action.DEFAULT_REQUEST_TIMEOUT,
        speed,
        speed,
        speed,
        speed,
        _applied.get("direct_tensorflow_calls", False),
        _applied.get("debug_only_log_copies", False),
    )
    return _applied


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
    sys.exit(main())
