"""`rasa test nlu` on the held-out sets: intent accuracy per script, and the claim set on the live model."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from bot.paths import ROOT
from tests.conftest import RASA, TEST_ENV, TESTS

HELD_OUT = {"zh-Hans": "heldout_zh_hans.yml", "zh-Hant": "heldout_zh_hant.yml", "en": "heldout_en.yml"}
MIN_ACCURACY = 0.95
CLAIMS = yaml.safe_load((TESTS / "nlu" / "claims.yml").read_text(encoding="utf-8"))["claims"]


@pytest.fixture(scope="module")
def nlu_results(trained_model: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Run `rasa test nlu` once per script; returns the intent reports and errors."""
    results = {}
    for script, name in HELD_OUT.items():
        out = tmp_path_factory.mktemp(f"nlu-{script}")
        run = subprocess.run(
            [RASA, "test", "nlu", "--model", str(trained_model), "--nlu", str(TESTS / "nlu" / name), "--out", str(out)],
            cwd=ROOT,
            env=TEST_ENV,
            capture_output=True,
            text=True,
        )
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
        results[script] = {
            "report": json.loads((out / "intent_report.json").read_text()),
            "errors": json.loads((out / "intent_errors.json").read_text())
            if (out / "intent_errors.json").exists()
            else [],
        }
    return results


def test_held_out_sets_are_big_enough():
    for name in HELD_OUT.values():
        data = yaml.safe_load((TESTS / "nlu" / name).read_text(encoding="utf-8"))
        count = sum(len([l for l in i["examples"].splitlines() if l.strip()]) for i in data["nlu"])
        assert count >= 40, name


def test_held_out_is_not_copied_from_training():
    training = set()
    for path in (ROOT / "data" / "nlu").glob("*.yml"):
        for item in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("nlu") or []:
            training |= {l.strip()[2:].strip().lower() for l in item.get("examples", "").splitlines() if l.strip()}
    for name in HELD_OUT.values():
        for item in yaml.safe_load((TESTS / "nlu" / name).read_text(encoding="utf-8"))["nlu"]:
            for line in item["examples"].splitlines():
                assert line.strip()[2:].strip().lower() not in training, line


@pytest.mark.parametrize("script", HELD_OUT)
def test_intent_accuracy_per_script(nlu_results, script):
    result = nlu_results[script]
    accuracy = result["report"]["accuracy"]
    errors = [f"{e['text']!r}: {e['intent']} -> {e['intent_prediction']['name']}" for e in result["errors"]]
    print(f"{script}: intent accuracy {accuracy:.3f}")
    assert accuracy >= MIN_ACCURACY, f"{script} accuracy {accuracy:.3f} < {MIN_ACCURACY}; errors:\n" + "\n".join(errors)


def test_claim_set_size():
    assert len(CLAIMS) >= 60
    for script in HELD_OUT:
        assert {c["flag"] for c in CLAIMS if c["lang"] == script} == {True, False}


def test_claim_detector_on_the_live_model(servers):
    """Every claim flagged and no near miss flagged, through the trained pipeline (`/model/parse`)."""
    import urllib.request

    token = servers.env["RASA_API_TOKEN"]
    wrong = []
    for item in CLAIMS:
        request = urllib.request.Request(
            f"{servers.settings.rasa_url}/model/parse?token={token}",
            data=json.dumps({"text": item["text"]}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            parsed = json.loads(response.read())
        # Other codes may accompany it (an ad that also says "clinically proven": overstated_proof_claim).
        flagged = "unsupported_systemic_injection_claim" in [f["code"] for f in parsed.get("flags", [])]
        if flagged != item["flag"]:
            wrong.append(("missed" if item["flag"] else "false flag", item["lang"], item["text"]))
    assert not wrong, "\n".join(map(str, wrong))
