"""Script detection, normalisation with stable offsets, and Traditional output."""

from __future__ import annotations

import pytest
import yaml

from bot.kb import default_knowledge_base
from bot.lang import detect_script, localize, normalize, to_traditional
from bot.paths import HANT_FIXES_FILE
from bot.texts import default_texts


@pytest.mark.parametrize(
    "text, script",
    [
        ("外泌体是什么？", "zh-Hans"),
        ("外泌體是什麼？", "zh-Hant"),
        ("What are exosomes?", "en"),
        ("MSC exosome 真的能抗老吗", "zh-Hans"),
        ("exosome 點滴真的有用嗎", "zh-Hant"),
        ("係咪真係有用㗎", "zh-Hant"),
        # Cantonese in Simplified characters: 搵 is written on both sides of the border, 倾 is Simplified.
        ("有冇真人客服啊 想搵人倾下", "zh-Hans"),
        ("😀👍", None),
        ("12345", None),
    ],
)
def test_detect_script(text, script):
    assert detect_script(text) == script


def test_normalize_keeps_length_and_folds():
    text = "ＭＳＣ外泌體點滴，ＩＶ Drip！"
    norm = normalize(text)
    assert len(norm) == len(text)
    assert norm == "msc外泌体点滴,iv drip!"


def test_traditional_output_uses_domain_fixes():
    assert to_traditional("干细胞外泌体") == "幹細胞外泌體"


def test_no_known_conversion_error_in_any_text():
    wrong = list(yaml.safe_load(HANT_FIXES_FILE.read_text(encoding="utf-8"))["fixes"])
    texts = [f.text for f in default_knowledge_base().facts.values()]
    texts += [f.question for f in default_knowledge_base().facts.values()]
    texts += list(default_texts().entries.values())
    for entry in texts:
        converted = localize(entry, "zh-Hant")
        assert not any(w in converted for w in wrong), converted
