"""Actions with rasa-sdk's CollectingDispatcher and real Tracker objects, on a small knowledge base."""

from __future__ import annotations

import asyncio
from typing import Any, Dict, List, Optional

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.answers import ActionAnswer, ActionCheckClaim, ActionFallback
from actions.conversation import (
    ActionGoodbye,
    ActionGreet,
    ActionHandoff,
    ActionHelp,
    ActionMedicalAdvice,
    ActionOutOfScope,
    ActionThanks,
)
from actions.references import ActionLookupReference
from bot.contract import LEVELS
from bot.lang import localize
from bot.nlu.segments import split_segments
from bot.kb import load_knowledge_base
from bot.services import Services
from bot.staff import HANDOFF_SLOT, WAITING
from tests.nlu_helpers import parse

FIXTURE_KB = __import__("pathlib").Path(__file__).parent / "fixtures" / "kb"


@pytest.fixture(scope="module")
def small() -> Services:
    return Services.build(kb=load_knowledge_base(FIXTURE_KB))


@pytest.fixture(scope="module")
def full() -> Services:
    return Services.build()


def tracker(
    text: str,
    intent: Optional[str],
    slots: Optional[Dict[str, Any]] = None,
    confidence: float = 0.9,
    ranking: Optional[Dict[str, float]] = None,
) -> Tracker:
    latest = parse(text, intent, confidence, ranking)
    events = [{"event": "user", "text": text, "parse_data": latest}]
    return Tracker("tester", slots or {}, latest, events, False, None, {}, "action_listen")


def run(action, t: Tracker) -> tuple[Dict[str, Any], List[Dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, t, {}))
    assert len(dispatcher.messages) == 1, "every action replies exactly once"
    message = dispatcher.messages[0]
    return {"text": message["text"], "payload": message["custom"]}, events


def slots(events: List[Dict[str, Any]]) -> Dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e["event"] == "slot"}


@pytest.mark.parametrize(
    "question, lang, grade",
    [
        ("年轻血浆外泌体能延长寿命吗？", "zh-Hans", "仅动物实验"),
        ("年輕血漿外泌體能延長壽命嗎？", "zh-Hant", "僅動物實驗"),
        ("Did young plasma vesicles extend lifespan?", "en", "animal studies only"),
    ],
)
def test_answer_in_the_users_language_with_grade_and_citation(small, question, lang, grade):
    reply, events = run(ActionAnswer(small), tracker(question, "ask_knowledge"))
    payload = reply["payload"]
    assert payload["type"] == "answer" and payload["lang"] == lang
    assert payload["facts"] == ["animal.young_plasma"]
    assert [c["ref"] for c in payload["citations"]] == [6]
    assert payload["evidence"]["level"] == "animal"
    assert grade in reply["text"] and "[6] Chen X et al., Nature Aging 2024" in reply["text"]
    assert slots(events)["last_refs"] == [6] and slots(events)["lang"] == lang


def test_the_most_specific_fact_wins_on_the_real_knowledge_base(full):
    reply, _ = run(ActionAnswer(full), tracker("外泌体对帕金森病有用吗？", "ask_knowledge"))
    assert reply["payload"]["facts"][0] == "animal.parkinsons"
    assert 11 in [c["ref"] for c in reply["payload"]["citations"]]


def test_follow_up_safety_question_uses_the_previous_topic(full):
    previous = {
        "last_question": "外泌体点滴能抗衰老吗",
        "last_facts": ["advice.systemic_products"],
        "last_refs": [1, 2],
    }
    reply, _ = run(ActionAnswer(full), tracker("那安全吗？", "ask_knowledge", previous))
    assert reply["payload"]["facts"][0] == "safety.injection"


def test_tell_me_more_gives_the_next_related_fact(small):
    previous = {"last_question": "young plasma?", "last_facts": ["animal.young_plasma"], "last_refs": [6]}
    reply, _ = run(ActionAnswer(small), tracker("tell me more", "ask_knowledge", previous))
    assert reply["payload"]["facts"] == ["animal.mir302b"]


def test_uncovered_question_gets_an_honest_decline_with_pointers(small):
    reply, events = run(ActionAnswer(small), tracker("Do exosomes cure baldness in dogs?", "ask_knowledge"))
    payload = reply["payload"]
    assert payload["type"] == "out_of_scope"
    assert payload["evidence"] is None and payload["citations"] == [] and payload["flags"] == []
    assert payload["suggestions"], "points at what the bot can answer"
    assert "last_refs" not in slots(events)


@pytest.mark.parametrize(
    "text, intent",
    [
        ("外泌体点滴能让全身年轻十岁！", "check_claim"),
        ("My clinic says exosome IV drips reverse aging for the whole body", "check_claim"),
        ("外泌體回輸可以延長壽命嗎", "ask_knowledge"),
        ("exosome shots to live longer??", None),
    ],
)
def test_flagged_claim_is_stated_with_warning_and_mouse_evidence(small, text, intent):
    reply, _ = run(ActionCheckClaim(small) if intent == "check_claim" else ActionAnswer(small), tracker(text, intent))
    payload = reply["payload"]
    assert payload["type"] == "claim_check"
    assert [f["code"] for f in payload["flags"]] == ["unsupported_systemic_injection_claim"]
    assert reply["text"].startswith("⚠️")
    assert payload["evidence"]["level"] == "animal"
    assert sorted(c["ref"] for c in payload["citations"]) == [6, 7]
    assert "[6]" in reply["text"] and "[7]" in reply["text"]


def test_fallback_answers_a_clear_keyword_and_otherwise_says_so(small):
    reply, _ = run(ActionFallback(small), tracker("miR-302b", "nlu_fallback", confidence=0.2))
    assert reply["payload"]["facts"] == ["animal.mir302b"]
    reply, _ = run(ActionFallback(small), tracker("blorp zzz", "nlu_fallback", confidence=0.2))
    assert reply["payload"]["type"] == "fallback" and reply["payload"]["suggestions"]


@pytest.mark.parametrize(
    "text, problem",
    [
        ("", "empty"),
        ("   ", "empty"),
        ("<img src=x onerror=alert(1)>", "markup"),
        ("😀😀😀", "emoji_only"),
        ("x" * 5000, "too_long"),
        ("\x00\x01binary", "unreadable"),
    ],
)
def test_bad_input_gets_a_polite_input_error_without_echo(small, text, problem):
    reply, _ = run(ActionAnswer(small), tracker(text, "ask_knowledge"))
    assert reply["payload"]["type"] == "input_error"
    assert reply["payload"]["evidence"] is None and reply["payload"]["citations"] == []
    assert "<img" not in reply["text"] and "onerror" not in reply["text"]
    assert len(reply["text"]) < 300


def test_reference_by_number(full):
    reply, events = run(ActionLookupReference(full), tracker("What is reference 6?", "ask_reference"))
    payload = reply["payload"]
    assert payload["type"] == "reference" and [c["ref"] for c in payload["citations"]] == [6]
    assert "https://pubmed.ncbi.nlm.nih.gov/38627524/" in reply["text"]
    assert payload["evidence"]["level"] == "animal"
    assert "last_refs" not in slots(events), "a look-up does not replace the answer being discussed"


def test_reference_by_journal_in_chinese(full):
    reply, _ = run(ActionLookupReference(full), tracker("Nature Aging那篇论文的PMID是多少？", "ask_reference"))
    assert [c["ref"] for c in reply["payload"]["citations"]] == [6]
    assert reply["payload"]["lang"] == "zh-Hans" and "38627524" in reply["text"]


def test_unknown_reference_number_is_not_invented(full):
    reply, _ = run(ActionLookupReference(full), tracker("文献30是什么", "ask_reference"))
    assert reply["payload"]["type"] == "fallback" and reply["payload"]["citations"] == []
    assert "23" in reply["text"]


def test_source_for_that_cites_the_previous_answer(small):
    previous = {"last_question": "microneedling?", "last_facts": ["skin.trial_microneedling"], "last_refs": [3]}
    reply, _ = run(ActionLookupReference(small), tracker("what's the source for that?", "ask_reference", previous))
    assert [c["ref"] for c in reply["payload"]["citations"]] == [3]
    assert reply["payload"]["evidence"]["level"] == "human_trial"


def test_all_sources_lists_the_23_references_by_design(full):
    reply, _ = run(ActionLookupReference(full), tracker("what are your sources?", "ask_reference"))
    payload = reply["payload"]
    assert [c["ref"] for c in payload["citations"]] == list(range(1, 24))
    # One part per study design, each graded by that design, in contract order.
    levels = [p["evidence"]["level"] for p in payload["parts"]]
    assert levels == sorted(set(levels), key=LEVELS.index) and levels[0] == "systematic_review"
    for part in payload["parts"]:
        assert all(full.kb.references[n].level == part["evidence"]["level"] for n in part["refs"])
    assert sorted(n for p in payload["parts"] for n in p["refs"]) == list(range(1, 24))
    assert "[1] Flores Rodríguez J et al., Cureus 2026" in reply["text"]


