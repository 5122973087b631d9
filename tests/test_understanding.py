"""How people really write, through the running bot: one test per way of typing (typos, Cantonese and
regional terms, mixed languages, pinyin, capitals, voice typing, long and two-question messages),
follow-ups and tapped suggestions, and the claim flag in plain words, capitals, look-alike letters,
across turns, under negation and in a personal phrasing. These are the project's own cases; the
held-out set (tests/test_heldout.py) is scored separately."""

from __future__ import annotations

import uuid
from typing import Any, Dict, Iterable

import pytest

from bot.contract import FLAG_SYSTEMIC_INJECTION
from bot.kb import default_knowledge_base
from tests.conftest import split_reply

KB = default_knowledge_base()


def sender(tag: str) -> str:
    return f"understanding-{tag}-{uuid.uuid4().hex[:8]}"


def reply(ask, who: str, text: str) -> tuple[str, Dict[str, Any]]:
    return split_reply(ask(who, text))


def assert_answer(payload: Dict[str, Any], text: str, facts: Iterable[str], lang: str) -> None:
    facts = set(facts)
    assert payload["type"] in ("answer", "advice", "claim_check"), payload
    assert payload["facts"] and payload["facts"][0] in facts, (payload["facts"], facts)
    lead = KB.fact(payload["facts"][0])
    assert payload["evidence"]["level"] == lead.level
    assert all(f"[{n}]" in text for n in lead.refs)
    assert payload["lang"] == lang


def flagged(payload: Dict[str, Any]) -> bool:
    return FLAG_SYSTEMIC_INJECTION in [f["code"] for f in payload["flags"]]


@pytest.mark.parametrize(
    "message, facts, lang",
    [
        ("are exsome facials saftey? any side affects", {"safety.topical"}, "en"),
        ("is exosme creme saftey for sensitve skin", {"safety.topical"}, "en"),
        ("外泌休會唔會令皮膚過敏", {"safety.topical"}, "zh-Hant"),
    ],
)
def test_typos(ask, message, facts, lang):
    text, payload = reply(ask, sender("typo"), message)
    assert_answer(payload, text, facts, lang)


@pytest.mark.parametrize(
    "message, facts",
    [
        ("外泌體對腦退化症有冇用㗎？", {"organs.alzheimers"}),
        ("屋企人有柏金遜，外泌體嘅研究點講？", {"animal.parkinsons"}),
        ("我阿媽關節退化，外泌體有冇研究過？", {"organs.bone_joint"}),
        ("吊鹽水打外泌體安唔安全㗎", {"safety.injection"}),
    ],
)
def test_cantonese_and_hong_kong_terms(ask, message, facts):
    text, payload = reply(ask, sender("yue"), message)
    assert_answer(payload, text, facts, "zh-Hant")


def test_mixed_chinese_and_english_gets_chinese(ask):
    text, payload = reply(ask, sender("mixed"), "exosome serum 有冇 clinical evidence 㗎？")
    assert_answer(
        payload,
        text,
        {"skin.overview", "skin.systematic_reviews", "skin.trial_platelet", "safety.commercial_products"},
        "zh-Hant",
    )
    text, payload = reply(ask, sender("mixed"), "这个 exosome IV 到底 safe 不 safe")
    assert_answer(payload, text, {"safety.injection"}, "zh-Hans")


def test_pinyin_only_message_is_answered_in_simplified(ask):
    text, payload = reply(ask, sender("pinyin"), "waimiti weizhen anquan ma")
    assert_answer(payload, text, {"safety.topical"}, "zh-Hans")


def test_all_capitals(ask):
    text, payload = reply(ask, sender("caps"), "DO EXOSOMES DO ANYTHING FOR PARKINSONS")
    assert_answer(payload, text, {"animal.parkinsons"}, "en")


def test_voice_typed_without_punctuation(ask):
    text, payload = reply(
        ask,
        sender("voice"),
        "ok so my friend keeps telling me about these exosome things and i wanted to ask how long have they "
        "actually followed people up in the studies like months or years",
    )
    assert_answer(payload, text, {"gaps.follow_up", "skin.limits", "safety.long_term"}, "en")


