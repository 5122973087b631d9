"""Normaliser component: blanks markup, folds width and case, maps Traditional to Simplified, and
rewrites how people type into how our data is written (bot/nlu/rewrite.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional, Text

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message

from bot import guard
from bot.lang import detect_script, normalize
from bot.nlu.base import MessageComponent
from bot.nlu.constants import INPUT_PROBLEM, LANG, NORM_SPANS, NORM_TEXT
from bot.nlu.rewrite import Rewriter, Variants


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=True)
class ScriptNormalizer(MessageComponent):
    """Prepares text for understanding and records the user's script and any input problem.

    Sets `norm_text` (also in the parse output, for the actions) and `norm_spans` (the span of the
    user's text behind each of its characters, so offsets found in it map back), and adds `lang`
    (`zh-Hans`, `zh-Hant`, `en` or None; a pinyin-only message is `zh-Hans`) and `input_problem`.
    Put it first in the pipeline, before `bot.nlu.tokenizer.BilingualTokenizer`.
    """

    own_files = {"variants_path": "nlu/variants.yml"}

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """Returns the component's default config."""
        return {
            # Characters of a message that are understood; longer messages get `input_problem:
            # too_long` and only their beginning is processed, so a huge paste costs little.
            "max_chars": 2000,
            # Replace HTML tags, script blocks and javascript: URLs by spaces before understanding.
            "blank_markup": True,
            # Rewrite look-alike letters, Cantonese and regional terms, homophone slips, English typos
            # and pinyin-only messages into the words of our data (False: normalise only).
            "rewrite": True,
            # Rewriting rules; None uses data/nlu/variants.yml.
            "variants_path": None,
        }

    def __init__(self, config: Dict[Text, Any]) -> None:
        """Keeps the config and builds the rewriter (its vocabulary comes from our facts and term lists)."""
        self.max_chars = int(config["max_chars"])
        self.blank_markup = bool(config["blank_markup"])
        self.rewriter: Optional[Rewriter] = None
        if config.get("rewrite", True):
            from bot.nlu.vocabulary import chinese_terms, chinese_vocabulary, english_vocabulary

            path = Path(config["variants_path"]) if config.get("variants_path") else None
            variants = Variants.load(path, domain_en=english_vocabulary(), domain_zh=chinese_terms())
            self.rewriter = Rewriter(variants, chinese_vocabulary(path))
            self.rewriter.rewrite("warm up 外泌体按全吗 waimiti anquan ma exsome")  # load lazy tables now

    def process_message(self, message: Message) -> None:
        """Set `norm_text`, `lang` and `input_problem` on one message."""
        text: Optional[str] = message.get(TEXT)
        if text is None:
            return
        problem = guard.inspect(text)
        readable = text[: self.max_chars]
        if self.blank_markup:
            readable = guard.blank_markup(readable)
        norm = normalize(readable)
        lang = detect_script(readable)
        if self.rewriter is not None:
            rewritten = self.rewriter.rewrite(norm)
            if rewritten.changes:
                norm = rewritten.text
                message.set(NORM_SPANS, [list(span) for span in rewritten.spans])
            if rewritten.pinyin and lang != "zh-Hant":
                lang = "zh-Hans"  # pinyin-only Chinese is answered in Simplified, unless Traditional is written too
        message.set(NORM_TEXT, norm, add_to_output=True)
        message.set(LANG, lang, add_to_output=True)
        message.set(INPUT_PROBLEM, problem, add_to_output=True)