def test_several_references_each_show_their_own_design(full):
    reply, _ = run(ActionLookupReference(full), tracker("tell me about references [1] and [6]", "ask_reference"))
    parts = reply["payload"]["parts"]
    assert [(p["refs"], p["evidence"]["level"]) for p in parts] == [([1], "systematic_review"), ([6], "animal")]
    text = reply["text"]
    review, animal = (full.composer.evidence_label(lv, "en") for lv in ("systematic_review", "animal"))
    # Each reference is followed by its own grade: the mouse study never sits under the review's grade.
    assert text.index("Reference 1:") < text.index(review) < text.index("Reference 6:") < text.index(animal)


@pytest.mark.parametrize(
    "action, intent, kind, text",
    [
        (ActionGreet, "greet", "greeting", "hello there, good morning"),
        (ActionGreet, "greet", "out_of_scope", "hi! I have Parkinson's, how much should I inject?"),
        (ActionHandoff, "request_human", "handoff", "I have Parkinson's, can I talk to a real person?"),
        (ActionHandoff, "request_human", "out_of_scope", "I have Parkinson's, how much should I inject?"),
        (ActionOutOfScope, "out_of_scope", "out_of_scope", "I have Parkinson's, how much should I inject?"),
        (ActionMedicalAdvice, "ask_medical_advice", "out_of_scope", "I have Parkinson's, how much should I inject?"),
    ],
)
def test_non_answers_carry_no_evidence(small, action, intent, kind, text):
    reply, _ = run(action(small), tracker(text, intent))
    payload = reply["payload"]
    assert payload["type"] == kind
    assert payload["evidence"] is None and payload["citations"] == [] and payload["flags"] == []


def test_medical_question_is_declined_with_doctor_advice_and_related_evidence(full):
    reply, _ = run(ActionMedicalAdvice(full), tracker("我爸有帕金森，该打多少外泌体？", "ask_medical_advice"))
    assert "医生" in reply["text"]
    titles = [s["title"] for s in reply["payload"]["suggestions"]]
    assert any("帕金森" in t for t in titles)


def test_unsure_decline_of_a_clear_topic_is_answered(full):
    reply, _ = run(ActionHelp(full), tracker("Do exosomes help Parkinson's?", "ask_help", confidence=0.6))
    assert reply["payload"]["type"] == "answer" and reply["payload"]["facts"] == ["animal.parkinsons"]
    reply, _ = run(ActionHelp(full), tracker("help", "ask_help", confidence=0.95))
    assert reply["payload"]["type"] == "greeting"
    reply, _ = run(ActionOutOfScope(full), tracker("best retinol serum for 30s?", "out_of_scope", confidence=0.55))
    assert reply["payload"]["type"] == "out_of_scope"


def test_medical_intent_without_anything_personal_is_answered_generally(full):
    reply, _ = run(
        ActionMedicalAdvice(full),
        tracker(
            "Is it worth trying exosomes for anti-ageing at this point?",
            "ask_medical_advice",
            ranking={"verdict.overall": 0.6},
        ),
    )
    assert reply["payload"]["type"] == "advice" and reply["payload"]["facts"] == ["verdict.overall"]
    # "Should I try it" asks for personal advice (the labelling brief's "should I / my mother get it"): declined.
    reply, _ = run(
        ActionMedicalAdvice(full),
        tracker(
            "Should I try exosomes for anti-ageing at this point?",
            "ask_medical_advice",
            ranking={"verdict.overall": 0.6},
        ),
    )
    assert reply["payload"]["type"] == "out_of_scope" and reply["payload"]["intent"] == "ask_medical_advice"
    reply, _ = run(
        ActionMedicalAdvice(full), tracker("I'm pregnant, should I try exosomes for anti-ageing?", "ask_medical_advice")
    )
    assert reply["payload"]["type"] == "out_of_scope"
    reply, _ = run(ActionMedicalAdvice(full), tracker("外泌体点滴一次打多少毫升？", "ask_medical_advice"))
    assert reply["payload"]["type"] == "out_of_scope", "dosing is always declined"
    # A story about someone, then a general question: answered, with the doctor note.
    story = "ok so my nainai keeps saying waimibi and i think she means exosomes?? what even are those lol"
    reply, _ = run(ActionMedicalAdvice(full), tracker(story, "ask_medical_advice", ranking={"basics.definition": 0.3}))
    assert reply["payload"]["facts"] == ["basics.definition"], reply["payload"]
    assert "doctor" in reply["text"]
    # The question itself is personal: declined.
    personal = "my nainai keeps forgetting things since her stroke. would it help her memory?"
    reply, _ = run(
        ActionMedicalAdvice(full), tracker(personal, "ask_medical_advice", ranking={"organs.alzheimers": 0.3})
    )
    assert reply["payload"]["type"] == "out_of_scope" and not reply["payload"]["facts"]


@pytest.mark.parametrize(
    "text, ranking, answered",
    [
        # One sentence that mentions someone and asks in general: answered.
        ("我家姐喺深圳打咗三次外泌體針佢話好貴究竟有冇用㗎", {"advice.systemic_products": 0.4}, True),
        ("老婆話去做外泌體微針facial 有冇用㗎", {"skin.trial_microneedling": 0.4}, True),
        # Its question asks for someone, about someone, or how often: declined.
        ("我妈膝盖痛 佢可以做外泌体吗", {"organs.bone_joint": 0.2}, False),
        ("my dad had a stroke last year, would it help him", {"animal.stroke_bbb": 0.2}, False),
        ("我老公做咗外泌體點滴 仲要做幾次", {"safety.injection": 0.2}, False),
    ],
)
def test_one_sentence_that_mentions_someone_is_answered_only_when_its_question_is_general(
    full, text, ranking, answered
):
    reply, _ = run(ActionMedicalAdvice(full), tracker(text, "ask_medical_advice", ranking=ranking))
    payload = reply["payload"]
    if answered:
        assert payload["facts"][:1] == list(ranking), payload
    else:
        assert payload["type"] == "out_of_scope" and not payload["facts"], payload


def test_a_question_whether_something_works_needs_a_safety_word_for_a_safety_fact(full):
    """The classifier links a story about a treatment with its safety; "有没有用" asks whether it works."""
    ranking = {"safety.topical": 0.44, "skin.trial_microneedling": 0.35}
    reply, _ = run(ActionAnswer(full), tracker("老婆話去做外泌體微針facial 有冇用㗎", "ask_knowledge", ranking=ranking))
    assert reply["payload"]["facts"][:1] == ["skin.trial_microneedling"], reply["payload"]
    reply, _ = run(ActionAnswer(full), tracker("外泌體微針有冇副作用㗎", "ask_knowledge", ranking=ranking))
    assert reply["payload"]["facts"][:1] == ["safety.topical"], reply["payload"]


@pytest.mark.parametrize(
    "question, lang, doctor",
    [
        ("Can pregnant women get exosome IV drips?", "en", "doctor"),
        ("Is an exosome facial OK while breastfeeding?", "en", "doctor"),
        ("Are exosome serums safe for kids?", "en", "doctor"),
        ("I'm on blood thinners, can I do exosome microneedling?", "en", "doctor"),
        ("孕妇可以打外泌体点滴吗？", "zh-Hans", "医生"),
        ("哺乳期能做外泌体水光吗？", "zh-Hans", "医生"),
        ("小孩子能用外泌体精华吗？", "zh-Hans", "医生"),
        ("我在吃华法林，可以打外泌体吗？", "zh-Hans", "医生"),
        ("懷孕可以做外泌體微針嗎？", "zh-Hant", "醫生"),
        ("餵母乳期間可以擦外泌體精華嗎？", "zh-Hant", "醫生"),
        ("細路可唔可以用外泌體？", "zh-Hant", "醫生"),
        ("我每天吃降壓藥，可以打外泌體點滴嗎？", "zh-Hant", "醫生"),
    ],
)
def test_pregnancy_breastfeeding_children_and_medication_are_declined_in_every_script(full, question, lang, doctor):
    """Issue 17: the cue lists' wildcards (pregnan*, breastfeed*, kid*) match in the actions as in the NLU;
    whatever the intent came out as, these get the doctor advice, never a fact."""
    for action, intent in ((ActionAnswer, "ask_knowledge"), (ActionMedicalAdvice, "ask_medical_advice")):
        reply, _ = run(action(full), tracker(question, intent, ranking={"safety.injection": 0.7}))
        payload = reply["payload"]
        assert payload["type"] == "out_of_scope" and payload["facts"] == [], (question, payload)
        assert payload["intent"] == "ask_medical_advice" and payload["lang"] == lang
        assert doctor in reply["text"]


