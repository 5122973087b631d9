"""Shared base of our stateless NLU components: built from config, applied message by message."""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Text, Tuple

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot import guard
from bot.lang import normalize
from bot.nlu.constants import NORM_SPANS, NORM_TEXT
from bot.nlu.rewrite import map_span


def normalized_text(message: Message) -> Optional[str]:
    """The message's normalised text (from ScriptNormalizer, or computed), or None without text."""
    text = message.get(TEXT)
    if text is None:
        return None
    return message.get(NORM_TEXT) or normalize(guard.blank_markup(text))


def original_span(message: Message, start: int, end: int) -> Tuple[int, int]:
    """The span of the user's text behind `norm_text[start:end]` (the same span when not rewritten)."""
    return map_span(message.get(NORM_SPANS), start, end)


class MessageComponent(GraphComponent, abc.ABC):
    """A component with nothing to train: `process_message` runs on each training and incoming message."""

    if TYPE_CHECKING:

        def __init__(self, config: Dict[Text, Any]) -> None:
            """Each subclass is built from its config alone (see `create`)."""

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "MessageComponent":
        """Creates the component from its config (see GraphComponent)."""
        return cls(config)

    @abc.abstractmethod
    def process_message(self, message: Message) -> None:
        """Adds this component's output to one message."""

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Applies the component to every training example (featurizers and normalisers)."""
        for example in training_data.training_examples:
            self.process_message(example)
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        """Applies the component to incoming messages."""
        for message in messages:
            self.process_message(message)
        return messages
