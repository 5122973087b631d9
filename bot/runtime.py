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
"""

from __future__ import annotations

import functools
import logging
import os
from typing import Any, Dict, Mapping, Optional, Text

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
        logger.error("ACTION_TIMEOUT=%r is not a positive number of seconds; using %.0f s. Set it to e.g. 10.",
                     raw, DEFAULT_ACTION_TIMEOUT)
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


def _validate_action_result(self: Any, result: Dict[Text, Any]) -> bool:
    """RemoteAction._validate_action_result with a validator compiled once (same checks, same error)."""
    from jsonschema.exceptions import best_match
    from rasa.shared.constants import DOCS_BASE_URL

    error = best_match(_action_response_validator().iter_errors(result))
    if error is not None:
        error.message += (
            ". Failed to validate Action server response from API, make sure your response from the Action "
            f"endpoint is valid. For more information about the format visit {DOCS_BASE_URL}/custom-actions"
        )
        raise error
    return True


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
_applied: Dict[str, Any] = {}


def apply() -> Dict[str, Any]:
    """Apply the adjustments (once per process); what was set, for the log."""
    if _applied:
        return _applied
    global _original_resolve
    import rasa.core.actions.action as rasa_action
    from rasa.shared.core.events import Event

    rasa_action.DEFAULT_REQUEST_TIMEOUT = action_timeout()
    rasa_action.RemoteAction._validate_action_result = _validate_action_result
    _original_resolve = Event.resolve_by_type
    Event.resolve_by_type = staticmethod(_resolve_event_type)  # type: ignore[assignment]
    _applied.update(action_timeout_s=rasa_action.DEFAULT_REQUEST_TIMEOUT, compiled_action_schema=True,
                    event_type_cache=True)
    logger.info("Rasa adjustments: action server timeout %.0f s (ACTION_TIMEOUT); action responses checked "
                "against a compiled schema; event classes remembered.", rasa_action.DEFAULT_REQUEST_TIMEOUT)
    return _applied