@pytest.mark.parametrize(
    "action, intent, text, kind, why",
    [
        (
            ActionAnswer,
            "ask_knowledge",
            "my 16 yr old has acne scars, can she get exosome microneedling?",
            "out_of_scope",
            "a minor",
        ),
        (ActionAnswer, "ask_knowledge", "我女儿八岁 皮肤过敏 可以用外泌体面膜吗", "out_of_scope", "a child's age"),
        (
            ActionAnswer,
            "ask_knowledge",
            "我有高血压，在吃降压药，可不可以做外泌体导入？",
            "out_of_scope",
            "own illness and medication",
        ),
        (
            ActionAnswer,
            "ask_knowledge",
            "I'm on steroids for lupus, is an exosome facial ok for her at her age",
            "out_of_scope",
            "medication",
        ),
        (
            ActionAnswer,
            "ask_knowledge",
            "朋友做完外泌体面膜说脸年轻了五岁，真有研究支持吗？",
            "answer",
            "'five years younger' is no age",
        ),
    ],
)
def test_personal_situations_are_declined_and_look_alikes_answered(full, action, intent, text, kind, why):
    reply, _ = run(action(full), tracker(text, intent, ranking={"skin.overview": 0.5}))
    assert reply["payload"]["type"] in ((kind,) if kind == "out_of_scope" else ("answer", "advice")), why
    if kind == "out_of_scope":
        assert reply["payload"]["intent"] == "ask_medical_advice", why


@pytest.mark.parametrize(
    "action, intent, text",
    [
        (ActionAnswer, "ask_knowledge", "how much is an exosome facial in Toronto?"),
        (ActionAnswer, "ask_knowledge", "stem cell injections for knees, not exosomes, any good?"),
        (ActionAnswer, "ask_knowledge", "PRP打膝盖有没有效？"),
        (ActionMedicalAdvice, "ask_medical_advice", "can you recommend a legit clinic for exosome facials near me"),
        (ActionMedicalAdvice, "ask_medical_advice", "are exosome liquid biopsy tests accurate for cancer detection?"),
        (ActionAnswer, "ask_knowledge", "Is NMN supplementation better than exosomes for anti-ageing?"),
        (ActionMedicalAdvice, "ask_medical_advice", "can i use my exosome serum with retinol or does it cancel out"),
        (ActionAnswer, "ask_knowledge", "外泌体精华和玻尿酸可以一起用吗"),
        (ActionAnswer, "ask_knowledge", "Does Medicare cover exosome shots?"),
        (ActionAnswer, "ask_knowledge", "cheapest place for exosome microneedling near me?"),
        (
            ActionAnswer,
            "ask_knowledge",
            "the clinic near my office charges 900 per exosome facial, normally how much ah",
        ),
        (ActionAnswer, "ask_knowledge", "is $1500 a vial a rip-off for exosomes?"),
        (ActionAnswer, "ask_knowledge", "朋友推荐一个韩国外泌体精华，这个牌子好不好？"),
        (ActionAnswer, "ask_knowledge", "这家医美诊所做外泌体微针靠谱吗"),
        (ActionAnswer, "ask_knowledge", "唔關外泌體事，想問幹細胞打膝頭有冇用"),
    ],
)
def test_prices_bookings_and_other_treatments_are_not_covered(full, action, intent, text):
    reply, _ = run(action(full), tracker(text, intent, ranking={"organs.bone_joint": 0.5, "skin.overview": 0.5}))
    assert reply["payload"]["type"] == "out_of_scope" and reply["payload"]["intent"] != "ask_medical_advice"
    assert reply["payload"]["facts"] == []


def test_a_short_follow_up_that_looks_like_a_hand_off_request_is_answered(full):
    previous = {"last_question": "外泌体对帕金森病有用吗", "last_facts": ["animal.parkinsons"], "last_refs": [11]}
    reply, events = run(
        ActionHandoff(full),
        tracker("in humans too?", "request_human", previous, ranking={"overview.human_vs_animal": 0.6}),
    )
    assert reply["payload"]["type"] in ("answer", "advice") and "handoff" not in slots(events)
    reply, events = run(ActionHandoff(full), tracker("can I talk to a real person?", "request_human"))
    assert reply["payload"]["type"] == "handoff" and slots(events)["handoff"] == "waiting"
    # Taken for a request for help: still handed off, and waiting for a person.
    text = "can i talk to a real person? my mom wants to ask stuff herself in chinese"
    reply, events = run(ActionHelp(full), tracker(text, "ask_help"))
    assert reply["payload"]["type"] == "handoff" and slots(events)["handoff"] == "waiting"
    # A short follow-up taken for a request for help is read against the previous answer.
    previous = {"last_question": "spicules + exosome?", "last_facts": ["delivery.sponge_spicules"], "last_refs": []}
    reply, events = run(ActionHelp(full), tracker("mice only ah?", "ask_help", previous))
    assert reply["payload"]["type"] in ("answer", "advice") and "handoff" not in slots(events)


@pytest.mark.parametrize(
    "text, hint, expected",
    [
        ("exosome 能不能改善 mitochondria 的 energy metabolism？", "zh-Hant", "zh-Hant"),
        ("exosome 能不能改善 mitochondria 的 energy metabolism？", "zh-Hans", "zh-Hans"),
        ("exosome 能不能改善 mitochondria 的 energy metabolism？", None, "zh-Hans"),
        ("外泌体能改善线粒体的能量代谢吗？", "zh-Hant", "zh-Hans"),  # the text's own script comes first
        ("外泌體能改善粒線體的能量代謝嗎？", "zh-Hans", "zh-Hant"),
    ],
)
def test_script_neutral_chinese_follows_the_script_the_users_app_is_set_to(
    full: Services, text: str, hint: Optional[str], expected: str
) -> None:
    t = tracker(text, "ask_knowledge", ranking={"mechanism.mitochondria": 0.9})
    if hint is not None:
        t.events[-1]["metadata"] = {"ui_lang": hint}
    reply, events = run(ActionAnswer(full), t)
    assert reply["payload"]["lang"] == expected and slots(events)["lang"] == expected
    assert reply["payload"]["facts"] == ["mechanism.mitochondria"]


@pytest.mark.parametrize(
    "text, lang",
    [("in humans??", "en"), ("那是在人身上還是老鼠身上看到的？", "zh-Hant"), ("那人身上呢？", "zh-Hans")],
)
def test_in_humans_after_an_animal_study_is_about_that_study(full, text, lang):
    """Issue 10 (dev7): "in humans?" right after an answer about a mouse study asks about that study, whose own
    text and grade say it was done in mice; the general humans-versus-animals fact is not the answer."""
    previous = {"last_question": "Parkinson's?", "last_facts": ["animal.parkinsons"], "last_refs": [11]}
    ranking = {"overview.human_vs_animal": 0.8}  # how the NLU's fact ranking reads such a message
    reply, _ = run(ActionAnswer(full), tracker(text, "ask_knowledge", {**previous, "lang": lang}, ranking=ranking))
    assert reply["payload"]["facts"][0] == "animal.parkinsons", reply["payload"]["facts"]
    assert reply["payload"]["evidence"]["level"] == "animal"
    first, _ = run(ActionAnswer(full), tracker(text, "ask_knowledge", {"lang": lang}, ranking=ranking))
    assert first["payload"]["facts"][0] == "overview.human_vs_animal"  # without that answer before


@pytest.mark.parametrize("action, intent", [(ActionAnswer, "ask_knowledge"), (ActionFallback, "nlu_fallback")])
@pytest.mark.parametrize("text", ["source? 🙏", "出处呢？", "refs pls"])
def test_a_bare_request_for_sources_cites_the_previous_answer_whatever_the_intent(small, action, intent, text):
    """ "Source?" is read as a citation request even when the classifier took it for something else."""
    slots = {"last_question": "microneedling?", "last_facts": ["skin.trial_microneedling"], "last_refs": [3]}
    reply, _ = run(action(small), tracker(text, intent, slots))
    assert reply["payload"]["type"] == "reference"
    assert [c["ref"] for c in reply["payload"]["citations"]] == [3]


