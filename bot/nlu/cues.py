"""Cue featurizer: one sparse feature per group of cue words (data/nlu/intent_cues.yml)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Text

import numpy as np
import scipy.sparse
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.constants import TOKENS_NAMES
from rasa.nlu.featurizers.sparse_featurizer.sparse_featurizer import SparseFeaturizer
from rasa.nlu.tokenizers.tokenizer import Tokenizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.base import MessageComponent, normalized_text, original_span
from bot.nlu.lexicon import cue_groups, entity_terms
from bot.nlu.matching import TermMatcher


def load_cue_groups(path: Optional[Path] = None, with_entities: bool = True) -> Dict[str, List[str]]:
    """Group name -> terms; the lexicon's entity terms are added to the `domain` group."""
    groups = dict(cue_groups(Path(path) if path else None))
    if with_entities:
        groups.setdefault("domain", [])
        for terms in entity_terms().values():
            groups["domain"] = groups["domain"] + terms
    return groups


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=True)
class CueFeaturizer(SparseFeaturizer, MessageComponent):
    """Marks which cue groups (exosome words, reference words, claim markers, ...) a message has.

    Sentence feature: one column per group, 1 when the group occurs. Sequence feature: the same
    columns per token, 1 on tokens inside a match. Works on `norm_text`, so all scripts match.
    """

    own_files = {"cues_path": "nlu/intent_cues.yml"}

    @classmethod
    def required_components(cls) -> List[type]:
        """Needs tokens."""
        return [Tokenizer]

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """Returns the component's default config."""
        return {
            **SparseFeaturizer.get_default_config(),
            # Cue file; None uses data/nlu/intent_cues.yml.
            "cues_path": None,
            # Add the entity terms of data/nlu/lexicon.yml to the `domain` group.
            "with_entities": True,
        }

    def __init__(self, config: Dict[Text, Any], name: Text = "CueFeaturizer") -> None:
        """Compiles the cue groups."""
        super().__init__(name, config)
        path = Path(config["cues_path"]) if config.get("cues_path") else None
        self.groups = sorted(load_cue_groups(path, bool(config["with_entities"])).items())
        self.column = {name: i for i, (name, _) in enumerate(self.groups)}
        self.matcher = TermMatcher(dict(self.groups))

    @classmethod
    def validate_config(cls, config: Dict[Text, Any]) -> None:
        """Nothing to validate beyond the file, checked when loading."""

    def process_message(self, message: Message) -> None:
        """Adds the cue features of the message's text."""
        tokens = message.get(TOKENS_NAMES[TEXT])
        norm = normalized_text(message)
        if not tokens or norm is None:
            return
        sequence = np.zeros((len(tokens), len(self.groups)), dtype=np.float32)
        sentence = np.zeros((1, len(self.groups)), dtype=np.float32)
        for hit in self.matcher.find(norm):
            col = self.column[hit.label]
            sentence[0, col] = 1.0
            start, end = original_span(message, hit.start, hit.end)  # tokens carry the user's offsets
            for i, token in enumerate(tokens):
                if token.start < end and start < token.end:
                    sequence[i, col] = 1.0
        self.add_features_to_message(
            scipy.sparse.coo_matrix(sequence), scipy.sparse.coo_matrix(sentence), TEXT, message
        )
