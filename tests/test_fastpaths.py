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
