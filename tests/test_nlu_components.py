"""One direct test per NLU component on a Simplified, a Traditional and an English sentence."""

from __future__ import annotations

import pytest
from rasa.nlu.constants import TOKENS_NAMES
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.claims import SystemicClaimDetector
from bot.nlu.entities import LexiconEntityExtractor
from bot.nlu.normalizer import ScriptNormalizer
from bot.nlu.tokenizer import BilingualTokenizer

SENTENCES = {
    "zh-Hans": "脐带间充质干细胞外泌体点滴能让全身变年轻吗？",
    "zh-Hant": "臍帶間充質幹細胞外泌體點滴能讓全身變年輕嗎？",
    "en": "Do umbilical cord MSC exosome IV drips make your whole body younger?",
}


@pytest.fixture(scope="module")
def normalizer():
    return ScriptNormalizer(ScriptNormalizer.get_default_config())


@pytest.fixture(scope="module")
def tokenizer():
    return BilingualTokenizer(BilingualTokenizer.get_default_config())


def _prepared(normalizer, text):
    message = Message.build(text=text)
    normalizer.process([message])
    return message


@pytest.mark.parametrize("script", SENTENCES)
def test_normalizer_sets_script_and_keeps_offsets(normalizer, script):
    message = _prepared(normalizer, SENTENCES[script])
    assert message.get("lang") == script
    assert message.get("input_problem") is None
    norm = message.get("norm_text")
    assert len(norm) == len(SENTENCES[script])
    assert norm == norm.lower()
    if script != "en":
        assert "外泌体" in norm and "点滴" in norm  # Traditional mapped to Simplified
    assert "lang" in message.as_dict(only_output_properties=True)


def test_normalizer_reports_problems_and_blanks_markup(normalizer):
    message = _prepared(normalizer, "<img src=x onerror=alert(1)>")
    assert message.get("input_problem") == "markup"
    assert message.get("norm_text").strip() == ""
    assert _prepared(normalizer, "😀😀").get("input_problem") == "emoji_only"


@pytest.mark.parametrize("script", SENTENCES)
def test_tokenizer_tokens_and_offsets(normalizer, tokenizer, script):
    text = SENTENCES[script]
    message = _prepared(normalizer, text)
    tokenizer.process([message])
    tokens = message.get(TOKENS_NAMES[TEXT])
    norm = message.get("norm_text")
    assert tokens and all(t.text.strip() for t in tokens), "no whitespace or empty tokens"
    for token in tokens:
        assert norm[token.start:token.end] == token.text
    words = [t.text for t in tokens]
    if script == "en":
        assert words[:4] == ["do", "umbilical", "cord", "msc"]
        assert {t.lemma for t in tokens if t.text == "drips"} == {"drip"}
        assert "?" not in words
    else:
        assert "外泌体" in words and "间充质干细胞" in words and "点滴" in words


def test_tokenizer_mixed_sentence_offsets(normalizer, tokenizer):
    text = "這個 serum 裡的 exosome 是真的嗎"
    message = _prepared(normalizer, text)
    tokenizer.process([message])
    tokens = message.get(TOKENS_NAMES[TEXT])
    assert [text[t.start:t.end] for t in tokens if t.text in ("serum", "exosome")] == ["serum", "exosome"]
    assert message.get("lang") == "zh-Hant"


@pytest.mark.parametrize("script", SENTENCES)
def test_entity_extractor(normalizer, script):
    extractor = LexiconEntityExtractor(LexiconEntityExtractor.get_default_config())
    text = SENTENCES[script]
    message = _prepared(normalizer, text)
    extractor.process([message])
    found = {(e["entity"], e["value"]): text[e["start"]:e["end"]] for e in message.get("entities")}
    assert ("cell_source", "umbilical_cord") in found
    assert ("cell_source", "msc") in found
    assert ("route", "injection") in found
    span = found[("route", "injection")]
    assert span in ("點滴", "点滴", "IV", "drips") or span.lower() in ("iv", "drips")


@pytest.mark.parametrize(
    "text, entity, value",
    [
        ("第六篇文献是什么", "reference", "6"),
        ("第二十一篇文獻", "reference", "21"),
        ("What is reference number eleven?", "reference", "11"),
        ("ref #12", "reference", "12"),
        ("PMID of the Nature Aging paper", "journal", "nature aging"),
        ("the Proffer study", "author", "proffer"),
        ("PMID 38627524", "pmid", "38627524"),
    ],
)
def test_entity_extractor_references(normalizer, text, entity, value):
    extractor = LexiconEntityExtractor(LexiconEntityExtractor.get_default_config())
    message = _prepared(normalizer, text)
    extractor.process([message])
    assert (entity, value) in {(e["entity"], e["value"]) for e in message.get("entities")}


@pytest.mark.parametrize("script", SENTENCES)
def test_claim_detector_flags_all_three_scripts(normalizer, script):
    detector = SystemicClaimDetector(SystemicClaimDetector.get_default_config())
    text = SENTENCES[script]
    message = _prepared(normalizer, text)
    detector.process([message])
    flags = message.get("flags")
    assert [f["code"] for f in flags] == ["unsupported_systemic_injection_claim"]
    assert flags[0]["text"] == text[flags[0]["start"]:flags[0]["end"]]


@pytest.mark.parametrize(
    "text",
    [
        "外泌体面膜能让皮肤变年轻吗？",
        "微針加外泌體可以讓臉部年輕嗎",
        "How were the young plasma vesicles injected into the old mice in the Nature Aging study?",
        "Exosome IV drips don't make your whole body younger, I know that.",
    ],
)
def test_claim_detector_near_misses(normalizer, text):
    detector = SystemicClaimDetector(SystemicClaimDetector.get_default_config())
    message = _prepared(normalizer, text)
    detector.process([message])
    assert message.get("flags") == []


@pytest.mark.parametrize(
    "text, groups",
    [
        ("我妈妈在吃华法林，外泌体点滴能用吗", {"exosome", "personal", "domain"}),
        ("這個說法的出處是哪篇文獻？", {"reference"}),
        ("The salon says their exosome serum is clinically proven", {"exosome", "claim_marker", "domain"}),
    ],
)
def test_cue_featurizer_marks_cue_groups(normalizer, tokenizer, text, groups):
    from bot.nlu.cues import CueFeaturizer

    featurizer = CueFeaturizer(CueFeaturizer.get_default_config())
    message = _prepared(normalizer, text)
    tokenizer.process([message])
    featurizer.process([message])
    sequence, sentence = message.get_sparse_features(TEXT)
    columns = {name for name, i in featurizer.column.items() if sentence.features.toarray()[0, i]}
    assert groups <= columns and "other_product" not in columns
    assert sequence.features.shape[0] == len(message.get(TOKENS_NAMES[TEXT]))
