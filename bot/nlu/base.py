"""Shared base of our stateless NLU components: built from config, applied message by message."""

from __future__ import annotations

import abc
import functools
import hashlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Dict, List, Optional, Text, Tuple

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
from bot.paths import DATA, ROOT, copy_nlu_data, reading_data_from


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
    differ. The model understands messages with the term lists and facts it was trained with (it carries a
    copy, see `ModelDataComponent`), so edits of data/nlu or data/facts reach the NLU only with `make train`;
    the actions answer from data/facts as it is now."""
    current = nlu_fingerprint()
    if trained_with == current:
        return True
    logger.warning(
        "The NLU model was trained with other term lists, facts or NLU code than data/ and bot/ hold now "
        "(fingerprint %s, now %s): it understands messages with the lists and facts it was trained with. "
        "Retrain (make train) to bring in the edits.",
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


class ModelDataComponent(FingerprintedComponent):
    """A component built from term lists and facts (bot.paths.NLU_DATA) that keeps a copy of them in the model.

    Training (`train`) copies the files into the component's resource in the model storage; loading the
    model (`load`) builds the component from that copy (`bot.paths.reading_data_from`), so a trained model
    understands messages as it did when it was trained, whatever data/ holds when it is loaded, and an
    installed model needs no data folder for its NLU. Rasa's training cache reuses a copy only while the
    files are unchanged (`fingerprint_addon`).
    """

    # Config keys that name a file of the component's own in place of an entry of NLU_DATA (for example
    # {"variants_path": "nlu/variants.yml"}): training copies that file in the entry's place, and loading
    # reads the copy.
    own_files: ClassVar[Dict[str, str]] = {}
    _data_storage: Optional[Tuple[ModelStorage, Resource, Dict[str, Path]]] = None

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "ModelDataComponent":
        """Builds the component from the data folder being read (data/, or a model's copy in `load`)."""
        component = cls(config)  # type: ignore[call-arg]  # every subclass is built from its config alone
        replacements = {entry: _project_path(config[key]) for key, entry in cls.own_files.items() if config.get(key)}
        component._data_storage = (model_storage, resource, replacements)
        return component

    def train(self, training_data: TrainingData) -> Resource:
        """Keeps a copy of the term lists and facts in the model (nothing else is learned)."""
        if self._data_storage is None:
            raise RuntimeError(f"{type(self).__name__}: train() needs a component made by create().")
        model_storage, resource, replacements = self._data_storage
        with model_storage.write_to(resource) as folder:
            copy_nlu_data(folder / "data", replacements)
        return resource

    @classmethod
    def load(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> "ModelDataComponent":
        """Builds the component from the term lists and facts the model carries."""
        config = {**config, **{key: None for key in cls.own_files}}  # the copy replaces the configured files
        try:
            with model_storage.read_from(resource) as folder, reading_data_from(folder / "data"):
                return cls.create(config, model_storage, resource, execution_context)
        except ValueError as error:
            raise ValueError(
                f"{cls.__name__}: the model has no copy of the term lists and facts ({error}). The model file is "
                "incomplete or was made by other code: retrain it (make train)."
            ) from error


def _project_path(value: Any) -> Path:
    """A configured file: absolute, or relative to the project root."""
    path = Path(str(value))
    return path if path.is_absolute() else ROOT / path


def normalized_text(message: Message) -> Optional[str]:
    """The message's normalised text (from ScriptNormalizer, or computed), or None without text."""
    text = message.get(TEXT)
    if text is None:
        return None
    return message.get(NORM_TEXT) or normalize(guard.blank_markup(text))


def original_span(message: Message, start: int, end: int) -> Tuple[int, int]:
    """The span of the user's text behind `norm_text[start:end]` (the same span when not rewritten)."""
    return map_span(message.get(NORM_SPANS), start, end)


class MessageComponent(ModelDataComponent, abc.ABC):
    """A component with nothing to train: `process_message` runs on each training and incoming message."""

    if TYPE_CHECKING:

        def __init__(self, config: Dict[Text, Any]) -> None:
            """Each subclass is built from its config alone (see `create`)."""

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