@pytest.mark.parametrize(
    "action, intent, text",
    [
        (ActionAnswer, "ask_knowledge", "Good morning, I have a few questions about exosomes."),
        (ActionFallback, "nlu_fallback", "你好，我想问几个外泌体的问题"),
        (ActionOutOfScope, "out_of_scope", "ok 明白 唔該晒你"),
        (ActionMedicalAdvice, "ask_medical_advice", "好的 谢谢你 我跟我妈说一下"),
        (ActionAnswer, "ask_knowledge", "您好，想請教幾個關於外泌體的問題。"),
        (ActionOutOfScope, "out_of_scope", "hello 👋 paiseh ah, can ask u some qns abt exosome or not"),
        (ActionOutOfScope, "out_of_scope", "安安～可以問外泌體的問題嗎😊"),
        (ActionAnswer, "ask_knowledge", "好，吾該晒你，拜拜。"),
    ],
)
def test_greetings_and_thanks_that_ask_nothing_get_small_talk_whatever_the_intent(small, action, intent, text):
    reply, _ = run(action(small), tracker(text, intent))
    assert reply["payload"]["type"] == "greeting" and not reply["payload"]["facts"], reply["payload"]


def test_a_claim_shaped_message_that_names_a_study_and_asks_who_wrote_it_gets_the_reference(full):
    reply, _ = run(ActionCheckClaim(full), tracker("我孫子說有一篇Nature Aging的研究，是誰寫的？", "check_claim"))
    assert reply["payload"]["type"] == "reference"
    assert [c["ref"] for c in reply["payload"]["citations"]] == [6]


def test_a_request_for_sources_taken_for_a_hand_off_gets_the_sources(small):
    slots = {"last_question": "microneedling?", "last_facts": ["skin.trial_microneedling"], "last_refs": [3]}
    reply, _ = run(ActionHandoff(small), tracker("來源給我一下 我要放限動 📌", "request_human", slots))
    assert reply["payload"]["type"] == "reference"
    assert [c["ref"] for c in reply["payload"]["citations"]] == [3]


HUMANS = {"overview.human_vs_animal": 0.6}  # the classifier's reading of "in humans?", without the context
ONLY_MICE = {"animal.limits": 0.3}


@pytest.mark.parametrize(
    "previous, text, fact, ranking",
    [
        # "And in mice?" after an answer about people: the animal study of that topic.
        ("organs.alzheimers", "what about in mice tho", "animal.brain_sirt1", None),
        ("organs.alzheimers", "Have they tried it in mice at least", "animal.brain_sirt1", None),
        ("verdict.overall", "那老鼠呢", "animal.overview", None),
        # "In humans?" after a review's account of a mechanism: whether it holds in people (the caveat);
        # after one animal study, that study's own answer says where it was done.
        ("mechanism.overview", "Has any of that been demonstrated in humans?", "mechanism.caveat", HUMANS),
        ("mechanism.overview", "喺人身上都係咁？", "mechanism.caveat", HUMANS),
        ("mechanism.sirt1", "in people or in mice", "mechanism.sirt1", HUMANS),
        # "Only mice?" asks about the limits of animal studies, not for the topic's animal study.
        ("organs.alzheimers", "即係淨係老鼠得？", "animal.limits", ONLY_MICE),
        ("organs.bone_joint", "really? just mice? so it doesnt work in people", "animal.limits", ONLY_MICE),
        # "Is it a drug / a stem cell?" is the definition; "from what cells?" the source cell.
        ("basics.definition", "那它算药不", "basics.definition", None),
        ("basics.definition", "so is it a stem cell or not", "basics.definition", None),
        ("basics.definition", "那伊是啥细胞里出来的 有关系伐", "basics.source_cell", None),
    ],
)
def test_a_short_follow_up_about_mice_people_or_cells_reaches_the_fact_it_asks_for(full, previous, text, fact, ranking):
    slots = {"last_question": "do exosomes help?", "last_facts": [previous], "last_refs": []}
    reply, _ = run(ActionAnswer(full), tracker(text, "ask_knowledge", slots, ranking=ranking))
    assert reply["payload"]["facts"][0] == fact


def test_a_follow_up_naming_the_previous_facts_own_keyword_stays_with_it(full):
    """ "what is SASP" after the double-role answer is about that answer's own term, not another basics fact."""
    slots = {"last_question": "exosome 系不是一定等于抗衰老?", "last_facts": ["basics.double_role"], "last_refs": []}
    reply, _ = run(ActionAnswer(full), tracker("wait what is SASP", "ask_knowledge", slots))
    assert reply["payload"]["facts"][0] == "basics.double_role"


@pytest.mark.parametrize(
    "text",
    [
        "有个粉丝说她才14岁，满脸痘痘，能不能用外泌体原液",
        "我自己有玫瑰痤疮，能不能天天用外泌体精华",
        "本人患有甲状腺炎，长期服用优甲乐，用外泌体护肤品会不会有影响？",
        "i take metformin as part of my stack, any issue with exosome facials?",
        "I have bad knees and take naproxen daily. The clinic offers exosome shots, should I go for it?",
        "my mum had a stroke last year, you think she should go for the drips?",
        "if I start the exosome facial, how many times a month is enough?",
        "我自己食緊降血壓藥，想做外泌體面膜，我啱唔啱做？",
        # Caught only by the intent classifier before (dev sets): breastfeeding in Cantonese and Taiwanese,
        # a child's age before the child, one's own condition, how often, "should I".
        "我仲餵緊人奶，做外泌體微針會唔會影響個BB？",
        "我 11 歲女兒有 eczema，可以用 exosome cream 嗎？",
        "我有多囊 在吃优思明 能打外泌体针吗",
        "i got PCOS, exosome drip can help my hormone or not",
        "我是蟹足腫體質 做外泌體微針OK嗎",
        "外泌体冻干粉一周用几次合适 一次一支还是半支",
        "how many time a year should I do exosome facial to keep young",
        "我本身有退化性關節炎，目前每天吃 Celebrex，醫美診所建議我膝蓋打外泌體，我該打嗎？",
        # Singlish: "should I" and "how often" (dev14).
        "so i go inject my knee can or not",
        "how many times need to inject for my knee ah, once enough?",
    ],
)
def test_ones_own_condition_medication_and_a_young_fan_are_declined(full, text):
    reply, _ = run(ActionAnswer(full), tracker(text, "ask_knowledge"))
    assert reply["payload"]["intent"] == "ask_medical_advice" and not reply["payload"]["facts"]


def test_a_biology_teacher_is_no_secondary_school_student(full):
    """ "中学生物教师" (a secondary-school biology teacher) contains "中学生" but is no child."""
    reply, _ = run(ActionAnswer(full), tracker("我是中学生物教师，外泌体是什么？", "ask_knowledge"))
    assert reply["payload"]["facts"] and reply["payload"]["facts"][0] == "basics.definition"


@pytest.mark.parametrize(
    "text, covered",
    [
        ("Is Profhilo better than an exosome facial?", False),
        ("热玛吉和外泌体哪个好", False),
        ("does tretinoin cause peeling?", False),
        (
            "Long day at the salon. A regular brought her husband, he asked a hundred things, and at the till he "
            "asked whether we give a discount for a course of five. What I actually want to know: has exosome "
            "microneedling been tested in people?",
            True,
        ),
    ],
)
def test_other_products_are_not_covered_and_a_price_in_a_long_story_is_not_the_question(full, text, covered):
    reply, _ = run(ActionAnswer(full), tracker(text, "ask_knowledge", ranking={"skin.trial_microneedling": 0.6}))
    assert bool(reply["payload"]["facts"]) == covered, reply["payload"]


def test_a_correction_naming_another_disease_leaves_the_one_set_aside(full):
    """ "Sorry, I meant Parkinson's, not stroke" after a stroke question: the previous question no longer
    lifts the stroke study."""
    slots = {"last_question": "外泌体对中风有没有帮助", "last_facts": ["animal.stroke_bbb"], "last_refs": []}
    reply, _ = run(ActionAnswer(full), tracker("不好意思打错了，是帕金森不是中风", "ask_knowledge", slots))
    assert reply["payload"]["facts"][0] == "animal.parkinsons", reply["payload"]["facts"]


@pytest.mark.parametrize("text", ["source? my aunt believes all this, I want to show her", "有冇出處？我想俾阿媽睇吓"])
def test_a_request_for_sources_with_a_reason_cites_the_previous_answer(small, text):
    slots = {"last_question": "microneedling?", "last_facts": ["skin.trial_microneedling"], "last_refs": [3]}
    reply, _ = run(ActionAnswer(small), tracker(text, "ask_medical_advice", slots))
    assert reply["payload"]["type"] == "reference"
    assert [c["ref"] for c in reply["payload"]["citations"]] == [3]


