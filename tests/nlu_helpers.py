"""Run our rule-based NLU components on a text, as the trained pipeline does, for action tests."""

from __future__ import annotations

import functools
from typing import Any, Dict, Optional

from rasa.shared.nlu.training_data.message import Message

from bot.nlu.claims import SystemicClaimDetector
from bot.nlu.entities import LexiconEntityExtractor
from bot.nlu.normalizer import ScriptNormalizer


@functools.lru_cache(maxsize=1)
def components() -> tuple:
    """The normaliser, entity extractor and claim detector with their default configs."""
    return (
        ScriptNormalizer(ScriptNormalizer.get_default_config()),
        LexiconEntityExtractor(LexiconEntityExtractor.get_default_config()),
        SystemicClaimDetector(SystemicClaimDetector.get_default_config()),
    )


def parse(
    text: str, intent: Optional[str], confidence: float = 0.9, ranking: Optional[Dict[str, float]] = None
) -> Dict[str, Any]:
    """Parse data like Rasa's for `text`, with the given intent and fact ranking (the trained
    classifiers are not run here: `ranking` maps fact ids to the fact classifier's confidences)."""
    message = Message.build(text=text)
    for component in components():
        component.process([message])
    data = message.as_dict(only_output_properties=True)
    data["intent"] = {"name": intent, "confidence": confidence} if intent else {}
    if ranking:
        data["fact_ranking"] = [
            {"fact": f, "confidence": c} for f, c in sorted(ranking.items(), key=lambda item: -item[1])
        ]
    data.setdefault("entities", [])
    return data
