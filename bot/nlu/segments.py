"""Split a normalised message into its sentences and questions, for messages that ask two things or
wrap one question in several sentences of context."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Sentence ends, and connectors that start a new question ("另外", "还有", "also", "and what about") or turn
# from what the writer grants to what they ask ("I know drips can't do that, but is the facial safe?").
_BREAK = re.compile(
    r"[。！？!?；;\n]+|\.(?=\s|$)"
    r"|(?:^|[，,\s])(?=(?:另外|还有|仲有|顺便|再问|其次|然后呢|但是|不过|可是|但|我就想问|就想问|我只想问|我净是想知|净是想知|我只想知|我想问的是"
    r"|i'm asking\b|im asking\b|i am asking\b|my question is\b|i just want to know\b|just want to know\b|also\b|and also\b|and what about\b|what about\b|plus\b|another question\b|second\b|secondly\b|btw\b|but\b|however\b"
    r"|and (?=(?:how|what|why|is|are|does|do|did|can|could|will|would|where|which|who|should)\b)))"
    # Numbered questions: "1) ... 2) ...", "1. ... 2. ..." (not decimals such as 1.5).
    r"|(?<![\d.])(?=[1-9](?:[)）]|[.、](?!\d)))"
)
_CONTENT = re.compile(r"[a-z\u3400-\u4dbf\u4e00-\u9fff]")
# Chinese asking forms without a question word: A-not-A of any verb or adjective ("安不安全", "有没有",
# Cantonese 唔 normalised to 不) and a sentence-final 不 / 没(有) in chat ("安全不", "有用没", "试过没有").
CHINESE_ASKING_FORMS = r"([\u4e00-\u9fff])[不没]\1|(?<=[\u4e00-\u9fff])(?:不|没有?)\s*$"
_QUESTION = re.compile(
    r"[?？]|吗|吧|呢|么|嘛|是不是|有没有|会不会|能不能|可不可以|行不行|好不好|多少|多久|怎么|怎样|什么|为什么|哪|几|是否|靠谱|值得|啥|咧|伐|咋"
    r"|^\s*(?:(?:also|and|and also|plus|btw|so|but|ok|then|what about)\s+)?(?:what|how|why|which|who|where|when|is|are|do|does|did|can|could|should|will|would|any|has|have|was|were)\b"
    r"|\b(?:or not|right|legit|true|safe|bo|meh|anot|or no)\b\s*$"
    r"|\bany (?:data|evidence|proof|research|studies|study|trials?)\b"
    # A conclusion checked back in chat ("所以其实没什么用喔"): a question.
    r"|^\s*所以.*[喔哦噢啰咯][^\w]*$"
    r"|" + CHINESE_ASKING_FORMS
)
# Segments shorter than this many letters or characters are joined to the previous one.
_MIN_CONTENT = 4


@dataclass(frozen=True)
class Segment:
    """A sentence of a message: its span in the normalised text and whether it asks something."""

    start: int
    end: int
    question: bool


def split_segments(text: str) -> list[Segment]:
    """The sentences of a normalised text with enough content to stand alone (one or more)."""
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _BREAK.finditer(text):
        if m.start() > start or m.end() > start:
            spans.append((start, m.end()))
            start = m.end()
    if start < len(text):
        spans.append((start, len(text)))
    merged: list[tuple[int, int]] = []
    for s, e in spans:
        if merged and len(_CONTENT.findall(text[s:e])) < _MIN_CONTENT:
            merged[-1] = (merged[-1][0], e)
        elif not merged or len(_CONTENT.findall(text[merged[-1][0] : merged[-1][1]])) >= _MIN_CONTENT:
            merged.append((s, e))
        else:
            merged[-1] = (merged[-1][0], e)
    return [Segment(s, e, is_question(text[s:e])) for s, e in merged if _CONTENT.search(text[s:e])]


# Question words inside statements: "手不怎么抖了" (not much), "没什么副作用" (hardly any), "什么都能治" (anything),
# and acknowledgements whose particle asks nothing ("好吧 那先这样 谢啦", "好嘛 晓得了").
_NOT_ASKING = re.compile(
    r"[不没]怎么|没有?什么|[什怎]么都|(?:^|(?<=[\s,，。!！]))(?:那?好吧|好嘛|行吧|算了吧|要得嘛)(?=[\s,，。!！~]|$)"
)


def is_question(text: str) -> bool:
    """True when a sentence or clause asks something (a question mark, a question word or particle)."""
    return bool(_QUESTION.search(_NOT_ASKING.sub(" ", text.strip())))