def test_a_request_for_sources_followed_by_another_question_is_not_only_that(small):
    slots = {"last_question": "microneedling?", "last_facts": ["skin.trial_microneedling"], "last_refs": [3]}
    reply, _ = run(ActionAnswer(small), tracker("source? and is it safe", "ask_knowledge", slots))
    assert reply["payload"]["type"] != "reference" or reply["payload"]["facts"], reply["payload"]


@pytest.mark.parametrize(
    "text, fact",
    [
        ("外泌体精华抹在脸上到底有没有用", "skin"),
        ("does exosome serum on the face actually do anything?", "skin"),
        ("外泌体面膜安全吗", "safety.topical"),
        ("is exosome serum safe?", "safety.topical"),
    ],
)
def test_a_skin_products_form_says_topical_and_only_a_safety_word_asks_about_safety(full, text, fact):
    reply, _ = run(ActionAnswer(full), tracker(text, "ask_knowledge"))
    lead = reply["payload"]["facts"][0]
    assert lead == fact if "." in fact else not lead.startswith("safety."), reply["payload"]["facts"]


@pytest.mark.parametrize(
    "text, lang, named",
    [
        ("外泌体对中风和老年痴呆有用吗", "zh-Hans", {"organs.alzheimers", "animal.stroke_bbb"}),
        (
            "听说exosome可以让端粒变长 还有一个什么miR-302b的 这些是真的吗",
            "zh-Hans",
            {"mechanism.pcna_telomeres", "animal.mir302b"},
        ),
        ("do exosomes do anything for stroke or for dementia?", "en", {"organs.alzheimers", "animal.stroke_bbb"}),
    ],
)
def test_one_question_about_two_named_topics_answers_one_and_offers_the_other(full, text, lang, named):
    """Two topics named in one question, by keywords of their own: the lead is answered and the other fact is
    offered first, never dropped."""
    reply, _ = run(ActionAnswer(full), tracker(text, "ask_knowledge"))
    payload = reply["payload"]
    lead = payload["facts"][0]
    assert lead in named, payload["facts"]
    (other,) = named - {lead}
    offered = [s["title"] for s in payload["suggestions"]]
    question = localize(full.kb.facts[other].question, lang)
    assert other in payload["facts"] or offered[:1] == [question], (payload["facts"], offered)


def test_a_request_for_a_person_about_citations_is_handed_off(full):
    text = "Is there someone on your team I can speak to directly? I'd like to discuss how you're citing one of your references."
    reply, events = run(ActionLookupReference(full), tracker(text, "ask_reference"))
    assert reply["payload"]["type"] == "handoff"
    assert slots(events)[HANDOFF_SLOT] == WAITING, "the conversation waits for a person"


def test_a_correction_taken_for_a_greeting_is_read_against_the_previous_answer(full):
    """ "唔係呀 我講緊搽面嗰隻cream" (no, I mean the cream) after an injection-safety answer."""
    slots = {"last_question": "打exosome针会不会有副作用", "last_facts": ["safety.injection"], "last_refs": []}
    reply, _ = run(ActionGreet(full), tracker("唔係呀 我講緊搽面嗰隻cream", "greet", slots, confidence=0.59))
    assert reply["payload"]["facts"][:1] == ["safety.topical"], reply["payload"]


@pytest.mark.parametrize(
    "text, fact",
    [
        ("The platelet exosome study in Aesthetic Surgery Journal: was there a control arm?", "skin.trial_platelet"),
        ("嗰個12個禮拜嘅exosome微針研究係邊本journal㗎 邊個寫", None),
    ],
)
def test_a_named_studys_design_is_its_fact_and_a_length_in_weeks_no_reference_number(full, text, fact):
    reply, _ = run(ActionLookupReference(full), tracker(text, "ask_reference"))
    payload = reply["payload"]
    if fact is not None:
        assert payload["type"] == "answer" and payload["facts"][:1] == [fact]
    else:  # the 12-week microneedling trial's reference, not reference 12
        assert payload["type"] == "reference" and [c["ref"] for c in payload["citations"]] == [3], payload


@pytest.mark.parametrize(
    "previous, text, fact",
    [
        ("do exosome iv drips actually do anything for ageing", "thought so. is it even safe tho", "safety.injection"),
        ("my aunt wants the exosome drip for her whole body", "IS IT SAFE OR NOT", "safety.injection"),
        # The follow-up names the skin products' side: their safety.
        ("外泌体点滴有用吗", "那做完会不会红肿", "safety.topical"),
        ("do exosome iv drips actually do anything for ageing", "and the serum, is it safe?", "safety.topical"),
        # The previous question denied the drip's claim and asked about the facial.
        ("I know a drip can't make you younger. what about the facial?", "is it safe though?", "safety.topical"),
    ],
)
def test_a_bare_safety_follow_up_keeps_the_previous_questions_route(full, previous, text, fact):
    slots = {"last_question": previous, "last_facts": ["gaps.human_rcts"], "last_refs": []}
    reply, _ = run(ActionAnswer(full), tracker(text, "ask_knowledge", slots, ranking={"safety.topical": 0.75}))
    assert reply["payload"]["facts"][:1] == [fact], reply["payload"]["facts"]


@pytest.mark.parametrize(
    "text, covered",
    [
        ("The exosome serums Watsons sells, is there any real evidence for them?", True),
        ("淘宝上好多外泌体精华，这种东西有人体研究吗", True),
        ("邊隻外泌體精華最抵買？", False),
        ("which shop on shopee sells the real exosome serum", False),
    ],
)
def test_a_shop_named_in_passing_is_not_the_question(full, text, covered):
    reply, _ = run(ActionAnswer(full), tracker(text, "ask_knowledge", ranking={"skin.overview": 0.6}))
    assert bool(reply["payload"]["facts"]) == covered, reply["payload"]


def test_a_correction_taken_for_a_medical_question_is_read_against_the_previous_answer(full):
    slots = {
        "last_question": "in general, any safety data? side effects?",
        "last_facts": ["safety.injection"],
        "last_refs": [],
    }
    text = "no I meant the cream she uses at home, not the shots"
    reply, _ = run(ActionMedicalAdvice(full), tracker(text, "ask_medical_advice", slots, confidence=0.5))
    assert reply["payload"]["facts"][:1] == ["safety.topical"], reply["payload"]


def test_a_correction_naming_what_the_previous_answer_was_about_gets_it_again(full):
    slots = {"last_question": "外泌体安不安全", "last_facts": ["safety.topical"], "last_refs": []}
    reply, _ = run(ActionAnswer(full), tracker("唔係 我講塗面嗰隻", "ask_knowledge", slots, ranking={"__none__": 0.5}))
    assert reply["payload"]["facts"][:1] == ["safety.topical"], reply["payload"]


@pytest.mark.parametrize(
    "text, intent",
    [
        ("你好。我是退休的工程师，最近家里群里外泌体的广告很多，想向你请教几个问题。", "check_claim"),
        ("您好，打擾了。我是國小老師，想請教幾個關於外泌體的問題，不知道現在方不方便？", "ask_knowledge"),
    ],
)
def test_a_greeting_that_says_who_writes_and_announces_questions_is_greeted(full, text, intent):
    action = ActionCheckClaim(full) if intent == "check_claim" else ActionAnswer(full)
    reply, _ = run(action, tracker(text, intent))
    assert reply["payload"]["type"] == "greeting", reply["payload"]


def test_a_greeting_that_announces_a_question_and_asks_it_is_answered(full):
    text = "hi 你好, 我想问 exosome 到底是什么东西 ah?"
    reply, _ = run(ActionAnswer(full), tracker(text, "ask_knowledge", ranking={"basics.definition": 0.88}))
    assert reply["payload"]["facts"][:1] == ["basics.definition"], reply["payload"]


@pytest.mark.parametrize(
    "previous, text",
    [
        ("那個PRP自體血小板打臉的 有效嗎", "那跟外泌體比呢 哪個比較好"),
        (
            "is PRP by itself (the vampire facial thing) good for fine lines",
            "has anyone compared it head to head w exosomes",
        ),
    ],
)
def test_a_comparison_right_after_a_question_about_prp_gets_the_trial_that_compared_them(full, previous, text):
    """The PRP question itself was declined (no fact), so the comparison leans on the previous message."""
    t = tracker(text, "ask_knowledge")
    t.events.insert(0, {"event": "user", "text": previous, "parse_data": parse(previous, "out_of_scope", 0.9)})
    reply, _ = run(ActionAnswer(full), t)
    assert reply["payload"]["facts"][:1] == ["skin.trial_vs_prp"], reply["payload"]


