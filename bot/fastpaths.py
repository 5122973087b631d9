"""Shorter paths through Rasa's and TensorFlow's code for one turn, each giving what the stock code gives.

Measured with py-spy on the Rasa server under one sender (docs/operators.md, "Performance"); `bot.runtime.apply`
installs them with its other adjustments, only for the Rasa and TensorFlow releases they were written for:

- DIET's prediction: Rasa calls its traced TensorFlow function through `tf.function`'s polymorphic
  dispatch, which inspects and casts every input again at each message (about half of DIET's call).
  The function has a fixed input signature, so it has exactly one concrete function; the inputs are
  checked against that signature here and the concrete function is called with them. Anything that does
  not match exactly (another dtype, rank or width; eager mode; the first call) takes Rasa's own path.
- Copies for debug logs: `rasa.core.processor` and the rule policy deep-copy events, slots and dialogue
  states at every action to pass them to `structlogger.debug`, also when debug logging is off, which then
  drops them. There those two modules' `copy.deepcopy` returns its argument itself unless their loggers
  log debug messages (every `copy.deepcopy` in the two modules is such a log argument; a test checks it).
  With a log anonymisation plugin (Rasa Pro), which rewrites log arguments, the copies are kept.
- Combining sparse features: for each message DIET asks for its featurizers' sparse features side by
  side; Rasa deep-copies the first matrix and stacks the next ones on it with `scipy.sparse.hstack`, one
  call each. COO matrices are stacked here in one step, as `hstack` stacks them (the same data, rows,
  columns, dtypes and order); anything else takes Rasa's path.
- Count vectors: the count-vectors featurizers ask scikit-learn for each message's counts twice (each
  token, and the whole message), each time through a CSR matrix that Rasa then sorts and turns into a COO
  matrix. The same counts are made here straight into the COO matrix (same vocabulary and analyzer, same
  entries, order and dtypes); any other vectorizer takes Rasa's path.
- Dialogue states: the rule policy predicts from the conversation's states twice after each message
  (reading the last message as text, then as intent), and both times replays the whole conversation to
  build the same states. The states of a conversation are remembered until it changes (the same tracker
  object, the same number of events, the same last event) and each call gets its own copy, which Rasa
  then edits.
"""

from __future__ import annotations

import copy
import logging
import weakref
from typing import Any, Dict, List, Optional, Tuple

# The TensorFlow release the direct call below was written for and tested against (tests/test_rasa_equivalence.py).
TENSORFLOW_WRITTEN_FOR = "2.12."

# Modules whose every copy.deepcopy builds a debug log argument, with the logger name structlog gives them.
LOG_COPYING_MODULES = ("rasa.core.processor", "rasa.core.policies.rule_policy")

_originals: Dict[str, Any] = {}


class _Signature:
    """A traced predict function's one concrete function and the dtype and shape each input must have."""

    def __init__(self, traced: Any) -> None:
        """Looks up the concrete function of `traced` (a tf.function with an input signature)."""
        import tensorflow as tf

        self.traced = traced
        self.concrete = traced.get_concrete_function()
        specs = tf.nest.flatten(self.concrete.structured_input_signature)
        self.inputs: List[Tuple[Any, Tuple[Optional[int], ...]]] = [
            (spec.dtype.as_numpy_dtype, tuple(spec.shape.as_list())) for spec in specs
        ]

    def arguments(self, batch_in: Any) -> Optional[List[Any]]:
        """The batch as the concrete function's flat tensor arguments, or None when it does not match exactly."""
        import numpy as np
        import tensorflow as tf

        if not isinstance(batch_in, (tuple, list)) or len(batch_in) != len(self.inputs):
            return None
        for array, (dtype, shape) in zip(batch_in, self.inputs):
            if not isinstance(array, np.ndarray) or array.dtype != dtype or array.ndim != len(shape):
                return None
            if any(size is not None and size != actual for size, actual in zip(shape, array.shape)):
                return None
        return [tf.convert_to_tensor(array) for array in batch_in]


_signatures: "weakref.WeakKeyDictionary[Any, _Signature]" = weakref.WeakKeyDictionary()


def _signature(model: Any) -> Optional[_Signature]:
    """The model's traced predict function's signature, once it is traced; None in eager mode or before."""
    traced = getattr(model, "_tf_predict_step", None)
    if traced is None or model._run_eagerly or not model.prepared_for_prediction:
        return None
    found = _signatures.get(model)
    if found is None or found.traced is not traced:
        found = _signatures[model] = _Signature(traced)
    return found


