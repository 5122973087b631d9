"""Shared base of our stateless NLU components: built from config, applied message by message."""

from __future__ import annotations

import abc
import functools
import hashlib
import logging
from pathlib import Path
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
from bot.paths import DATA


logger = logging.getLogger(__name__)

# What our NLU components read besides their config and the training data: term lists, the facts (for
# keywords and references), the script tables, and the code that interprets them.
_FINGERPRINTED_DATA = ("nlu", "facts", "lang")
_FINGERPRINTED_CODE = ("nlu", "kb")
_FINGERPRINTED_MODULES = ("lang.py", "guard.py", "paths.py")


@functools.lru_cache(maxsize=1)
def nlu_fingerprint() -> str:
    """A hash of every data file and source file our NLU components read, for Rasa's training cache.

    Rasa fingerprints a component by its class, its config and its inputs; our components also read term
    lists and facts from data/ and their behaviour lives in bot/, so both go into the fingerprint
    (`fingerprint_addon`) and an edit of either retrains instead of reusing a cached result.
    """
    package = Path(__file__).resolve().parent.parent
    files = [p for folder in _FINGERPRINTED_DATA for p in sorted((DATA / folder).rglob("*")) if p.is_file()]
    files += [p for folder in _FINGERPRINTED_CODE for p in sorted((package / folder).glob("*.py"))]
    files += [package / name for name in _FINGERPRINTED_MODULES]
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def check_trained_with(trained_with: str) -> bool:
    """Compare the fingerprint a model was trained with to today's data and code; warn once when they
    differ. The rule components (normaliser, tokenizer dictionary, entities, claims, cues) read their term
    lists from data/ when the model is loaded, so that a fixed rule applies at the next start; the
    learned classifiers were trained on what those lists produced then, and may read the new text less
    well until `make train`."""
    current = nlu_fingerprint()
    if trained_with == current:
        return True
    logger.warning(
        "The NLU model was trained with other term lists, facts or NLU code than data/ and bot/ hold now "
        "(fingerprint %s, now %s): the rules apply as they are now, the classifiers as trained. Retrain "
        "(make train) to bring them together.",
        (trained_with or "none")[:12],
        current[:12],
    )
    return False


class FingerprintedComponent(GraphComponent):
    """A component whose cached training results are reused only while its data and code are unchanged."""

    @classmethod
    def fingerprint_addon(cls, config: Dict[str, Any]) -> Optional[str]:
        """The hash of the data files and code our NLU reads (see `nlu_fingerprint`)."""
        return nlu_fingerprint()


def normalized_text(message: Message) -> Optional[str]:
    """The message's normalised text (from ScriptNormalizer, or computed), or None without text."""
    text = message.get(TEXT)
    if text is None:
        return None
    return message.get(NORM_TEXT) or normalize(guard.blank_markup(text))


def original_span(message: Message, start: int, end: int) -> Tuple[int, int]:
    """The span of the user's text behind `norm_text[start:end]` (the same span when not rewritten)."""
    return map_span(message.get(NORM_SPANS), start, end)


class MessageComponent(FingerprintedComponent, abc.ABC):
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
