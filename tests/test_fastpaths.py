"""bot.fastpaths gives what stock Rasa gives: DIET called through its concrete TensorFlow function returns
the same scores for real messages of the trained model, and the debug-log copies are skipped only where
they are debug-log arguments and only while those logs are off."""

from __future__ import annotations

import ast
import asyncio
import csv
import inspect
import importlib
import logging
from pathlib import Path
from typing import Any, List, Tuple

import numpy as np
import pytest

from bot import fastpaths
from bot.paths import DATA


def same(a: Any, b: Any) -> bool:
    """Equal outputs: arrays element for element (bit for bit), dicts and lists item for item."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return bool(a == b)


def questions() -> List[str]:
    """Real consumer questions in three scripts (the review sample), and some odd ones."""
    with (DATA / "review" / "sample_questions.csv").open(encoding="utf-8") as f:
        texts = [row["question"] for row in csv.DictReader(f)][:40]
    return texts + ["", "🙂🙂", "exsome creme saftey??", "外泌體 IV 係咪 真係 回春", "a " * 300]


def test_diet_called_directly_gives_what_rasas_call_gives(trained_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rasa.core.agent import Agent
    from rasa.utils.tensorflow.models import RasaModel

    stock = fastpaths._originals.get("rasa_predict", RasaModel._rasa_predict)
    seen: List[Tuple[Any, Any, Any]] = []

    def recording(model: Any, batch_in: Any) -> Any:
        out = stock(model, batch_in)
        seen.append((model, batch_in, out))
        return out

    monkeypatch.setattr(RasaModel, "_rasa_predict", recording)
    agent = Agent.load(str(trained_model))
    stock_parses = [asyncio.run(agent.parse_message(text)) for text in questions()]
    assert len(seen) >= len(stock_parses), "DIET predicted every message through _rasa_predict"

    for model, batch_in, expected in seen:
        signature = fastpaths._signature(model)
        assert signature is not None and signature.arguments(batch_in) is not None, "the direct call is used"
        assert same(fastpaths.rasa_predict(model, batch_in), expected)

    # Whole parses with the direct call are those with Rasa's call.
    monkeypatch.setattr(RasaModel, "_rasa_predict", fastpaths.rasa_predict)
    monkeypatch.setitem(fastpaths._originals, "rasa_predict", stock)
    for text, expected in zip(questions(), stock_parses):
        assert asyncio.run(agent.parse_message(text)) == expected, text

    # A batch that does not match the traced signature exactly goes Rasa's way.
    model, batch_in, _ = seen[0]
    signature = fastpaths._signature(model)
    assert signature is not None
    other_dtype = tuple(a.astype(np.float64) if a.dtype == np.float32 else a for a in batch_in)
    assert signature.arguments(other_dtype) is None
    assert signature.arguments(batch_in[:-1]) is None
    assert signature.arguments(tuple(a.tolist() for a in batch_in)) is None


@pytest.mark.parametrize("name", fastpaths.LOG_COPYING_MODULES)
def test_every_deepcopy_skipped_is_a_debug_log_argument(name: str) -> None:
    module = importlib.import_module(name)
    tree = ast.parse(inspect.getsource(module))
    in_debug_calls = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "debug":
            owner = node.func.value
            if isinstance(owner, ast.Name) and owner.id == "structlogger":
                in_debug_calls.update(id(inner) for inner in ast.walk(node))
    copies = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "deepcopy"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "copy"
    ]
    assert copies, f"{name} deep-copies nothing any more: drop it from LOG_COPYING_MODULES"
    outside = [node.lineno for node in copies if id(node) not in in_debug_calls]
    assert not outside, f"{name} deep-copies outside a structlogger.debug call at lines {outside}"


def test_debug_log_copies_are_made_only_while_debug_logs_are_on() -> None:
    copies = fastpaths.LogCopies("rasa.core.processor")
    value = {"events": [{"event": "user", "text": "hi"}]}
    logger = logging.getLogger("rasa.core.processor")
    old = logger.level
    try:
        logger.setLevel(logging.INFO)
        assert copies.deepcopy(value) is value
        logger.setLevel(logging.DEBUG)
        copied = copies.deepcopy(value)
        assert copied == value and copied is not value and copied["events"] is not value["events"]
    finally:
        logger.setLevel(old)
    assert copies.copy is __import__("copy").copy, "the rest of the copy module is the copy module's"


def test_applied_paths_are_installed_once() -> None:
    from rasa.utils.tensorflow.models import RasaModel

    applied = fastpaths.apply()
    assert applied == fastpaths.apply()
    assert applied["direct_tensorflow_calls"] is fastpaths.tensorflow_version_matches()
    if applied["direct_tensorflow_calls"]:
        assert RasaModel._rasa_predict is fastpaths.rasa_predict
    for name in fastpaths.LOG_COPYING_MODULES:
        assert isinstance(importlib.import_module(name).copy, fastpaths.LogCopies)


def stock_combine(features: List[Any], featurizers: List[str]) -> Any:
    return fastpaths._originals.get("combine_features", fastpaths.combine_features)(features, featurizers)


def same_features(a: Any, b: Any) -> bool:
    """The same Features: kind, attribute, origin, and the same COO matrix (shape, dtypes, entries in order)."""
    if a is None or b is None:
        return a is None and b is None
    ma, mb = a.features, b.features
    return (
        (a.type, a.attribute, a.origin) == (b.type, b.attribute, b.origin)
        and type(ma) is type(mb)
        and ma.shape == mb.shape
        and all(same(getattr(ma, name), getattr(mb, name)) for name in ("data", "row", "col"))
    )


def test_sparse_features_stacked_in_one_step_are_rasas(trained_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import scipy.sparse
    from rasa.core.agent import Agent
    from rasa.shared.nlu.training_data.features import Features
    from rasa.shared.nlu.training_data.message import Message

    fastpaths.apply()
    assert Message._combine_features is fastpaths.combine_features, "installed"
    seen: List[Tuple[List[Any], List[str]]] = []

    def recording(features: List[Any], featurizers: List[str]) -> Any:
        seen.append((features, featurizers))
        return fastpaths.combine_features(features, featurizers)

    monkeypatch.setattr(Message, "_combine_features", staticmethod(recording))
    agent = Agent.load(str(trained_model))
    ours = [asyncio.run(agent.parse_message(text)) for text in questions()]
    sparse = [(f, names) for f, names in seen if len(f) > 1 and all(x.is_sparse() for x in f)]
    assert len(sparse) >= 2 * len(ours), "DIET's sparse sequence and sentence features of every message"
    for features, names in seen:
        assert same_features(fastpaths.combine_features(features, names), stock_combine(features, names))

    monkeypatch.setattr(Message, "_combine_features", staticmethod(stock_combine))
    assert [asyncio.run(agent.parse_message(text)) for text in questions()] == ours

    # Other dtypes, empty matrices, three blocks; rows that differ fail as Rasa fails.
    rng = np.random.default_rng(7)
    for dtypes in ((np.float32, np.float32), (np.float32, np.float64), (np.int64, np.float32, np.float32)):
        blocks = [
            Features(
                scipy.sparse.random(3, int(rng.integers(1, 9)), density=0.4, format="coo", dtype=d, random_state=1),
                "sentence",
                "text",
                f"f{i}",
            )
            for i, d in enumerate(dtypes)
        ]
        blocks.append(Features(scipy.sparse.coo_matrix((3, 4), dtype=np.float32), "sentence", "text", "empty"))
        assert same_features(fastpaths.combine_features(blocks, ["a"]), stock_combine(blocks, ["a"]))
    mismatched = [Features(scipy.sparse.coo_matrix(np.ones((n, 2))), "sequence", "text", "x") for n in (2, 3)]
    with pytest.raises(ValueError, match="sequence dimensions do not match"):
        fastpaths.combine_features(mismatched, ["x"])


def test_remembered_dialogue_states_are_the_conversations_states(
    trained_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rasa.core.agent import Agent
    from rasa.core.featurizers.tracker_featurizers import TrackerFeaturizer
    from rasa.shared.core.constants import RULE_ONLY_SLOTS
    from rasa.shared.core.events import ActionExecuted, SessionStarted, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    fastpaths.apply()
    stock = fastpaths._originals["create_states"]
    agent = Agent.load(str(trained_model))
    assert agent.processor is not None
    processor = agent.processor

    def conversation(sender: str) -> List[Any]:
        """Predictions of the rule policy for each step of a real conversation, and its trackers."""
        tracker = DialogueStateTracker(sender, agent.domain.slots)
        for event in (ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen")):
            tracker.update(event)
        predictions = []
        for text in questions()[:12]:
            parse = asyncio.run(agent.parse_message(text))
            tracker.update(UserUttered(text, parse["intent"], parse["entities"], parse))
            for _ in range(2):
                prediction = processor._predict_next_with_tracker(tracker)
                name = agent.domain.action_names_or_texts[prediction.max_confidence_index]
                predictions.append((name, prediction.policy_name, prediction.max_confidence))
                tracker.update(ActionExecuted(name))
                if name == "action_listen":
                    break
        return predictions

    memo = fastpaths.StatesMemo()
    monkeypatch.setattr(TrackerFeaturizer, "_create_states", staticmethod(memo.create_states))
    ours = conversation("a")
    assert memo.states, "the rule policy's states went through the memo"
    monkeypatch.setattr(TrackerFeaturizer, "_create_states", staticmethod(stock))
    assert conversation("b") == ours

    # Each call gets its own copy; a new event, another tracker or other rule-only data are read again.
    tracker = DialogueStateTracker.from_events(
        "c", [ActionExecuted("action_listen"), UserUttered("hi", {"name": "greet"})], agent.domain.slots
    )
    first = memo.create_states(tracker, agent.domain, rule_only_data={RULE_ONLY_SLOTS: []})
    first[-1]["user"].clear()
    assert memo.create_states(tracker, agent.domain, rule_only_data={RULE_ONLY_SLOTS: []}) == stock(
        tracker, agent.domain, rule_only_data={RULE_ONLY_SLOTS: []}
    )
    tracker.update(ActionExecuted("action_greet"))
    assert memo.create_states(tracker, agent.domain) == stock(tracker, agent.domain)
    twin = DialogueStateTracker.from_events(
        "d", list(tracker.events)[:-1] + [ActionExecuted("action_help")], agent.domain.slots
    )
    assert memo.create_states(twin, agent.domain) == stock(twin, agent.domain) != stock(tracker, agent.domain)
    assert memo.create_states(twin, agent.domain, rule_only_data={RULE_ONLY_SLOTS: ["lang"]}) == stock(
        twin, agent.domain, rule_only_data={RULE_ONLY_SLOTS: ["lang"]}
    )


def test_count_vectors_made_straight_into_coo_are_rasas(trained_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rasa.core.agent import Agent
    from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import CountVectorsFeaturizer

    fastpaths.apply()
    assert CountVectorsFeaturizer._create_features is fastpaths.count_vector_features, "installed"
    stock = fastpaths._originals["count_vectors"]
    seen: List[Tuple[Any, str, Any]] = []

    def recording(self: Any, attribute: str, all_tokens: Any) -> Any:
        seen.append((self, attribute, all_tokens))
        return fastpaths.count_vector_features(self, attribute, all_tokens)

    monkeypatch.setattr(CountVectorsFeaturizer, "_create_features", recording)
    agent = Agent.load(str(trained_model))
    ours = [asyncio.run(agent.parse_message(text)) for text in questions()]
    text = {id(featurizer): featurizer for featurizer, attribute, _ in seen if attribute == "text"}
    assert len(text) == 2, "both count-vectors featurizers (words, chars) featurized the messages"
    odd = [["", "🙂", "exsome"], ["外泌体"] * 40, []]
    for featurizer, attribute, all_tokens in seen + [(f, "text", odd) for f in text.values()]:
        fast, rasa = count_vector_matrices(fastpaths.count_vector_features, featurizer, attribute, all_tokens, stock)
        assert len(fast) == len(rasa)
        for a, b in zip(fast, rasa):
            assert (a is None and b is None) or (
                type(a) is type(b)
                and a.shape == b.shape
                and all(same(getattr(a, name), getattr(b, name)) for name in ("data", "row", "col"))
            )

    monkeypatch.setattr(CountVectorsFeaturizer, "_create_features", stock)
    assert [asyncio.run(agent.parse_message(text)) for text in questions()] == ours


def count_vector_matrices(
    fast: Any, featurizer: Any, attribute: str, all_tokens: Any, stock: Any
) -> Tuple[List[Any], List[Any]]:
    """Sequence and sentence matrices of both paths, side by side."""
    ours = fast(featurizer, attribute, all_tokens)
    rasas = stock(featurizer, attribute, all_tokens)
    return [*ours[0], *ours[1]], [*rasas[0], *rasas[1]]
