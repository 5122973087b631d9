"""The rewriter: how people type becomes how our data is written, with every offset mapped back."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.lang import normalize
from bot.nlu.pinyin import split_syllables
from bot.nlu.rewrite import Rewriter, Variants, map_span
from bot.nlu.vocabulary import chinese_terms, english_vocabulary


@pytest.fixture(scope="module")
def rewriter() -> Rewriter:
    return Rewriter(Variants.load(domain_en=english_vocabulary(), domain_zh=chinese_terms()))


def rewrite(rewriter: Rewriter, text: str):
    return rewriter.rewrite(normalize(text))


@pytest.mark.parametrize(
    "text, expected",
    [
        ("is exsome wrinkle creme saftey ok", "is exosome wrinkle cream safety ok"),
        ("alzhimers and exosomes", "alzheimers and exosomes"),
        ("steam cells vs exosomes", "stem cells vs exosomes"),
    ],
)
def test_english_typos_are_corrected(rewriter, text, expected):
    assert rewrite(rewriter, text).text == expected


def test_real_words_and_names_are_left_alone(rewriter):
    for text in (
        "is it safe to do a facial",
        "chen x nature aging",
        "long term safety of serums",
        "mir-302b and sirt1",
    ):
        assert rewrite(rewriter, text).text == normalize(text)


@pytest.mark.parametrize(
    "text, contains",
    [
        ("外泌體吊鹽水係咪真係可以令成個人後生返？", ["输液", "是不是", "整个人", "年轻"]),
        ("唔會令全身後生㗎", ["不会"]),
        ("腦退化症有冇用", ["老年痴呆", "有没有"]),
        ("柏金遜病人用外泌體", ["帕金森"]),
        ("關節退化點算", ["关节老化", "怎么办"]),
        # Handwriting and phonetic input slips: 吾 for 唔, 既 for 嘅, 甘 for 咁, 果 for 嗰; a young man is no effect.
        ("甘樣吊法安吾安全架？", ["这样", "安不安全"]),
        ("打咗會吾會記性好返D", ["会不会"]),
        ("打後生仔既外泌體", ["年轻人的外泌体"]),
        ("吊果D外泌體", ["吊那些"]),
        ("好，吾該晒你，拜拜。", ["谢谢"]),
        # Guangzhou and Hokkien words; 外泌體系咪 is 外泌體 + 系咪; Hokkien 後生 is a son; a final 某 asks.
        ("D嘢搽落块面真系有效果嘎", ["那些东西", "是有效果"]),
        ("你哋知唔知呢样嘢", ["知不知道", "这样东西"]),
        ("同外泌體系咪一樣嘢", ["外泌体是不是一样"]),
        ("啊按呢為什麼", ["这样"]),
        ("嘛共款有效某", ["也一样有效吗"]),
        ("伊的後生講外泌體足有效", ["的儿子"]),
        ("那打在膝頭的針 安全某", ["安全吗"]),
    ],
)
def test_cantonese_and_regional_terms(rewriter, text, contains):
    result = rewrite(rewriter, text).text
    assert all(word in result for word in contains), result


def test_protected_words_keep_their_meaning(rewriter):
    assert rewrite(rewriter, "关系到系统").text == "关系到系统"
    assert rewrite(rewriter, "既然小鼠有效 既往研究呢").text == "既然小鼠有效 既往研究呢"
    assert rewrite(rewriter, "某些研究 某种细胞").text == "某些研究 某种细胞"


@pytest.mark.parametrize(
    "text, expected",
    [
        # Dictated punctuation and words, clinic shorthand, another product's name spelt out.
        ("is it all just mice question mark", "is it all just mice ?"),
        ("micro kneading with ex o somes", "microneedling with exosomes"),
        ("exosome booster after mn", "exosome booster after microneedling"),
        ("a nad plus drip", "a nad+ drip"),
        ("energy like a teenager", "energy like a young person"),
    ],
)
def test_dictation_and_shorthand(rewriter, text, expected):
    assert rewrite(rewriter, text).text == expected


@pytest.mark.parametrize("text, word", [("外密体按全吗", "外泌体安全吗"), ("外泌提副做用大吗", "外泌体副作用大吗")])
def test_homophone_slips(rewriter, text, word):
    assert rewrite(rewriter, text).text == word


@pytest.mark.parametrize(
    "text, expected",
    [
        ("waimiti zhen de anquan ma", "外泌体真的安全吗"),
        ("wai mi ti you yong ma", "外泌体有用吗"),
        ("exosome anquan ma", "exosome 安全吗"),
    ],
)
def test_pinyin_only_messages_become_chinese(rewriter, text, expected):
    result = rewrite(rewriter, text)
    assert result.text == expected and result.pinyin


def test_english_is_never_taken_for_pinyin(rewriter):
    for text in ("can i use it on my face", "long term safety", "he is a man", "zhang paper in aging cell"):
        assert not rewrite(rewriter, text).pinyin, text


@pytest.mark.parametrize("text", ["ex0s0me shots y0unger", "exоsome shots younger", "e x o s o m e shots younger"])
def test_lookalike_letters(rewriter, text):
    assert rewrite(rewriter, text).text == "exosome shots younger"


def test_offsets_point_into_the_users_text(rewriter):
    text = "外泌體吊鹽水係咪真"
    result = rewrite(rewriter, text)
    start = result.text.index("输液")
    assert text[slice(*result.original_span(start, start + 2))] == "吊鹽水"
    pinyin = rewrite(rewriter, "waimiti anquan ma")
    assert "waimiti anquan ma"[slice(*pinyin.original_span(0, 3))] == "waimiti"


def test_pinyin_syllables():
    assert split_syllables("zhuangbei") == ["zhuang", "bei"]
    assert split_syllables("exosome") is None


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_any_text_rewrites_with_valid_spans(text):
    rewriter = _shared()
    norm = normalize(text)
    result = rewriter.rewrite(norm)
    assert len(result.spans) == len(result.text)
    for start, end in result.spans:
        assert 0 <= start <= end <= len(norm)
    if not result.changes:
        assert result.text == norm
    if result.text:
        start, end = map_span(result.spans, 0, len(result.text))
        assert 0 <= start <= end <= len(norm)


_REWRITER: list = []


def _shared() -> Rewriter:
    if not _REWRITER:
        _REWRITER.append(Rewriter(Variants.load(domain_en=english_vocabulary(), domain_zh=chinese_terms())))
    return _REWRITER[0]


@pytest.mark.parametrize(
    "text, expected",
    [("啲exo serum真係有用咩", "有用吗"), ("咁即係冇用咩", "没用吗"), ("mechanism 係咩", "是什么")],
)
def test_a_final_me_after_a_predicate_asks_yes_or_no_and_after_hai_asks_what(text: str, expected: str) -> None:
    """Cantonese 咩: "真係有用咩" (really useful?) is no "what", "係咩" (is what) is."""
    from tests.nlu_helpers import parse

    assert expected in parse(text, None)["norm_text"]
