"""Compare intent classifiers on the held-out sets: accuracy per script, parse latency, training time.

Usage: .venv/bin/python scripts/nlu_benchmark.py [--variants logreg,diet,...] [--out results/nlu-benchmark.json]
Each variant keeps our normaliser, tokenizer, rule-based extractors and featurizers from config.yml and
swaps the classifier part of the pipeline. Prints a table; the figures go into the README.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
RASA = str(Path(sys.executable).with_name("rasa"))
HELD_OUT = {"zh-Hans": "heldout_zh_hans.yml", "zh-Hant": "heldout_zh_hant.yml", "en": "heldout_en.yml"}
ENV = {
    **os.environ,
    "RASA_TELEMETRY_ENABLED": "false",
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "RASA_MAX_CACHE_SIZE": "0",
    "PYTHONWARNINGS": "ignore",
    "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
}
FALLBACK = {"name": "FallbackClassifier", "threshold": 0.35, "ambiguity_threshold": 0.05}

VARIANTS = {
    "logreg": [{"name": "LogisticRegressionClassifier", "max_iter": 300}],
    "logreg_c3": [{"name": "LogisticRegressionClassifier", "max_iter": 300, "C": 3}],
    "svm": [{"name": "SklearnIntentClassifier"}],
    "diet": [{"name": "DIETClassifier", "epochs": 60, "entity_recognition": False, "constrain_similarities": True}],
    "diet_ff": [
        {
            "name": "DIETClassifier",
            "epochs": 60,
            "entity_recognition": False,
            "constrain_similarities": True,
            "number_of_transformer_layers": 0,
        }
    ],
}


def pipeline_without_classifiers(config: dict) -> list:
    """Our components and featurizers: everything before the first classifier."""
    names = {"LogisticRegressionClassifier", "DIETClassifier", "SklearnIntentClassifier", "FallbackClassifier"}
    return [c for c in config["pipeline"] if c["name"] not in names]


def measure(variant: str, classifiers: list, workdir: Path) -> dict:
    """Train the variant, test it on each held-out set, time 200 parses."""
    config = yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))
    config["pipeline"] = pipeline_without_classifiers(config) + copy.deepcopy(classifiers) + [FALLBACK]
    config_path = workdir / f"config-{variant}.yml"
    config_path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    started = time.perf_counter()
    subprocess.run(
        [
            RASA,
            "train",
            "nlu",
            "--config",
            str(config_path),
            "--nlu",
            str(ROOT / "data" / "nlu"),
            "--out",
            str(workdir),
            "--fixed-model-name",
            variant,
        ],
        cwd=ROOT,
        env=ENV,
        check=True,
        capture_output=True,
    )
    train_seconds = time.perf_counter() - started
    model = workdir / f"{variant}.tar.gz"
    accuracy = {}
    for script, name in HELD_OUT.items():
        out = workdir / f"{variant}-{script}"
        subprocess.run(
            [
                RASA,
                "test",
                "nlu",
                "--model",
                str(model),
                "--nlu",
                str(ROOT / "tests" / "nlu" / name),
                "--out",
                str(out),
            ],
            cwd=ROOT,
            env=ENV,
            check=True,
            capture_output=True,
        )
        accuracy[script] = json.loads((out / "intent_report.json").read_text())["accuracy"]
    return {"variant": variant, "train_s": round(train_seconds, 1), "accuracy": accuracy, **parse_latency(model)}


def parse_latency(model: Path) -> dict:
    """Median and p95 time of one NLU parse in-process, over 200 held-out messages."""
    from rasa.core.agent import Agent

    agent = Agent.load(str(model))
    messages = []
    for name in HELD_OUT.values():
        for item in yaml.safe_load((ROOT / "tests" / "nlu" / name).read_text(encoding="utf-8"))["nlu"]:
            messages += [l.strip()[2:] for l in item["examples"].splitlines() if l.strip()]
    messages = (messages * 2)[:200]

    async def run() -> list:
        times = []
        for text in messages:
            start = time.perf_counter()
            await agent.parse_message(text)
            times.append((time.perf_counter() - start) * 1000)
        return times

    times = asyncio.run(run())
    times.sort()
    return {"parse_ms_p50": round(statistics.median(times), 2), "parse_ms_p95": round(times[int(len(times) * 0.95)], 2)}


def main() -> int:
    """Run the chosen variants and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "nlu-benchmark.json")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for variant in args.variants.split(","):
            row = measure(variant, VARIANTS[variant], Path(tmp))
            rows.append(row)
            print(json.dumps(row), flush=True)
    print(f"\n{'variant':<10} {'train s':>8} {'zh-Hans':>8} {'zh-Hant':>8} {'en':>8} {'p50 ms':>8} {'p95 ms':>8}")
    for r in rows:
        a = r["accuracy"]
        print(
            f"{r['variant']:<10} {r['train_s']:>8} {a['zh-Hans']:>8.3f} {a['zh-Hant']:>8.3f} {a['en']:>8.3f} "
            f"{r['parse_ms_p50']:>8} {r['parse_ms_p95']:>8}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
