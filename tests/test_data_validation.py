"""Rasa's own validation of domain, NLU data and rules, with warnings treated as errors."""

from __future__ import annotations

import subprocess

from bot.paths import ROOT
from tests.conftest import RASA, TEST_ENV


def test_rasa_data_validate_fail_on_warnings():
    result = subprocess.run(
        [RASA, "data", "validate", "--fail-on-warnings"], cwd=ROOT, env=TEST_ENV, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_every_fact_has_consumer_paraphrases_in_each_script():
    """Issue 10: at least 8 paraphrases per script for every fact, each block naming a real fact."""
    from collections import Counter

    from rasa.shared.nlu.training_data.loading import load_data

    from bot.kb import default_knowledge_base
    from bot.nlu.facts import example_fact

    kb = default_knowledge_base()
    for script in ("zh_hans", "zh_hant", "en"):
        path = ROOT / "data" / "nlu" / f"facts_{script}.yml"
        counts = Counter(example_fact(m) for m in load_data(str(path)).training_examples)
        unknown = set(counts) - set(kb.facts) - {None}
        assert not unknown, f"{path}: blocks name facts that do not exist: {sorted(unknown)}"
        thin = {f: counts[f] for f in kb.facts if counts[f] < 8}
        assert not thin, f"{path}: facts with fewer than 8 paraphrases: {thin}"