def test_thanks_and_goodbye_while_a_hand_off_waits_get_their_reply_and_questions_wait(full):
    """Until a person takes the conversation, a goodbye is answered; a question waits for the person."""
    waiting = {HANDOFF_SLOT: WAITING}
    reply, events = run(ActionGoodbye(full), tracker("好啦謝謝你喔 我要去擺攤了 掰掰", "goodbye", waiting))
    assert reply["payload"]["type"] == "greeting" and reply["text"]
    assert HANDOFF_SLOT not in slots(events), "the conversation still waits for a person"
    reply, _ = run(ActionAnswer(full), tracker("外泌体是什么？", "ask_knowledge", waiting))
    assert reply["payload"]["type"] == "handoff" and not reply["text"]
    reply, _ = run(ActionGoodbye(full), tracker("bye", "goodbye", {HANDOFF_SLOT: "staff"}))
    assert reply["payload"]["type"] == "handoff" and not reply["text"], "a person holds it: the bot stays quiet"


@pytest.mark.parametrize(
    "previous, text, fact",
    [
        ("claims.systemic_injection", "so it doesnt work then? 😕", "advice.systemic_products"),
        ("skin.systematic_reviews", "so 結論是有用還是沒用 我看不懂", "skin.systematic_reviews"),
        ("animal.limits", "所以结论是？", "verdict.overall"),
    ],
)
def test_a_conclusion_asked_of_the_previous_answer_is_that_subjects_conclusion(full, previous, text, fact):
    slots = {"last_question": "previous question", "last_facts": [previous], "last_refs": []}
    reply, _ = run(ActionAnswer(full), tracker(text, "ask_knowledge", slots, ranking={"animal.limits": 0.3}))
    assert reply["payload"]["facts"][:1] == [fact], reply["payload"]


def test_a_cure_claim_repeated_in_a_babys_case_is_declined_as_personal_advice(full):
    """A baby's eczema is declined with the doctor advice even though the message repeats a cure claim; the
    claim's flag is dropped with it (a decline carries no flags)."""
    text = "宝宝八个月湿疹好严重 朋友说外泌体能治好湿疹 可以给宝宝抹一点吗"
    parsed = tracker(text, "ask_medical_advice")
    assert [f["code"] for f in parsed.latest_message["flags"]], "the message does repeat a cure claim"
    reply, _ = run(ActionMedicalAdvice(full), parsed)
    payload = reply["payload"]
    assert payload["type"] == "out_of_scope" and payload["flags"] == [] and not payload["facts"], payload


@pytest.mark.parametrize(
    "text, skin",
    [
        ("外泌體擦臉ㄉ 有研究證明有效ㄇ", True),
        ("All these exosome serums at the pharmacy, got real evidence one?", True),
        ("唔好呃我啦，吊個鹽水就後生廿年？冇可能㗎。我想問外泌體搽面嗰啲有冇研究支持？", True),
        ("外泌體點滴有冇研究支持", False),
        ("超速离心提外泌体的protocol有吗，想用实验室的细胞上清自己提一点敷脸", False),
    ],
)
def test_a_skin_product_asked_for_research_with_no_sure_fact_gets_the_skin_studies(full, text, skin):
    reply, _ = run(ActionAnswer(full), tracker(text, "ask_knowledge"))
    assert (reply["payload"]["facts"][:1] == ["skin.overview"]) is skin, reply["payload"]


@pytest.mark.parametrize("intent", ["ask_knowledge", "ask_medical_advice"])
def test_a_conclusion_asked_of_a_skin_answer_stays_with_the_skin_even_when_the_verdict_is_sure(full, intent):
    slots = {"last_question": "what did the reviews conclude", "last_facts": ["skin.systematic_reviews"]}
    action = ActionAnswer(full) if intent == "ask_knowledge" else ActionMedicalAdvice(full)
    t = tracker("so 結論是有用還是沒用 我看不懂", intent, slots, ranking={"verdict.overall": 0.8})
    reply, _ = run(action, t)
    assert reply["payload"]["facts"][:1] == ["skin.systematic_reviews"], reply["payload"]


@pytest.mark.parametrize(
    "text, segments, offered",
    [
        (
            "打外泌體針係咪真係可以逆齡？同埋搽嘅有冇用",
            [("打外泌体针是不是真是可以逆龄?", "claims.systemic_injection"), ("和搽的有没有用", "overview.evidence")],
            "skin.overview",
        ),
        (
            "do exosome drips reverse aging? and are they even safe",
            [
                ("do exosome drips reverse aging? ", "claims.systemic_injection"),
                ("and are they even safe", "safety.topical"),
            ],
            "safety.injection",
        ),
    ],
)
def test_a_question_apart_from_the_claim_is_offered_with_the_claims_answer(full, text, segments, offered):
    t = tracker(text, "check_claim")
    t.latest_message["fact_segments"] = [
        {"text": s, "question": True, "ranking": [{"fact": f, "confidence": 0.3}]} for s, f in segments
    ]
    reply, _ = run(ActionCheckClaim(full), t)
    payload = reply["payload"]
    assert [f["code"] for f in payload["flags"]][:1] == ["unsupported_systemic_injection_claim"]
    titles = [s["title"] for s in payload["suggestions"]]
    question = localize(full.kb.facts[offered].question, payload["lang"])
    assert offered in payload["facts"] or question in titles, (payload["facts"], titles)


def test_what_a_named_paper_says_is_its_finding_not_its_citation(full):
    reply, _ = run(ActionLookupReference(full), tracker("Cell Metabolism那篇 miR-302b的 讲的啥", "ask_reference"))
    assert reply["payload"]["type"] == "answer" and reply["payload"]["facts"][:1] == ["animal.mir302b"], reply[
        "payload"
    ]


@pytest.mark.parametrize("text", ["轉綠燈 陣間再問", "ok the lights changed, back in a bit"])
def test_a_message_taken_for_a_request_for_a_person_that_names_none_is_not_handed_off(full, text):
    reply, events = run(ActionHandoff(full), tracker(text, "request_human", confidence=0.6))
    assert reply["payload"]["type"] in ("out_of_scope", "greeting"), reply["payload"]
    assert HANDOFF_SLOT not in slots(events)


def test_an_ad_that_names_pregnant_women_keeps_its_claims_flags(full):
    """Pasted or photographed ad text that names pregnancy asks nothing personal: its claims are flagged."""
    text = "瑩肌 外泌體精華 臨床實證 皺紋減少87% 無副作用 孕婦都用得 各大藥妝店有售"
    parsed = tracker(text, "check_claim")
    codes = [f["code"] for f in parsed.latest_message["flags"]]
    assert codes, "the ad makes a claim"
    reply, _ = run(ActionCheckClaim(full), parsed)
    assert [f["code"] for f in reply["payload"]["flags"]] == codes, reply["payload"]


@pytest.mark.parametrize(
    "action, text, intent",
    [
        (ActionThanks, "好吧 那先這樣 謝啦", "thanks"),
        (ActionThanks, "好嘛 晓得了 谢谢你哈 我把你说的发到群里头去", "thanks"),
        (ActionGoodbye, "ok bye then, gotta run", "goodbye"),
    ],
)
def test_thanks_that_asks_nothing_is_thanked_not_answered_again(full, action, text, intent):
    """An acknowledgement ("好吧", "好嘛") asks nothing: after an answer, thanks gets thanks, not that answer."""
    previous = {
        "last_question": "老鼠的結果能套到人身上嗎",
        "last_facts": ["overview.human_vs_animal"],
        "last_refs": [1],
    }
    reply, _ = run(action(full), tracker(text, intent, previous, confidence=0.7))
    assert reply["payload"]["type"] == "greeting" and not reply["payload"]["facts"], reply["payload"]


@pytest.mark.parametrize("intent", ["ask_knowledge", "check_claim"])
def test_asking_in_so_many_words_for_a_person_to_ask_is_handed_off(full, intent):
    reply, events = run(ActionAnswer(full), tracker("有沒有真人可以問 我想問細一點的", intent, confidence=0.5))
    assert reply["payload"]["type"] == "handoff" and slots(events)[HANDOFF_SLOT] == WAITING
    reply, _ = run(ActionAnswer(full), tracker("有冇真人做過", "ask_knowledge"))
    assert reply["payload"]["type"] == "answer", "people in a study are no request for a person"


def test_a_story_that_tells_a_wish_and_asks_in_general_is_answered_with_the_doctor_note(full):
    text = (
        "我阿嬤失智快三年了，我姑姑在網路上看到說外泌體可以修復腦神經，一直吵著要帶她去做。我自己是護理師，"
        "覺得證據應該很薄。所以外泌體對阿茲海默到底有沒有人體研究？"
    )
    reply, _ = run(ActionMedicalAdvice(full), tracker(text, "ask_medical_advice"))
    assert reply["payload"]["facts"][:1] == ["organs.alzheimers"], reply["payload"]
    asked = "我阿嬤失智快三年了，姑姑一直吵著要帶她去做。她可以去做嗎？"
    reply, _ = run(ActionMedicalAdvice(full), tracker(asked, "ask_medical_advice"))
    assert reply["payload"]["type"] == "out_of_scope" and not reply["payload"]["facts"]


