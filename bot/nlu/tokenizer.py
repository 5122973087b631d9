"""Bilingual tokenizer: jieba for Chinese runs, spaCy (blank English, lookup lemmas) for the rest."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Dict, List, Text

import jieba
import spacy
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.tokenizers.tokenizer import Token, Tokenizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message

from bot import guard
from bot.lang import normalize
from bot.nlu.base import ModelDataComponent, original_span
from bot.nlu.constants import NORM_SPANS, NORM_TEXT
from bot.paths import ROOT, nlu_file

logger = logging.getLogger(__name__)

_HAN_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_CONTENT = re.compile(r"[\w\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER], is_trainable=True)
class BilingualTokenizer(ModelDataComponent, Tokenizer):
    """Tokenizes mixed Chinese/English text with correct offsets and no whitespace tokens.

    Works on the `norm_text` set by `ScriptNormalizer` (Simplified, lower case, rewritten), so token
    texts are normalised while `start`/`end` point into the user's message.
    """

    own_files = {"dictionary_path": "nlu/jieba_dict.txt"}

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """Returns the component's default config."""
        return {
            # jieba user dictionary (word [freq] [tag] per line); relative paths are resolved
            # against the project root. None uses data/nlu/jieba_dict.txt.
            "dictionary_path": None,
            # Use jieba's HMM to segment words missing from its dictionaries.
            "hmm": True,
            # Drop tokens with no letter, digit or Chinese character (punctuation, emoji).
            "drop_punctuation": True,
            # Rasa's common tokenizer options.
            "intent_tokenization_flag": False,
            "intent_split_symbol": "_",
            "token_pattern": None,
            "prefix_separator_symbol": None,
        }

    def __init__(self, config: Dict[Text, Any]) -> None:
        """Loads jieba with the domain dictionary and a blank spaCy English pipeline."""
        super().__init__(config)
        path = Path(config.get("dictionary_path") or nlu_file("jieba_dict.txt"))
        if not path.is_absolute():
            path = ROOT / path
        if not path.is_file():
            raise FileNotFoundError(
                f"BilingualTokenizer: jieba dictionary {path} not found. Set 'dictionary_path' in "
                f"config.yml to an existing file, or remove it to use {nlu_file('jieba_dict.txt')}."
            )
        self.hmm = bool(config["hmm"])
        self.drop_punctuation = bool(config["drop_punctuation"])
        self.jieba = jieba.Tokenizer()
        self.jieba.load_userdict(str(path))
        self.english = spacy.blank("en")
        self.english.add_pipe("lemmatizer", config={"mode": "lookup"})
        self.english.initialize()

    def _chinese(self, run: str, offset: int) -> List[Token]:
        return [
            Token(word, offset + start, offset + end) for word, start, end in self.jieba.tokenize(run, HMM=self.hmm)
        ]

    def _other(self, run: str, offset: int) -> List[Token]:
        return [
            Token(t.text, offset + t.idx, offset + t.idx + len(t.text), lemma=t.lemma_ or t.text)
            for t in self.english(run)
            if not t.is_space
        ]

    def split(self, text: str) -> List[Token]:
        """Tokens of an already normalised text."""
        tokens: List[Token] = []
        position = 0
        for m in _HAN_RUN.finditer(text):
            if m.start() > position:
                tokens += self._other(text[position : m.start()], position)
            tokens += self._chinese(m.group(), m.start())
            position = m.end()
        if position < len(text):
            tokens += self._other(text[position:], position)
        tokens = [t for t in tokens if t.text.strip()]
        if self.drop_punctuation:
            tokens = [t for t in tokens if _CONTENT.search(t.text)]
        return tokens

    def tokenize(self, message: Message, attribute: Text) -> List[Token]:
        """Tokenizes `attribute` of the message (the normalised text for TEXT)."""
        text = message.get(attribute) or ""
        if attribute == TEXT:
            text = message.get(NORM_TEXT) or normalize(guard.blank_markup(text))
        tokens = self.split(text)
        if attribute == TEXT and message.get(NORM_SPANS):
            # Offsets point into the user's text, also where the normaliser rewrote words.
            for token in tokens:
                token.start, token.end = original_span(message, token.start, token.end)
        if not tokens:
            # Rasa's featurizers expect at least one token.
            tokens = [Token(text.strip() or text, 0, len(text))]
        return self._apply_token_pattern(tokens)
