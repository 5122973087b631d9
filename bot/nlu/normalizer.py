"""Normaliser component: blanks markup, folds width and case, maps Traditional to Simplified."""

from __future__ import annotations

from typing import Any, Dict, Optional, Text

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message

from bot import guard
from bot.lang import detect_script, normalize
from bot.nlu.base import MessageComponent
from bot.nlu.constants import INPUT_PROBLEM, LANG, NORM_TEXT


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False)
class ScriptNormalizer(MessageComponent):
    """Prepares text for understanding and records the user's script and any input problem.

    Sets `norm_text` (same length as the text, so offsets stay valid), and adds `lang`
    (`zh-Hans`, `zh-Hant`, `en` or None) and `input_problem` to the parse output.
    Put it first in the pipeline, before `bot.nlu.tokenizer.BilingualTokenizer`.
    """

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """Returns the component's default config."""
        return {
            # Characters of a message that are understood; longer messages get `input_problem:
            # too_long` and only their beginning is processed, so a huge paste costs little.
            "max_chars": 2000,
            # Replace HTML tags, script blocks and javascript: URLs by spaces before understanding.
            "blank_markup": True,
        }

    def __init__(self, config: Dict[Text, Any]) -> None:
        """Keeps the config."""
        self.max_chars = int(config["max_chars"])
        self.blank_markup = bool(config["blank_markup"])


    def process_message(self, message: Message) -> None:
        """Set `norm_text`, `lang` and `input_problem` on one message."""
        text: Optional[str] = message.get(TEXT)
        if text is None:
            return
        problem = guard.inspect(text)
        readable = text[: self.max_chars]
        if self.blank_markup:
            readable = guard.blank_markup(readable)
        message.set(NORM_TEXT, normalize(readable))
        message.set(LANG, detect_script(readable), add_to_output=True)
        message.set(INPUT_PROBLEM, problem, add_to_output=True)
