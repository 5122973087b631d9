"""Intent classifier: Rasa's DIET, trained on the intent examples plus a sample of the fact paraphrases.

The fact paraphrases (data/nlu/facts_*.yml) are many; the fact classifier needs all of them, but the
intent classifier only needs enough to learn that they are knowledge questions or claims. Sampling keeps
its training time within budget while the paraphrases keep growing.
"""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any, Dict, List, Text

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.nlu.classifiers.diet_classifier import DIETClassifier
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.base import FingerprintedComponent
from bot.nlu.facts import example_fact


def sample_fact_examples(training_data: TrainingData, per_fact: int, seed: int) -> TrainingData:
    """The training data with at most `per_fact` examples of each fact's paraphrases (same seed, same sample)."""
    if per_fact < 0:
        return training_data
    by_fact: Dict[str, List[Message]] = defaultdict(list)
    kept: List[Message] = []
    for message in training_data.training_examples:
        fact = example_fact(message)
        if fact:
            by_fact[fact].append(message)
        else:
            kept.append(message)
    generator = random.Random(seed)
    for fact in sorted(by_fact):
        examples = by_fact[fact]
        kept += examples if len(examples) <= per_fact else generator.sample(examples, per_fact)
    return TrainingData(
        kept,
        training_data.entity_synonyms,
        training_data.regex_features,
        training_data.lookup_tables,
        training_data.responses,
    )


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class SampledDIETClassifier(FingerprintedComponent, DIETClassifier):
    """DIETClassifier that learns from every intent example but only a sample of each fact's paraphrases."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """DIET's default config plus `fact_examples`."""
        return {
            **DIETClassifier.get_default_config(),
            # Paraphrases per fact (all scripts together) that the intent classifier trains on; the
            # fact classifier always uses all of them. -1 trains on every paraphrase.
            "fact_examples": 15,
        }

    def train(self, training_data: TrainingData) -> Resource:
        """Train DIET on the sampled data."""
        sampled = sample_fact_examples(
            training_data,
            int(self.component_config["fact_examples"]),
            int(self.component_config.get("random_seed") or 0),
        )
        return super().train(sampled)
