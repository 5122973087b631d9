"""Custom actions that fail (raise) with the user's text in the error, for tests/test_privacy.py.

Each action of domain.yml raises, as a bug in an action would; the error names the message and the
sender, which the action server must not write to its log, and must not send back to the Rasa server.
"""

from __future__ import annotations

from typing import Any, Dict, List, Text

import yaml
from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.paths import ROOT


class FailingAction:
    """An action that raises an error quoting the user's message and sender id (mixed into an Action
    per name below; rasa-sdk registers every subclass of Action, so this one is not one)."""

    action_name = ""

    def name(self) -> Text:
        """The domain action this one stands in for."""
        return self.action_name

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        """Fail, quoting the message (a careless error message in a buggy action)."""
        raise RuntimeError(f"cannot handle {tracker.latest_message.get('text')!r} from {tracker.sender_id}")


def _domain_actions() -> List[str]:
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    return [name for name in domain.get("actions", []) if isinstance(name, str)]


for _name in _domain_actions():
    globals()[f"Failing_{_name}"] = type(f"Failing_{_name}", (FailingAction, Action), {"action_name": _name})
