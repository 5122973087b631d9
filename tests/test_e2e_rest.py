"""End to end over REST: the real Rasa server and action server, every reply checked against the contract."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any, Dict

import jsonschema
import pytest

from bot.contract import NON_ANSWER_TYPES
from bot.texts import default_texts
from tests.conftest import TESTS, split_reply
from tests.contract_checks import assert_parts_rendered

SCHEMA = json.loads((TESTS / "contract.schema.json").read_text(encoding="utf-8"))

QUESTIONS = [
    # (message, expected lang, expected first fact or None for "any answer")
    ("外泌体到底是什么东西？", "zh-Hans", "basics.definition"),
    ("外泌体对帕金森病有用吗？", "zh-Hans", "animal.parkinsons"),
    ("外泌体加微针做面部抗衰，人体试验结果怎么样", "zh-Hans", None),
    ("外泌體塗在臉上安全嗎？", "zh-Hant", "safety.topical"),
    ("外泌體對關節退化有沒有幫助", "zh-Hant", "organs.bone_joint"),
    ("動物實驗的結果為什麼不能直接套用到人身上？", "zh-Hant", "animal.limits"),
    ("What exactly are exosomes?", "en", "basics.definition"),
    ("Is there any evidence exosomes help with Alzheimer's?", "en", "organs.alzheimers"),
    ("How do I tell real exosomes from conditioned media when buying skincare?", "en", "advice.conditioned_media"),
    ("这个 serum 里的 exosome 安全吗", "zh-Hans", None),
]


def check_contract(text: str, payload: Dict[str, Any]) -> None:
    """Schema, plus: grade words and [n] in the text for answers, each part with its own grade and
    citations, citations 1..23."""
    jsonschema.validate(payload, SCHEMA)
    texts = default_texts()
    if payload["type"] not in NON_ANSWER_TYPES:
        label = payload["evidence"]["label"]
        assert texts.get("format.evidence_line", payload["lang"], label=label) in text
        cited = {int(n) for n in re.findall(r"\[(\d+)\]", text)}
        assert cited == {c["ref"] for c in payload["citations"]}
        assert_parts_rendered(text, payload, texts)
        assert all(1 <= n <= 23 for n in cited)
        for citation in payload["citations"]:
            assert f"[{citation['ref']}] {citation['short']}" in text
    for flag in payload["flags"]:
        assert flag["message"] in text


def lang_of_text(text: str) -> str:
    from bot.lang import detect_script

    return detect_script(re.sub(r"\[\d+\][^；;\n]*", "", text)) or "?"


@pytest.mark.parametrize("message, lang, fact", QUESTIONS)
def test_question_over_rest(ask, message, lang, fact):
    text, payload = split_reply(ask(f"e2e-{uuid.uuid4().hex[:8]}", message))
    check_contract(text, payload)
    # A question the classifier reads as a claim to check is still answered from the same facts.
    assert payload["type"] in ("answer", "advice", "claim_check")
    assert payload["lang"] == lang
    assert lang_of_text(text) == lang
    if fact:
        assert payload["facts"][0] == fact


def test_systemic_claim_flagged_over_rest_in_three_scripts(ask):
    for message, lang in [
        ("广告说外泌体点滴能让全身年轻十岁，是真的吗？", "zh-Hans"),
        ("診所說打外泌體針可以逆轉衰老、延長壽命", "zh-Hant"),
        ("Exosome IV drips make your whole body younger!! Book now", "en"),
    ]:
        text, payload = split_reply(ask(f"claim-{uuid.uuid4().hex[:8]}", message))
        check_contract(text, payload)
        assert payload["type"] == "claim_check" and payload["lang"] == lang
        assert [f["code"] for f in payload["flags"]] == ["unsupported_systemic_injection_claim"]
        assert text.startswith("⚠️") and {c["ref"] for c in payload["citations"]} == {6, 7}


@pytest.mark.parametrize(
    "message",
    [
        "Are exosome facials safe? And do exosomes help with Parkinson's disease?",
        "外泌体面膜安全吗？外泌体对帕金森病有帮助吗？",
    ],
)
def test_two_questions_get_two_graded_parts_over_rest(ask, message):
    """Issue 11: a composite answer has one part per fact, each with its own grade and [n] in the text."""
    from bot.kb import default_knowledge_base

    text, payload = split_reply(ask(f"two-{uuid.uuid4().hex[:8]}", message))
    check_contract(text, payload)
    kb = default_knowledge_base()
    assert len(payload["parts"]) == 2, payload["facts"]
    assert {p["fact"] for p in payload["parts"]} == {"safety.topical", "animal.parkinsons"}
    for part in payload["parts"]:
        assert part["evidence"]["level"] == kb.facts[part["fact"]].level


def test_conversation_follow_ups(ask):
    sender = f"conv-{uuid.uuid4().hex[:8]}"
    text, payload = split_reply(ask(sender, "外泌体点滴能抗衰老吗？"))
    check_contract(text, payload)
    text, payload = split_reply(ask(sender, "那安全吗？"))
    check_contract(text, payload)
    assert payload["facts"][0] == "safety.injection"
    safety_refs = [c["ref"] for c in payload["citations"]]
    text, payload = split_reply(ask(sender, "出处是哪里？"))
    check_contract(text, payload)
    assert payload["type"] == "reference" and payload["lang"] == "zh-Hans"
    assert [c["ref"] for c in payload["citations"]] == safety_refs


def test_reference_lookups_over_rest(ask):
    text, payload = split_reply(ask("ref-1", "What is reference 6?"))
    check_contract(text, payload)
    assert payload["type"] == "reference" and [c["ref"] for c in payload["citations"]] == [6]
    assert "pubmed.ncbi.nlm.nih.gov/38627524" in text
    text, payload = split_reply(ask("ref-2", "第七篇參考文獻是哪篇？"))
    check_contract(text, payload)
    assert [c["ref"] for c in payload["citations"]] == [7] and payload["lang"] == "zh-Hant"


@pytest.mark.parametrize(
    "message, kind",
    [
        ("你好", "greeting"),
        ("Can I talk to a real person?", "handoff"),
        ("What's the best retinol serum?", "out_of_scope"),
    ],
)
def test_non_answers_over_rest(ask, message, kind):
    text, payload = split_reply(ask(f"na-{uuid.uuid4().hex[:8]}", message))
    check_contract(text, payload)
    assert payload["type"] == kind


@pytest.mark.parametrize(
    "message",
    [
        "",
        "    ",
        "x" * 20000,
        "\x00\x01\x02\x7f",
        "😀😀🙏",
        "<script>alert('x')</script>",
        "<img src=x onerror=alert(1)>",
        "\ud7ff" * 3 + "\u0000",
    ],
)
def test_bad_input_never_crashes_and_never_echoes_markup(ask, message):
    messages = ask(f"bad-{uuid.uuid4().hex[:8]}", message)
    text, payload = split_reply(messages)
    check_contract(text, payload)
    assert payload["type"] in ("input_error", "fallback")
    assert "<script" not in text and "onerror" not in text


def test_html_around_a_question_is_ignored_and_the_question_answered(ask):
    text, payload = split_reply(ask("html-1", "<b>What are exosomes?</b>"))
    check_contract(text, payload)
    assert payload["facts"][0] == "basics.definition" and "<b>" not in text