def rasa_predict(self: Any, batch_in: Any) -> Dict[str, Any]:
    """RasaModel._rasa_predict calling the traced function's concrete function directly (same graph, same
    inputs, same outputs); Rasa's own method whenever the batch does not match its signature exactly."""
    from rasa.shared.constants import DIAGNOSTIC_DATA
    from tensorflow.python.keras.utils import tf_utils

    signature = _signature(self)
    arguments = signature.arguments(batch_in) if signature is not None else None
    if signature is None or arguments is None:
        return _originals["rasa_predict"](self, batch_in)
    self._training = False
    concrete = signature.concrete
    outputs = tf_utils.sync_to_numpy_or_python_type(concrete._call_flat(arguments, concrete.captured_inputs))
    if DIAGNOSTIC_DATA in outputs:
        outputs[DIAGNOSTIC_DATA] = self._empty_lists_to_none_in_dict(outputs[DIAGNOSTIC_DATA])
    return outputs


class LogCopies:
    """The `copy` module as a module that deep-copies only for debug logs sees it: `deepcopy` returns its
    argument itself while the module's logger does not log debug messages; everything else is `copy`'s."""

    def __init__(self, logger_name: str) -> None:
        """For the module whose structlog logger has this name."""
        self.logger = logging.getLogger(logger_name)

    def deepcopy(self, value: Any, memo: Optional[Dict[int, Any]] = None) -> Any:
        """copy.deepcopy when debug messages of the module are logged, else `value` itself."""
        if self.logger.isEnabledFor(logging.DEBUG):
            return copy.deepcopy(value, memo)
        return value

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


def tensorflow_version_matches() -> bool:
    """True when the installed TensorFlow is the release the direct call was written for."""
    import tensorflow as tf

    return str(tf.__version__).startswith(TENSORFLOW_WRITTEN_FOR)


def apply() -> Dict[str, bool]:
    """Install both paths (bot.runtime.apply calls this once, only for the Rasa release they were written for)."""
    import importlib

    from rasa.utils.tensorflow.models import RasaModel

    direct = tensorflow_version_matches()
    if direct and "rasa_predict" not in _originals:
        _originals["rasa_predict"] = RasaModel._rasa_predict
        RasaModel._rasa_predict = rasa_predict  # type: ignore[method-assign]
    from rasa.plugin import plugin_manager

    anonymising = plugin_manager().hook.get_anonymization_pipeline() is not None
    for name in LOG_COPYING_MODULES if not anonymising else ():
        module = importlib.import_module(name)
        if isinstance(module.copy, LogCopies):
            continue
        _originals.setdefault(f"copy:{name}", module.copy)
        module.copy = LogCopies(name)  # type: ignore[attr-defined]
    from rasa.core.featurizers.tracker_featurizers import TrackerFeaturizer
    from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import CountVectorsFeaturizer
    from rasa.shared.nlu.training_data.message import Message

    if "combine_features" not in _originals:
        _originals["combine_features"] = Message._combine_features
        Message._combine_features = staticmethod(combine_features)  # type: ignore[method-assign]
    if "count_vectors" not in _originals:
        _originals["count_vectors"] = CountVectorsFeaturizer._create_features
        CountVectorsFeaturizer._create_features = count_vector_features  # type: ignore[method-assign]
    if "create_states" not in _originals:
        _originals["create_states"] = TrackerFeaturizer._create_states
        TrackerFeaturizer._create_states = staticmethod(StatesMemo().create_states)  # type: ignore[method-assign,assignment]
    return {"direct_tensorflow_calls": direct, "debug_only_log_copies": not anonymising}


def combine_features(features: List[Any], featurizers: List[str]) -> Optional[Any]:
    """Message._combine_features: two or more COO matrices with the same rows stacked side by side in one step
    (what `scipy.sparse.hstack` gives, one call after another); Rasa's own method for anything else."""
    import numpy as np
    import scipy.sparse
    from rasa.shared.nlu.training_data.features import Features
    from scipy.sparse._sputils import get_index_dtype, upcast

    matrices = [feature.features for feature in features]
    if len(matrices) < 2 or any(type(matrix) is not scipy.sparse.coo_matrix for matrix in matrices):
        return _originals["combine_features"](features, featurizers)
    rows = matrices[0].shape[0]
    if any(matrix.shape[0] != rows for matrix in matrices):
        return _originals["combine_features"](features, featurizers)  # Rasa's error
    offsets = np.cumsum([0] + [matrix.shape[1] for matrix in matrices])
    shape = (rows, int(offsets[-1]))
    index_dtype = get_index_dtype(maxval=max(shape))
    data = np.concatenate([matrix.data for matrix in matrices]).astype(upcast(*(m.dtype for m in matrices)), copy=False)
    row = np.concatenate([matrix.row for matrix in matrices]).astype(index_dtype, copy=False)
    col = np.concatenate([matrix.col + offset for matrix, offset in zip(matrices, offsets)]).astype(
        index_dtype, copy=False
    )
    first = features[0]
    return Features(scipy.sparse.coo_matrix((data, (row, col)), shape=shape), first.type, first.attribute, featurizers)


