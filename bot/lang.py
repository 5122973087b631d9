"""Script detection, normalisation and Simplified/Traditional conversion, shared by NLU and actions."""

from __future__ import annotations

import functools
import re
from typing import Literal, Mapping, Optional

import opencc
import yaml

from bot.paths import HANT_FIXES_FILE

Lang = Literal["zh-Hans", "zh-Hant", "en"]
LANGS: tuple[Lang, ...] = ("zh-Hans", "zh-Hant", "en")

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# Characters of written Cantonese that are the same in both scripts.
_CANTONESE = frozenset("冇㗎嘅咗唔佢啲喺嚟睇咩嘢乜哋噉咁畀揾搵攞嗰𠵱啱嘥掂喇")
_ZHUYIN = re.compile(r"[\u3105-\u312f\u31a0-\u31bf]")
_LATIN = re.compile(r"[A-Za-z\uff21-\uff3a\uff41-\uff5a]")


@functools.lru_cache(maxsize=None)
def _converter(config: str) -> opencc.OpenCC:
    return opencc.OpenCC(f"{config}.json")


@functools.lru_cache(maxsize=None)
def _hant_fixes() -> dict[str, str]:
    with HANT_FIXES_FILE.open(encoding="utf-8") as f:
        return dict((yaml.safe_load(f) or {}).get("fixes") or {})


def has_cjk(text: str) -> bool:
    """True when the text holds at least one Chinese character."""
    return _CJK.search(text) is not None


def detect_script(text: str) -> Optional[Lang]:
    """Return `zh-Hant`, `zh-Hans` or `en` for the text, or None when it has no letters at all.

    Any Chinese character makes the message Chinese (mixed Chinese/English gets Chinese); it is
    Traditional when more of its characters are Traditional-only than Simplified-only.
    """
    han = "".join(_CJK.findall(text))
    if han:
        to_simplified = _same_length_convert(han, "t2s")
        to_traditional = _same_length_convert(han, "s2t")
        # Cantonese characters that OpenCC folds to rare variants (嗰 → 𠮶) say nothing about the script.
        traditional_only = sum(a != b and a not in _CANTONESE for a, b in zip(han, to_simplified))
        simplified_only = sum(a != b for a, b in zip(han, to_traditional))
        # Written Cantonese (冇, 㗎, 嘅, 咗 ...) is written in Traditional characters in Hong Kong: it tells
        # Traditional where no character is Simplified-only ("exosome serum 有冇 evidence 㗎？").
        if _ZHUYIN.search(text) and simplified_only <= traditional_only + 1:
            return "zh-Hant"  # zhuyin (ㄇ, ㄉ) is written in Taiwan only
        if simplified_only <= traditional_only and any(c in _CANTONESE for c in han):
            return "zh-Hant"  # also on a tie: "搞掂晒 返枱開工" (晒 reads as Simplified, 開 is Traditional)
        return "zh-Hant" if traditional_only > simplified_only else "zh-Hans"
    if _LATIN.search(text):
        return "en"
    return None


def script_is_ambiguous(text: str) -> bool:
    """True when a Chinese text reads the same in Simplified and Traditional characters (or has no
    Chinese at all), so its script says nothing about the writer's."""
    han = "".join(_CJK.findall(text))
    return han == _same_length_convert(han, "t2s") == _same_length_convert(han, "s2t")


def _same_length_convert(text: str, config: str) -> str:
    """Convert with OpenCC, falling back to character by character if lengths would differ."""
    converted = _converter(config).convert(text)
    if len(converted) == len(text):
        return converted
    out = []
    for char in text:
        c = _converter(config).convert(char)
        out.append(c if len(c) == 1 else char)
    return "".join(out)


def _fold_char(char: str) -> str:
    code = ord(char)
    if 0xFF01 <= code <= 0xFF5E:  # full-width ASCII
        char = chr(code - 0xFEE0)
    elif code == 0x3000:  # ideographic space
        char = " "
    lower = char.lower()
    return lower if len(lower) == 1 else char


@functools.lru_cache(maxsize=512)  # a turn normalises the same few texts many times
def normalize(text: str) -> str:
    """Full-width to half-width, Traditional to Simplified, lower case; same length as the input.

    Keeping the length lets tokens and entities found in the normalised text carry offsets that
    are valid in the original message.
    """
    folded = "".join(_fold_char(c) for c in text)
    if not has_cjk(folded):
        return folded
    return _same_length_convert(folded, "t2s")


def to_traditional(text: str) -> str:
    """Convert a Simplified Chinese reply to Traditional (Taiwan standard characters)."""
    converted = _converter("s2tw").convert(text)
    for wrong, right in _hant_fixes().items():
        converted = converted.replace(wrong, right)
    return converted


def base_lang(lang: str) -> str:
    """`zh` for either Chinese script, `en` otherwise: the key used in data files."""
    return "zh" if lang.startswith("zh") else "en"


def localize(texts: Mapping[str, str], lang: str) -> str:
    """Pick the text for `lang` from a `{zh, en}` mapping; Traditional is derived from `zh`.

    An explicit `zh-Hant` entry, when a data file has one, wins over the conversion.
    """
    if lang == "zh-Hant":
        return texts.get("zh-Hant") or to_traditional(texts["zh"])
    return texts[base_lang(lang)]


_HANT_REGIONS = ("hant", "tw", "hk", "mo")


def script_of_language_tag(tag: object) -> Optional[Lang]:
    """The Chinese script a language tag asks for ("zh-TW", "zh-hant", "zh-HK" → zh-Hant; "zh-CN",
    "zh-hans", "zh" → zh-Hans), None for other languages and anything that is not a tag."""
    if not isinstance(tag, str):
        return None
    parts = tag.strip().lower().replace("_", "-").split("-")
    if not parts or parts[0] != "zh":
        return None
    return "zh-Hant" if any(part in _HANT_REGIONS for part in parts[1:]) else "zh-Hans"
