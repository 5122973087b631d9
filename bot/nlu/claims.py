"""Detects the unsupported systemic-injection claim (contract flag) with spaCy rules over both languages."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Text

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.base import MessageComponent, normalized_text, original_span
from bot.nlu.claim_detector import ClaimDetector, ClaimHit
from bot.nlu.constants import FLAGS
from bot.nlu.lexicon import claim_rules

__all__ = ["ClaimDetector", "ClaimHit", "SystemicClaimDetector"]


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False)
class SystemicClaimDetector(MessageComponent):
    """Marks messages that state, ask about or quote the systemic-injection claim.

    Adds `flags` to the parse output: `[{"code": "unsupported_systemic_injection_claim", "start",
    "end", "text"}]`, or an empty list. Works on `norm_text` from `ScriptNormalizer`.
    """

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """Returns the component's default config."""
        return {
            # Rule file; None uses data/nlu/claim_rules.yml.
            "rules_path": None,
        }

    def __init__(self, config: Dict[Text, Any]) -> None:
        """Compiles the rules."""
        path = Path(config["rules_path"]) if config.get("rules_path") else None
        self.detector = ClaimDetector(claim_rules(path))


    def process_message(self, message: Message) -> None:
        """Sets `flags` on the message."""
        norm = normalized_text(message)
        if norm is not None:
            flags = [c.as_dict(message.get(TEXT), original_span(message, c.start, c.end)) for c in self.detector.detect(norm)]
            message.set(FLAGS, flags, add_to_output=True)
