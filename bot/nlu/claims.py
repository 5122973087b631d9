"""Detects unsupported claims (contract flags) with rules over both languages: the systemic-injection claim
(bot/nlu/claim_detector.py) and the further codes (bot/nlu/claim_codes.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Text, Union

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.base import MessageComponent, normalized_text, original_span
from bot.nlu.claim_codes import CodeDetector, CodeHit, CodeRules
from bot.nlu.claim_detector import ClaimDetector, ClaimHit
from bot.nlu.constants import FLAGS
from bot.nlu.lexicon import claim_rules

__all__ = ["ClaimDetector", "ClaimHit", "SystemicClaimDetector"]


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=True)
class SystemicClaimDetector(MessageComponent):
    """Marks messages that state, ask about or quote the systemic-injection claim, or state or quote one of
    the further claims (a disease cured in people, overstated proof, official approval).

    Adds `flags` to the parse output: `[{"code": "unsupported_systemic_injection_claim", "start",
    "end", "text"}, ...]`, or an empty list. Works on `norm_text` from `ScriptNormalizer`.
    """

    own_files = {"rules_path": "nlu/claim_rules.yml", "codes_path": "nlu/claim_codes.yml"}

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """Returns the component's default config."""
        return {
            # Rule file of the systemic-injection claim; None uses data/nlu/claim_rules.yml.
            "rules_path": None,
            # Rule file of the further codes; None uses data/nlu/claim_codes.yml.
            "codes_path": None,
        }

    def __init__(self, config: Dict[Text, Any]) -> None:
        """Compiles the rules."""
        path = Path(config["rules_path"]) if config.get("rules_path") else None
        self.detector = ClaimDetector(claim_rules(path))
        codes = Path(config["codes_path"]) if config.get("codes_path") else None
        self.codes = CodeDetector(CodeRules.load(codes) if codes else None)

    def process_message(self, message: Message) -> None:
        """Sets `flags` on the message."""
        norm = normalized_text(message)
        if norm is not None:
            found: List[Union[ClaimHit, CodeHit]] = [*self.detector.detect(norm), *self.codes.detect(norm)]
            flags = [c.as_dict(message.get(TEXT), original_span(message, c.start, c.end)) for c in found]
            message.set(FLAGS, flags, add_to_output=True)