def test_long_message_with_one_real_question(ask):
    text, payload = reply(
        ask,
        sender("long"),
        "My sister runs a small beauty salon in Leeds. A supplier came by last week with a whole box of "
        "serums and leaflets. She does not want to sell anything dodgy to her clients. How can she tell if "
        "a serum really has exosomes in it?",
    )
    assert_answer(payload, text, {"advice.conditioned_media"}, "en")


def test_two_questions_answers_one_and_offers_the_other(ask):
    text, payload = reply(
        ask, sender("two"), "Is microneedling with exosomes safe? And do exosomes help with Parkinson's?"
    )
    offered = {f for f in payload["facts"]} | {
        f.id for f in KB.facts.values() for s in payload["suggestions"] if s["title"] == f.question["en"]
    }
    assert {"safety.topical", "animal.parkinsons"} <= offered | {payload["facts"][0]}, (
        payload["facts"],
        payload["suggestions"],
    )


def test_follow_up_leans_on_the_previous_turn(ask):
    who = sender("follow")
    _, first = reply(ask, who, "Are exosome facials safe?")
    assert first["facts"][0] == "safety.topical"
    text, payload = reply(ask, who, "and the IV ones?")
    assert_answer(payload, text, {"safety.injection"}, "en")
    who = sender("follow-zh")
    reply(ask, who, "外泌体面膜安全吗？")
    text, payload = reply(ask, who, "那打针呢？")
    assert_answer(payload, text, {"safety.injection"}, "zh-Hans")


def test_a_short_follow_up_naming_a_route_is_no_request_for_sources(ask):
    """ "打静脉那个呢" ("and the IV one?") after an answer is a topic follow-up, not "source?"."""
    who = sender("route-follow")
    _, first = reply(ask, who, "外泌体是怎么用到身体上的？涂还是打？")
    assert first["facts"][0] == "delivery.overview"
    text, payload = reply(ask, who, "打静脉那个呢")
    assert_answer(payload, text, {"delivery.iv_route", "safety.injection"}, "zh-Hans")
    _, sources = reply(ask, who, "出处？")
    assert sources["type"] == "reference"


def test_a_correction_sets_aside_what_it_denies(ask):
    """ "No, I meant the one you put on your face, not injections": the previous question, asked again about
    what the correction keeps."""
    who = sender("correct")
    _, first = reply(ask, who, "外泌体打针安全吗？")
    assert first["facts"][0] == "safety.injection"
    text, payload = reply(ask, who, "不不 我是说涂脸那种 不是打针")
    assert_answer(payload, text, {"safety.topical"}, "zh-Hans")


def test_tapped_suggestion_gets_its_own_facts_answer(ask):
    who = sender("tap")
    _, first = reply(ask, who, "Do exosomes help with Parkinson's disease?")
    for suggestion in first["suggestions"]:
        fact = next(f for f in KB.facts.values() if f.question["en"] == suggestion["title"])
        _, tapped = reply(ask, who, suggestion["payload"])
        assert tapped["facts"][0] == fact.id, (suggestion, tapped["facts"])


@pytest.mark.parametrize(
    "message, lang",
    [
        ("Will an exosome drip turn back my body clock?", "en"),
        ("打外泌体针能让人整个年轻十岁？", "zh-Hans"),
        ("聽講打外泌體針可以回春", "zh-Hant"),
        ("EXOSOME IV DRIPS MAKE YOUR WHOLE BODY YOUNGER, RIGHT?", "en"),
        ("ex0s0me infusi0ns reverse aging in every organ", "en"),
        ("if I had that exosome infusion, would I age slower everywhere?", "en"),
        ("吊大筒打外泌體，真的能讓老人變少年嗎？", "zh-Hant"),
        ("美容院话外泌体抗衰针打个疗程全身都后生返", "zh-Hans"),
        ("他们说把外泌体直接输进血管就能返老还童", "zh-Hans"),
    ],
)
def test_claim_flagged_in_plain_words_capitals_lookalikes_and_personal_phrasing(ask, message, lang):
    text, payload = reply(ask, sender("claim"), message)
    assert flagged(payload), payload
    assert payload["type"] == "claim_check" and payload["lang"] == lang
    assert text.startswith("⚠️")


