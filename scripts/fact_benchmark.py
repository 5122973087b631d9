"""Compare ways of choosing the fact a message asks about, on the development set (tests/dev/).

Usage: .venv/bin/python scripts/fact_benchmark.py [--out results/fact-benchmark.json]

Every variant sees the same messages, normalised, tokenized and featurized by our pipeline's components
(trained on data/nlu as `rasa train` would); it is scored on the development set's single-turn questions
(is its first choice one of the acceptable facts?) and on its out-of-scope and small-talk messages (is
its first choice "no fact"?). The keyword rules alone are today's selection before issue 10. Prints a
table; the figures go into the README ("Fact selection").
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

VARIANTS = {
    "keywords only (before)": None,
    "SVM, pipeline features": {"features": "pipeline", "model": "svm", "keyword_features": 0.0},
    "SVM, pipeline features + keyword rules (chosen)": {
        "features": "pipeline",
        "model": "svm",
        "keyword_features": 0.3,
    },
    "SVM, own character n-grams + keyword rules": {"features": "char_ngrams", "model": "svm", "keyword_features": 0.3},
    "logistic regression, pipeline features + keyword rules": {
        "features": "pipeline",
        "model": "logistic",
        "C": 10.0,
        "max_iter": 300,
        "keyword_features": 0.3,
    },
}


def acceptable(turn) -> set:
    """The facts a turn accepts as its answer (a claim also accepts the claim's own fact)."""
    extra = {"claims.systemic_injection"} if turn.expect == "claim" else set()
    return set(turn.facts) | set(turn.second) | extra


def main() -> None:
    """Featurize once, fit each variant, print and save the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "fact-benchmark.json")
    args = parser.parse_args()

    import yaml
    from rasa.engine.graph import ExecutionContext, GraphSchema
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource
    from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import CountVectorsFeaturizer
    from rasa.shared.nlu.training_data.loading import load_data
    from rasa.shared.nlu.training_data.message import Message
    from rasa.shared.nlu.training_data.training_data import TrainingData

    from bot.kb import default_knowledge_base
    from bot.kb.retrieval import FactRetriever
    from bot.nlu.base import normalized_text
    from bot.nlu.cues import CueFeaturizer
    from bot.nlu.facts import NONE_LABEL, FactClassifier
    from bot.nlu.normalizer import ScriptNormalizer
    from bot.nlu.tokenizer import BilingualTokenizer
    from bot.tools.evaluate import load_turns

    config = yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))
    vectorizers = [c for c in config["pipeline"] if c["name"] == "CountVectorsFeaturizer"]
    storage = LocalModelStorage(Path(tempfile.mkdtemp()))
    context = ExecutionContext(GraphSchema({}), "benchmark")
    components = [
        ScriptNormalizer(ScriptNormalizer.get_default_config()),
        BilingualTokenizer(BilingualTokenizer.get_default_config()),
        CueFeaturizer(CueFeaturizer.get_default_config()),
    ]
    featurizers = [
        CountVectorsFeaturizer.create(
            {**CountVectorsFeaturizer.get_default_config(), **{k: v for k, v in c.items() if k != "name"}},
            storage,
            Resource(f"cv{i}"),
            context,
        )
        for i, c in enumerate(vectorizers)
    ]
    files = [p for p in (ROOT / "data" / "nlu").glob("*.yml") if "nlu:" in p.read_text(encoding="utf-8")]
    training = TrainingData().merge(*[load_data(str(p)) for p in sorted(files)])
    for component in components:
        component.process_training_data(training)
    for featurizer in featurizers:
        featurizer.train(training)
        featurizer.process_training_data(training)

    kb = default_knowledge_base()
    turns = [t for conv in load_turns(sorted((ROOT / "tests" / "dev").glob("*.yml")), kb) for t in conv if t.index == 0]
    messages = [Message(data={"text": t.text}) for t in turns]
    dev = TrainingData(messages)
    for component in components:
        component.process_training_data(dev)
    for featurizer in featurizers:
        featurizer.process_training_data(dev)

    rows = []
    for name, settings in VARIANTS.items():
        started = time.perf_counter()
        if settings is None:
            retriever = FactRetriever(kb)
            tops = []
            for message in messages:
                best = retriever.best(normalized_text(message) or "")
                tops.append(best.fact.id if best and best.score >= retriever.specific_score else NONE_LABEL)
            seconds = 0.0
        else:
            classifier = FactClassifier.create(
                {**FactClassifier.get_default_config(), **settings}, storage, Resource(name), context
            )
            classifier.train(training)
            seconds = time.perf_counter() - started
            tops = [ranking[0]["fact"] for ranking in classifier.rank(messages)]
        facts = [(t, top) for t, top in zip(turns, tops) if t.expect in ("answer", "claim")]
        nones = [(t, top) for t, top in zip(turns, tops) if t.expect in ("out_of_scope", "greeting")]
        right = sum(top in acceptable(t) for t, top in facts)
        rows.append(
            {
                "variant": name,
                "train_s": round(seconds, 1),
                "fact_accuracy": round(right / len(facts), 3),
                "facts": len(facts),
                "no_fact_recall": round(sum(top == NONE_LABEL for _, top in nones) / len(nones), 3),
                "no_fact": len(nones),
            }
        )
        print(
            f"{name:58s} train {rows[-1]['train_s']:5.1f}s  fact {rows[-1]['fact_accuracy']:.3f} ({len(facts)})  "
            f"no fact {rows[-1]['no_fact_recall']:.3f} ({len(nones)})",
            flush=True,
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