def count_vector_features(self: Any, attribute: str, all_tokens: List[List[str]]) -> Tuple[List[Any], List[Any]]:
    """CountVectorsFeaturizer._create_features with the counts made straight into COO matrices (what
    `transform`, `sort_indices` and `tocoo` give); Rasa's method for any vectorizer but a fitted CountVectorizer."""
    from rasa.nlu.constants import DENSE_FEATURIZABLE_ATTRIBUTES
    from sklearn.feature_extraction.text import CountVectorizer

    vectorizer = self.vectorizers.get(attribute)
    if type(vectorizer) is not CountVectorizer or not getattr(vectorizer, "vocabulary_", None):
        return _originals["count_vectors"](self, attribute, all_tokens)
    sequence: List[Any] = []
    sentence: List[Any] = []
    for tokens in all_tokens:
        if not tokens:
            sequence.append(None)
            sentence.append(None)
            continue
        sequence.append(_counts(vectorizer, tokens))
        sentence.append(_counts(vectorizer, [" ".join(tokens)]) if attribute in DENSE_FEATURIZABLE_ATTRIBUTES else None)
    return sequence, sentence


_analyzers: "weakref.WeakKeyDictionary[Any, Any]" = weakref.WeakKeyDictionary()


def _counts(vectorizer: Any, documents: List[str]) -> Any:
    """The documents' counts over the vectorizer's vocabulary as a COO matrix, one row per document, columns
    in ascending order within a row (scikit-learn's CountVectorizer.transform, sorted, as COO)."""
    import numpy as np
    import scipy.sparse

    analyze = _analyzers.get(vectorizer)
    if analyze is None:
        analyze = _analyzers[vectorizer] = vectorizer.build_analyzer()
    vocabulary = vectorizer.vocabulary_
    rows: List[int] = []
    columns: List[int] = []
    values: List[int] = []
    for row, document in enumerate(documents):
        counter: Dict[int, int] = {}
        for feature in analyze(document):
            index = vocabulary.get(feature)
            if index is not None:
                counter[index] = counter.get(index, 0) + 1
        for index in sorted(counter):
            rows.append(row)
            columns.append(index)
            values.append(counter[index])
    data = np.asarray(values, dtype=np.intc).astype(vectorizer.dtype)
    if vectorizer.binary:
        data.fill(1)
    shape = (len(documents), len(vocabulary))
    return scipy.sparse.coo_matrix(
        (data, (np.asarray(rows, dtype=np.int32), np.asarray(columns, dtype=np.int32))),
        shape=shape,
        dtype=vectorizer.dtype,
    )


class StatesMemo:
    """TrackerFeaturizer._create_states remembering the states of the last conversation it was asked about,
    until that conversation changes; every call gets its own copy (Rasa edits the states it is given)."""

    def __init__(self) -> None:
        """An empty memo."""
        self.objects: Tuple[Any, ...] = ()
        self.values: Any = None
        self.states: List[Dict[str, Dict[str, Any]]] = []

    def create_states(
        self,
        tracker: Any,
        domain: Any,
        omit_unset_slots: bool = False,
        ignore_rule_only_turns: bool = False,
        rule_only_data: Optional[Dict[str, Any]] = None,
    ) -> List[Dict[str, Dict[str, Any]]]:
        """The tracker's past states, as `tracker.past_states` gives them."""
        events = tracker.events
        # Held, not only compared by id: a remembered object cannot be freed and its id reused.
        objects = (tracker, events[-1] if events else None, domain)
        values = (len(events), omit_unset_slots, ignore_rule_only_turns, _frozen(rule_only_data))
        if (
            values != self.values
            or len(objects) != len(self.objects)
            or any(a is not b for a, b in zip(objects, self.objects))
        ):
            states = _originals["create_states"](
                tracker, domain, omit_unset_slots, ignore_rule_only_turns, rule_only_data
            )
            self.objects, self.values, self.states = objects, values, _copy_states(states)
            return states
        return _copy_states(self.states)


def _frozen(value: Any) -> Any:
    """`value` (dicts, lists and scalars) as a comparable value that later changes to `value` do not change."""
    if isinstance(value, dict):
        return tuple(sorted((key, _frozen(item)) for key, item in value.items()))
    if isinstance(value, (list, tuple, set)):
        return (type(value).__name__,) + tuple(_frozen(item) for item in value)
    return value


def _copy_states(states: List[Dict[str, Dict[str, Any]]]) -> List[Dict[str, Dict[str, Any]]]:
    """A copy of dialogue states down to their sub-states' keys (their values are strings and tuples)."""
    return [{name: dict(sub_state) for name, sub_state in state.items()} for state in states]
