"""The further claim flags (issue 18, point 4; contract flag codes): a claim set per code with near misses,
written by a writer who never saw the rules or the training data, scored on the NLU's rule components; and
the reply through the running bot."""

from __future__ import annotations

import uuid
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List

import pytest
import yaml

from bot.contract import FLAG_APPROVAL, FLAG_DISEASE_CURE, FLAG_OVERSTATED_PROOF
from bot.paths import DATA
from bot.texts import default_texts
from tests.conftest import split_reply
from tests.nlu_helpers import parse

CLAIMS = Path(__file__).resolve().parent / "claims" / "new_codes.yml"  # the rules were tuned on this set
DEV2 = Path(__file__).resolve().parent / "claims" / "dev2_codes.yml"  # a second writer's set, tuned on since
DEV3 = Path(__file__).resolve().parent / "claims" / "dev3_codes.yml"  # a third writer's set, tuned on since
HELD_OUT = Path(__file__).resolve().parent / "claims" / "heldout_codes.yml"  # written after; never tuned on
# Held-out floors: the latest measurement (recall 23/30, 25/30, 27/30; 8 false flags in 90 near misses;
# the first was 15/30, 24/30, 27/30 and 7) less a margin; the target (recall 1.0, no false flags)
# is printed, not yet met.
HELD_OUT_FLOORS = {FLAG_DISEASE_CURE: 0.73, FLAG_OVERSTATED_PROOF: 0.80, FLAG_APPROVAL: 0.85}
HELD_OUT_MAX_FALSE = 9
CODES = (FLAG_DISEASE_CURE, FLAG_OVERSTATED_PROOF, FLAG_APPROVAL)


@pytest.fixture(scope="module")
def items() -> List[Dict[str, Any]]:
    return yaml.safe_load(CLAIMS.read_text(encoding="utf-8"))["items"]


def test_the_claim_set_has_the_size_and_mix_asked_for(items: List[Dict[str, Any]]) -> None:
    """At least 40 claims and 40 near misses per code, in all three scripts; none of them trained on."""
    claims = Counter(i["code"] for i in items if i["code"])
    assert all(claims[code] >= 40 for code in CODES), claims
    assert sum(1 for i in items if not i["code"]) >= 120
    assert {i["lang"] for i in items} == {"zh-Hans", "zh-Hant", "en"}
    training = "\n".join(p.read_text(encoding="utf-8") for p in (DATA / "nlu").glob("*.yml"))
    assert not [i["text"] for i in items if i["text"] in training], "a test claim is in the training data"


def score(items: List[Dict[str, Any]]) -> tuple[Dict[str, float], list, list]:
    """Recall per code, the claims missed and the false flags (a near miss flagged, or a wrong code)."""
    missed, false = [], []
    for item in items:
        codes = {f["code"] for f in parse(item["text"], None).get("flags") or []} - {
            "unsupported_systemic_injection_claim"
        }
        if item["code"] and item["code"] not in codes:
            missed.append((item["code"], item["text"]))
        if not item["code"] and codes:
            false.append((sorted(codes), item["text"]))
        if item["code"] and codes - {item["code"]}:
            false.append((sorted(codes - {item["code"]}), item["text"]))
    total = Counter(i["code"] for i in items if i["code"])
    recall = {code: (total[code] - sum(1 for c, _ in missed if c == code)) / total[code] for code in CODES}
    for code in CODES:
        print(f"\n{code}: recall {recall[code]:.3f} of {total[code]}")
    print(f"false flags: {len(false)} of {len(items) - sum(total.values())} near misses")
    return recall, missed, false


def test_every_claim_of_the_tuning_set_is_flagged_and_no_near_miss_is(items: List[Dict[str, Any]]) -> None:
    """The set the rules were written against: recall 100 % per code and no false flags."""
    _, missed, false = score(items)
    assert not missed, f"{len(missed)} claims missed, e.g. {missed[:8]}"
    assert not false, f"{len(false)} false flags, e.g. {false[:8]}"


def test_every_claim_of_the_second_development_set_is_flagged_and_no_near_miss_is(
    items: List[Dict[str, Any]],
) -> None:
    """A second writer's 240 messages (40 claims and 40 near misses per code; first contact: recall 0.45 /
    0.775 / 0.825, 3 false flags), tuned on since: recall 100 % per code and no false flags."""
    dev2 = yaml.safe_load(DEV2.read_text(encoding="utf-8"))["items"]
    training = "\n".join(p.read_text(encoding="utf-8") for p in (DATA / "nlu").glob("*.yml"))
    assert len(dev2) == 240 and not [i["text"] for i in dev2 if i["text"] in training]
    assert not {i["text"] for i in dev2} & {i["text"] for i in items}
    _, missed, false = score(dev2)
    assert not missed, f"{len(missed)} claims missed, e.g. {missed[:8]}"
    assert not false, f"{len(false)} false flags, e.g. {false[:8]}"


def test_the_third_development_set_keeps_its_score(items: List[Dict[str, Any]]) -> None:
    """A third writer's 180 messages (WeChat forwards, a Taipei nurse, Cantonese WhatsApp, forum posts, mixed
    Malaysian English; first contact: recall 0.43 / 0.70 / 0.60, 10 false flags), tuned on since. Left:
    two claims that never name exosomes (the conversation does) and a mouse study 'far from people'."""
    dev3 = yaml.safe_load(DEV3.read_text(encoding="utf-8"))["items"]
    training = "\n".join(p.read_text(encoding="utf-8") for p in (DATA / "nlu").glob("*.yml"))
    assert len(dev3) == 180 and not [i["text"] for i in dev3 if i["text"] in training]
    recall, missed, false = score(dev3)
    assert min(recall.values()) >= 0.93 and len(missed) <= 2, missed
    assert len(false) <= 1, false


def test_held_out_claims(items: List[Dict[str, Any]]) -> None:
    """A second set by another writer, never tuned on: floors from its first measurement; targets printed."""
    held_out = yaml.safe_load(HELD_OUT.read_text(encoding="utf-8"))["items"]
    assert not {i["text"] for i in held_out} & {i["text"] for i in items}
    recall, missed, false = score(held_out)
    print(f"targets (issue 18): recall 1.0 per code, no false flags; missed e.g. {missed[:3]}")
    assert all(recall[code] >= floor for code, floor in HELD_OUT_FLOORS.items()), recall
    assert len(false) <= HELD_OUT_MAX_FALSE, false


@pytest.mark.parametrize(
    "message, lang, code, fact",
    [
        ("广告说外泌体能根治帕金森，是真的吗？", "zh-Hans", FLAG_DISEASE_CURE, "animal.parkinsons"),
        ("診所話佢哋嘅外泌體精華「臨床實證、零副作用」，信唔信得過？", "zh-Hant", FLAG_OVERSTATED_PROOF, "skin.limits"),
        ("The spa says their exosome serum is FDA approved. Is that right?", "en", FLAG_APPROVAL, "gaps.regulation"),
    ],
)
def test_a_flagged_claim_is_answered_with_its_warning_and_the_evidence(
    ask: Any, message: str, lang: str, code: str, fact: str
) -> None:
    text, payload = split_reply(ask(f"code-{uuid.uuid4().hex[:8]}", message))
    assert payload["type"] == "claim_check" and payload["lang"] == lang
    assert [f["code"] for f in payload["flags"]] == [code]
    assert text.startswith(default_texts().get(f"flags.{code}", lang))
    assert fact in payload["facts"] and payload["parts"] and payload["citations"] is not None
    for part in payload["parts"]:
        assert default_texts().get("format.evidence_line", lang, label=part["evidence"]["label"]) in text