@pytest.mark.parametrize(
    "text",
    [
        "朋友下禮拜要去做外泌體 診所說一個療程6次 每次2ml 這個劑量跟次數合理嗎",
        "THE CLINIC WANTS ME TO DO 6 OF THEM I V INFUSIONS ONE A MONTH. IS 6 THE RIGHT NUMBER FOR MY KNEES",
        "我上個禮拜做完外泌體微針 塊面到而家仲係紅紅痕痕 點算好",
        "老婆尋日做完，今日塊面仲紅紅腫腫，要點處理？",
        "alamak 上个礼拜有个 pt 做完 exosome MN 脸红红到现在 3 天还没退，我们要怎样处理？",
        "我做完外泌體微針兩日，塊面好痕，點算？",
        "我爸爸中風後可以打外泌體嗎？",
    ],
)
def test_a_dose_or_a_symptom_after_a_treatment_is_declined(full, text):
    reply, _ = run(ActionMedicalAdvice(full), tracker(text, "ask_medical_advice"))
    assert reply["payload"]["type"] == "out_of_scope" and reply["payload"]["intent"] == "ask_medical_advice"


@pytest.mark.parametrize(
    "text",
    [
        "my aunt is 70 with high cholesterol, should she do the exosome shots for her hips",
        "6 weeks after my c-section, can I start using the exosome cream on the scar",
        "阿婆八十几岁了 腰不好 打外泌体针靠谱吗 她这把年纪能打不",
        "我上个月刚做完鼻子，脸上想做外泌体导入，现在能做吗",
        "had the exosome mask on saturday and my chin is swollen and hot to touch",
        "做完外泌体光子第二天 脸上又红又痒 还起疙瘩",
        "how many sittings of the exosome hair treatment will my husband need",
        "外泌体要是输的话 打几回算完",
        "got the exosome peel on monday, my forehead is a bit itchy, should i put some cream on it",
        "我阿公有糖尿病 要不要让他试试外泌体针",
    ],
)
def test_a_question_whether_someone_can_have_it_or_a_fresh_symptom_is_declined(full, text):
    """Permission to have a treatment ("should she do", "能打不", "现在能做吗"), asked for someone named in the sentence,
    and a symptom after a treatment are declined, whatever fact the message also names."""
    reply, _ = run(ActionMedicalAdvice(full), tracker(text, "ask_medical_advice"))
    assert reply["payload"]["type"] == "out_of_scope" and reply["payload"]["intent"] == "ask_medical_advice"


@pytest.mark.parametrize(
    "text",
    [
        "我老伴买了一瓶外泌体面霜，天天往脸上擦，她说擦了皮肤紧了，这东西真有用吗？",
        "my sister got an exosome serum for her face, she says it makes her look younger, does that stuff actually work?",
    ],
)
def test_whether_a_skin_product_someone_uses_works_gets_the_skin_studies(full, text):
    """Taken for a personal question, a skin product named before a question that names nothing ("这东西真有用吗")
    gets the skin studies' overview with the doctor note, not a decline."""
    reply, _ = run(ActionMedicalAdvice(full), tracker(text, "ask_medical_advice"))
    assert reply["payload"]["facts"][:1] == ["skin.overview"], reply["payload"]


def test_a_clinic_that_used_it_on_someone_is_no_request_to_use_it(full):
    """'美容院给她用的' tells what was used, it asks no permission: not declined as personal advice."""
    turn = tracker("美容院给她用的到底是不是真外泌体", "ask_medical_advice")
    reply, _ = run(ActionMedicalAdvice(full), turn)
    assert reply["payload"]["intent"] != "ask_medical_advice" or reply["payload"]["facts"], reply["payload"]


@pytest.mark.parametrize(
    "text, fact",
    [
        ("my gran has parkinson's disease, exosome can help or not", "animal.parkinsons"),
        ("我阿爷有老人痴呆，外泌体可唔可以医㗎", "organs.alzheimers"),
        ("my dad has osteoarthritis in both knees, is there evidence for exosomes in joints?", "organs.bone_joint"),
    ],
)
def test_what_exosomes_can_do_for_someone_named_is_answered(full, text, fact):
    """'Can exosomes help…' asks what they do, not permission: answered even under the medical intent."""
    reply, _ = run(ActionMedicalAdvice(full), tracker(text, "ask_medical_advice"))
    assert fact in reply["payload"]["facts"], reply["payload"]


@pytest.mark.parametrize(
    "text",
    [
        "做一次兩萬多 這價錢合理嗎很瞎欸",
        "the spa is quoting me 900 per session for exosome microneedling, fair rate?",
        "可以叫诊所退款吗 那个外泌体疗程我只做了一次",
        "我老婆仲每日飲緊排毒茶，有冇用架？",
        "they also have a NAD plus drip on the menu that is supposed to make your whole body younger and give you "
        "energy like a teenager is that the same kind of thing",
        "讲座个佬仲卖NAD+吊针 话打完全身细胞都年轻返 同外泌体系咪一样嘢",
        "咁饮骨胶原呢 D广告成日卖",
    ],
)
def test_a_price_or_another_product_asked_as_a_question_is_not_covered(full, text):
    """A price ("這價錢合理嗎"), detox tea or a NAD+ drip (spelt "NAD plus") is not covered, and "like a teenager"
    names no child: no medical decline, no flag."""
    previous = {"last_question": "外泌體facial安唔安全", "last_facts": ["safety.topical"], "last_refs": [3]}
    reply, _ = run(ActionAnswer(full), tracker(text, "ask_knowledge", previous))
    payload = reply["payload"]
    assert payload["type"] == "out_of_scope" and payload["intent"] != "ask_medical_advice", payload
    assert not payload["flags"]


@pytest.mark.parametrize(
    "text, fact",
    [
        ("外泌体抗衰现在到底值不值得入坑 还是再观望观望", "verdict.overall"),
        ("exosomes for osteoporosis, anything?", "organs.fracture"),
    ],
)
def test_worth_getting_into_and_osteoporosis_reach_their_facts(full, text, fact):
    """ "值不值得入坑" asks whether it is worth it, not where to buy; osteoporosis is about bones."""
    reply, _ = run(ActionAnswer(full), tracker(text, "ask_knowledge"))
    assert reply["payload"]["facts"][:1] == [fact], reply["payload"]


def test_a_request_for_studies_to_cite_before_any_answer_gets_the_topics_fact(full):
    """No previous answer to take sources from: the studies of the topic asked about, by its fact and citations."""
    text = "寫報告 外泌體抗老 有什麼可以引用的 要人的 不要老鼠"
    reply, _ = run(ActionLookupReference(full), tracker(text, "ask_reference", ranking={"gaps.human_rcts": 0.6}))
    payload = reply["payload"]
    assert payload["type"] == "answer" and payload["facts"][:1] == ["gaps.human_rcts"], payload
    assert payload["citations"]
    reply, _ = run(ActionLookupReference(full), tracker("source?", "ask_reference", ranking={"gaps.human_rcts": 0.6}))
    assert reply["payload"]["type"] == "reference", "a bare request for sources lists them"


@pytest.mark.parametrize(
    "text, intent",
    [
        (
            "what should we be charging for it then, competitors are doing anything from £250 to £600 a session",
            "ask_medical_advice",
        ),
        ("咁飲膠原蛋白呢 有冇用", "out_of_scope"),
        (
            "MY BROTHER IN LAW SWEARS BY THEM CHELATION I V TREATMENTS, SAYS IT MAKES YOU YOUNG AGAIN. IS IT WORTH A DARN",
            "check_claim",
        ),
        ("那種直接打幹細胞的 是細胞本身喔不是外泌體 說可以讓膝蓋退化的軟骨長回來 有證據嗎", "check_claim"),
        (
            "my roommate drink collagen drink everyday, she say whole body skin all become young back one, 跟外泌体一样吗",
            "out_of_scope",
        ),
    ],
)
def test_another_treatment_or_a_price_is_not_covered_and_not_flagged(full, text, intent):
    previous = {"last_question": "外泌體drip", "last_facts": ["claims.systemic_injection"], "last_refs": [6]}
    t = tracker(text, intent, previous)
    action = {
        "check_claim": ActionCheckClaim,
        "out_of_scope": ActionOutOfScope,
        "ask_medical_advice": ActionMedicalAdvice,
    }
    reply, _ = run(action[intent](full), t)
    payload = reply["payload"]
    assert payload["type"] == "out_of_scope" and payload["intent"] != "ask_medical_advice", payload
    assert not payload["flags"]


