"""Contract 1.1 `parts` (issue 11): every part of an answer carries its own grade and citations, in the
payload and in the visible text of every channel (composer, plain-text channels), and a clear second
question of the same message is answered as a second part."""

from __future__ import annotations

import asyncio
from typing import Any, Dict, List

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.answers import ActionAnswer
from bot.channels.plain import PlainRenderer, utf8_bytes
from bot.contract import FLAG_SYSTEMIC_INJECTION
from bot.services import Services
from tests.contract_checks import assert_parts_rendered
from tests.nlu_helpers import parse


@pytest.fixture(scope="module")
def services() -> Services:
    return Services.build()


def grade(services: Services, level: str, lang: str) -> str:
    return services.texts.get("format.evidence_line", lang, label=services.composer.evidence_label(level, lang))


def assert_each_part_graded(services: Services, text: str, payload: Dict[str, Any]) -> None:
    """Each part's statement is followed by its own grade line and citations, before the next part."""
    assert_parts_rendered(text, payload, services.texts)


@pytest.mark.parametrize("lang", ["en", "zh-Hans", "zh-Hant"])
def test_a_composite_answer_grades_each_part(services: Services, lang: str) -> None:
    kb = services.kb
    reply = services.composer.from_facts([kb.fact("skin.trial_microneedling"), kb.fact("animal.young_plasma")], lang)
    text, payload = services.composer.render(reply)
    assert [p["fact"] for p in payload["parts"]] == ["skin.trial_microneedling", "animal.young_plasma"]
    assert [p["evidence"]["level"] for p in payload["parts"]] == ["human_trial", "animal"]
    assert [p["refs"] for p in payload["parts"]] == [[3], [6]]
    assert_each_part_graded(services, text, payload)
    # The mouse result is never shown under the human trial's grade: its own grade follows it.
    assert text.index(grade(services, "animal", lang)) > text.index(payload["parts"][1]["text"])


def test_non_answers_have_no_parts(services: Services) -> None:
    _, payload = services.composer.render(services.composer.message("greeting", "replies.greeting", "en"))
    assert payload["parts"] == [] and payload["intro"] is None


def run(
    action: Any, text: str, intent: str, segments: List[Dict[str, Any]], ranking: Dict[str, float]
) -> Dict[str, Any]:
    latest = parse(text, intent, 0.9, ranking)
    latest["fact_segments"] = segments
    t = Tracker(
        "tester", {}, latest, [{"event": "user", "text": text, "parse_data": latest}], False, None, {}, "action_listen"
    )
    dispatcher = CollectingDispatcher()
    asyncio.run(action.run(dispatcher, t, {}))
    (message,) = dispatcher.messages
    return {"text": message["text"], "payload": message["custom"]}


def segments_of(text: str, first: str, first_conf: float, second: str, second_conf: float) -> List[Dict[str, Any]]:
    middle = text.index("?") + 1
    return [
        {"start": 0, "end": middle, "question": True, "ranking": [{"fact": first, "confidence": first_conf}]},
        {"start": middle, "end": len(text), "question": True, "ranking": [{"fact": second, "confidence": second_conf}]},
    ]


def test_two_clear_questions_are_answered_in_two_graded_parts(services: Services) -> None:
    text = "Are exosome facials safe? And did young plasma exosomes make old mice live longer?"
    segments = segments_of(text, "safety.topical", 0.8, "animal.young_plasma", 0.85)
    reply = run(
        ActionAnswer(services), text, "ask_knowledge", segments, {"safety.topical": 0.7, "animal.young_plasma": 0.6}
    )
    payload = reply["payload"]
    assert sorted(payload["facts"]) == ["animal.young_plasma", "safety.topical"] and len(payload["parts"]) == 2
    assert_each_part_graded(services, reply["text"], payload)
    assert "animal.young_plasma" not in [s["payload"] for s in payload["suggestions"]]


def test_an_unclear_second_question_is_offered_not_answered(services: Services) -> None:
    text = "Are exosome facials safe? And what about the other thing?"
    segments = segments_of(text, "safety.topical", 0.8, "animal.young_plasma", 0.3)
    reply = run(ActionAnswer(services), text, "ask_knowledge", segments, {"safety.topical": 0.7})
    payload = reply["payload"]
    assert payload["facts"] == ["safety.topical"] and len(payload["parts"]) == 1
    offered = services.kb.fact("animal.young_plasma").question["en"]
    assert payload["suggestions"][0]["title"] == offered


def test_a_flagged_claim_with_a_safety_question_answers_both(services: Services) -> None:
    text = "Do exosome IV drips make your whole body younger? Are they safe?"
    segments = segments_of(text, "claims.systemic_injection", 0.9, "safety.injection", 0.8)
    reply = run(ActionAnswer(services), text, "check_claim", segments, {"claims.systemic_injection": 0.9})
    payload = reply["payload"]
    assert payload["type"] == "claim_check" and [f["code"] for f in payload["flags"]] == [FLAG_SYSTEMIC_INJECTION]
    assert payload["facts"] == ["claims.systemic_injection", "safety.injection"]
    assert payload["intro"] and reply["text"].index(payload["intro"]) < reply["text"].index(payload["parts"][0]["text"])
    assert reply["text"].startswith("⚠️")
    assert_each_part_graded(services, reply["text"], payload)


@pytest.mark.parametrize("limit", [4000, 900, 600])
def test_plain_text_channels_keep_every_parts_grade_and_sources(services: Services, limit: int) -> None:
    kb, composer = services.kb, services.composer
    reply = composer.from_facts([kb.fact("skin.trial_microneedling"), kb.fact("animal.young_plasma")], "zh-Hans")
    text, payload = composer.render(reply)
    plain = PlainRenderer(services.texts).render([{"text": text, "custom": payload}], limit, utf8_bytes, numbered=True)
    assert utf8_bytes(plain.text) <= limit
    lines = plain.text.split("\n")
    for part in payload["parts"]:
        assert grade(services, part["evidence"]["level"], "zh-Hans") in lines
    for citation in payload["citations"]:
        assert f"[{citation['ref']}] {citation['short']}" in plain.text
    # The human grade comes before the mouse study's statement starts; the mouse grade after it.
    human, mouse = (lines.index(grade(services, lv, "zh-Hans")) for lv in ("human_trial", "animal"))
    assert human < mouse
    if limit == 4000:
        assert plain.text.startswith(text)  # nothing to shorten: the same text as every other channel