def test_is_it_true_after_a_pasted_claim_keeps_the_flag(ask):
    who = sender("true")
    _, first = reply(ask, who, "朋友圈广告：「外泌体回输疗程，逆转衰老，修复五脏六腑」")
    assert flagged(first)
    _, second = reply(ask, who, "真的假的？")
    assert flagged(second) and second["facts"][0] == "claims.systemic_injection"


def test_claim_made_across_two_turns(ask):
    who = sender("across")
    _, first = reply(ask, who, "My spa sells exosome IV drips for 800 dollars.")
    assert not flagged(first)
    _, second = reply(ask, who, "They promise my whole body will be twenty years younger. True?")
    assert flagged(second)
    who = sender("across-zh")
    reply(ask, who, "美容院有外泌體吊鹽水")
    _, second = reply(ask, who, "佢哋話成個人會後生十年")
    assert flagged(second)


@pytest.mark.parametrize(
    "message",
    [
        "I know exosome drips can't make your whole body younger, so are they at least safe?",
        "我知道打外泌体针不可能让全身变年轻，那到底安不安全？",
        "外泌體吊鹽水唔會令成個人後生㗎，我只係想知安唔安全",
    ],
)
def test_negated_claim_is_not_flagged_and_the_real_question_is_answered(ask, message):
    text, payload = reply(ask, sender("negated"), message)
    assert not flagged(payload), payload
    assert payload["facts"] and payload["facts"][0] == "safety.injection", payload["facts"]


@pytest.mark.parametrize(
    "message",
    ["Is fish oil good for my heart?", "hyaluronic acid pills worth it?", "retinol 每晚用會唔會傷皮膚？"],
)
def test_other_products_are_out_of_scope(ask, message):
    _, payload = reply(ask, sender("oos"), message)
    assert payload["type"] == "out_of_scope" and payload["facts"] == []


def test_small_talk_is_not_a_greeting(ask):
    _, payload = reply(ask, sender("talk"), "lovely weather today isn't it")
    assert payload["type"] in ("out_of_scope", "fallback")


@pytest.mark.parametrize(
    "message",
    [
        "how many vials per session did the Nature Aging mice get?",
        "外泌体水光一次打几支比较好？",
        "Can pregnant women get exosome IV drips?",
        "Is an exosome facial safe while breastfeeding?",
        "可以俾我個仔（12歲）做外泌體微針嗎？",
        "我16岁，可以用外泌体精华吗？",
        "外泌体微针隔多久再做一次？一个月一次ok吗",
    ],
)
def test_dosing_and_personal_situations_are_declined(ask, message):
    text, payload = reply(ask, sender("medical"), message)
    assert payload["type"] == "out_of_scope" and payload["facts"] == []
    assert payload["intent"] == "ask_medical_advice"


@pytest.mark.parametrize(
    "message, facts",
    [
        ("ok i get that IV drips won't make you younger but is an exosome facial safe", {"safety.topical"}),
        ("我明白打點滴唔會令人後生，但係外泌體做面安唔安全？", {"safety.topical"}),
    ],
)
def test_what_follows_but_is_the_question(ask, message, facts):
    """ "I know X, but Y?": the answer is about Y, and granting X raises no flag."""
    _, payload = reply(ask, sender("but"), message)
    assert not flagged(payload) and payload["facts"][0] in facts, payload["facts"]


def test_prp_compared_with_exosomes_is_answered_from_the_trial_that_compares_them(ask):
    """Another product compared with exosomes is not covered, except PRP: a trial compares the two."""
    _, payload = reply(ask, sender("prp"), "Is PRP better than exosomes for the face?")
    assert payload["facts"] and payload["facts"][0] == "skin.trial_vs_prp", payload["facts"]