@pytest.mark.parametrize(
    "previous, text, flagged",
    [
        ("传单上写打三次 肝肾都能修复 人年轻十岁", "所以是骗人的咯", True),
        ("He say after 3 exosome drips his liver n kidney all repair already", "so is bluff lah?", True),
        ("MY FRIEND SAY EXOSOME INJECTION CAN LIVE UNTIL 100 TRUE OR NOT", "so cannot make younger ah?", True),
        # The claim made before; naming the route again asks about the route, not the claim.
        (
            "exosome IV drips reverse ageing and regenerate your organs, any truth to that?",
            "Safety data for the IV route?",
            False,
        ),
        ("if i did the exosome drip would my whole body age slower?", "so it doesnt work then? 😕", False),
        # Whether it is worth it asks for the verdict, even with an effect word of its own.
        ("打外泌体点滴真的能让全身返老还童吗", "那我们这个年纪 还值不值得搞外泌体抗衰", False),
    ],
)
def test_a_dismissal_or_an_effect_asked_back_after_the_claim_is_the_claim_again(full, previous, text, flagged):
    t = tracker(text, "ask_knowledge", {"last_question": previous, "last_facts": ["claims.systemic_injection"]})
    t.events.insert(0, {"event": "user", "text": previous, "parse_data": parse(previous, "check_claim")})
    reply, _ = run(ActionAnswer(full), t)
    codes = [f["code"] for f in reply["payload"]["flags"]]
    assert ("unsupported_systemic_injection_claim" in codes) is flagged, reply["payload"]


@pytest.mark.parametrize(
    "text", ["好攰呀 啱啱連開三個鐘百家樂 🥱", "今天刚监考完期中考试，改卷改得眼睛都花了，咥了一碗油泼面才缓过来。"]
)
def test_small_talk_taken_for_a_medical_question_is_not_declined_as_one(full, text):
    reply, _ = run(ActionMedicalAdvice(full), tracker(text, "ask_medical_advice", confidence=0.6))
    assert reply["payload"]["type"] == "out_of_scope" and reply["payload"]["intent"] == "out_of_scope"


def test_they_after_an_answer_about_a_mouse_study_asks_about_that_study(full):
    previous = {
        "last_question": "whats the deal w that nature aging study where old mice got young plasma exosomes",
        "last_facts": ["animal.young_plasma"],
        "last_refs": [6],
    }
    t = tracker(
        "did they actually live longer or just run better", "ask_knowledge", previous, ranking={"gaps.follow_up": 0.12}
    )
    reply, _ = run(ActionAnswer(full), t)
    assert reply["payload"]["facts"][:1] == ["animal.young_plasma"], reply["payload"]


@pytest.mark.parametrize(
    "text, ranking",
    [
        (
            "the wife picked up some exosome face cream for 89 dollars does that stuff do a lick of good for wrinkles",
            {"skin.trial_microneedling": 0.5},
        ),
        ("我女儿给我买了一瓶外泌体的面霜 说是擦了脸上皱纹少 这个真的有用不", {"advice.skin": 0.6}),
    ],
)
def test_a_cream_at_home_asks_about_the_skin_studies_not_microneedling(full, text, ranking):
    reply, _ = run(ActionAnswer(full), tracker(text, "ask_knowledge", ranking=ranking))
    assert reply["payload"]["facts"][:1] == ["skin.overview"], reply["payload"]
    needled = "does exosome microneedling with a serum do anything for wrinkles"
    reply, _ = run(ActionAnswer(full), tracker(needled, "ask_knowledge", ranking={"skin.trial_microneedling": 0.6}))
    assert reply["payload"]["facts"][:1] == ["skin.trial_microneedling"], reply["payload"]


@pytest.mark.parametrize(
    "previous, text, fact",
    [
        ("delivery.microneedle", "那有真人做過實驗嗎", "skin.trial_microneedling"),
        ("advice.skin", "咁有冇人真係做過 效果點", "skin.trial_microneedling"),
        # After a mechanism, whether it holds in people is the caveat's question, not a trial's.
        ("mechanism.skin", "咁喺真人度都係咁?", "mechanism.caveat"),
    ],
)
def test_real_people_asked_after_a_method_get_the_trial_in_people_it_lists(full, previous, text, fact):
    slots = {"last_question": "外泌體微針係點樣", "last_facts": [previous], "last_refs": []}
    reply, _ = run(ActionAnswer(full), tracker(text, "ask_knowledge", slots, ranking={"overview.human_vs_animal": 0.5}))
    assert reply["payload"]["facts"][:1] == [fact], reply["payload"]


def test_a_procedure_set_aside_asks_about_the_skin_products_at_home(full):
    text = "ok in general then, does putting exosomes on ur skin do anything w/o the needles"
    reply, _ = run(ActionAnswer(full), tracker(text, "ask_knowledge", ranking={"delivery.microneedle": 0.6}))
    assert reply["payload"]["facts"][:1] == ["skin.overview"], reply["payload"]


@pytest.mark.parametrize(
    "text, asks_in_general",
    [
        (
            "Does an exosome facial actually make your skin look younger, any evidence or is it just a glow for a day?",
            True,
        ),
        ("What human evidence currently exists for topical exosome products? How many trials?", True),
        ("the platelet exosome study: any evidence it lasts beyond six weeks?", False),
    ],
)
def test_a_general_question_about_skin_products_gets_the_skin_studies_not_one_study(full, text, asks_in_general):
    reply, _ = run(
        ActionAnswer(full), tracker(text, "ask_knowledge", ranking={"skin.trial_platelet": 0.5, "advice.skin": 0.2})
    )
    lead = reply["payload"]["facts"][:1]
    assert lead == (["skin.overview"] if asks_in_general else ["skin.trial_platelet"]), reply["payload"]


@pytest.mark.parametrize(
    "text, fact",
    [
        ("我知吊鹽水唔會返老還童㗎喇 唔使講 我淨係想知做外泌體facial安唔安全", "safety.topical"),
        ("我晓得打针返老还童是扯的哈 莫得证据 我就想问敷的那种面膜安全不", "safety.topical"),
        # No skin product in the question: the drips the whole message is about.
        (
            "I KNOW the drips dont make you younger, you dont have to repeat it. are they SAFE? yes or no",
            "safety.injection",
        ),
    ],
)
def test_the_question_after_the_writer_denies_the_claim_is_the_one_answered(full, text, fact):
    t = tracker(text, "ask_knowledge", ranking={"safety.injection": 0.5})
    norm = t.latest_message["norm_text"]

    def skin_or_drip(sentence: str) -> str:
        return "safety.topical" if "facial" in sentence or "面膜" in sentence else "safety.injection"

    # The sentences with their own rankings, as the trained FactClassifier adds them (`fact_segments`).
    t.latest_message["fact_segments"] = [
        {
            "text": norm[s.start : s.end],
            "question": s.question,
            "ranking": [{"fact": skin_or_drip(norm[s.start : s.end]), "confidence": 0.6}],
        }
        for s in split_segments(norm)
    ]
    reply, _ = run(ActionAnswer(full), t)
    assert reply["payload"]["facts"][:1] == [fact] and not reply["payload"]["flags"], reply["payload"]


@pytest.mark.parametrize(
    "text, lead",
    [
        ("朋友的美容院有个「逆龄活力点滴」 里面加了外泌体 这种安全吗", "safety.injection"),
        ("my aunt's beauty parlour does a 'Glow Boost drip' with exosomes in it, is it safe?", "safety.injection"),
        ("外泌体面霜抹脸安全吗", "safety.topical"),
    ],
)
def test_a_safety_question_about_a_drip_gets_the_injections_safety(full, text, lead):
    """The classifier may lead with the skin products' safety (a beauty salon, "安全"); a drip or shot named with
    no skin product moves the answer to the injections' safety."""
    reply, _ = run(ActionAnswer(full), tracker(text, "ask_knowledge", ranking={"safety.topical": 0.75}))
    assert reply["payload"]["facts"][:1] == [lead], reply["payload"]


def test_a_cantonese_question_whether_a_skin_product_works_gets_the_skin_studies(full):
    """ "究竟系咪真系有效㗎" asks whether the serum named before it works (written Cantonese, not normalised away)."""
    text = "阿妈喺超市买咗支外泌体精华 话搽面可以去皱 究竟系咪真系有效㗎？"
    reply, _ = run(ActionAnswer(full), tracker(text, "ask_knowledge"))
    assert reply["payload"]["facts"][:1] == ["skin.overview"], reply["payload"]
