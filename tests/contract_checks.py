"""Checks of the contract's visible text that every test of answers shares (tests/test_e2e_rest.py,
tests/test_parts.py): each part followed by its own grade and citations."""

from __future__ import annotations

from typing import Any, Dict

from bot.texts import Texts


def assert_parts_rendered(text: str, payload: Dict[str, Any], texts: Texts) -> None:
    """Each part's statement is followed by its own grade line and its own citations (or, for the review's
    own judgement, the line naming the review), before the next part starts; citations are the union of the
    parts' refs and the payload's evidence is the first part's."""
    lang = payload["lang"]
    parts = payload["parts"]
    shorts = {c["ref"]: c["short"] for c in payload["citations"]}
    starts, position = [], 0
    for part in parts:
        start = text.index(part["text"], position)
        starts.append(start)
        position = start + len(part["text"])
    for i, part in enumerate(parts):
        end = starts[i + 1] if i + 1 < len(parts) else len(text)
        after = text[starts[i] + len(part["text"]) : end]
        assert (
            texts.get("format.evidence_line", lang, label=part["evidence"]["label"]) in after
        ), f"part {i + 1} ({part['fact']}) is not followed by its own grade"
        for n in part["refs"]:
            assert f"[{n}] {shorts[n]}" in text[starts[i] : end], f"part {i + 1} does not show its source [{n}]"
        if part["evidence"]["level"] == "article_assessment":
            assert not part["refs"] and payload["source"]["title"] in after
    assert sorted({n for p in parts for n in p["refs"]}) == [c["ref"] for c in payload["citations"]]
    assert payload["evidence"] == parts[0]["evidence"]


def assert_rating_stored(added: list, rating: str, channel: str, answer: Dict[str, Any]) -> None:
    """Contract 1.1 section 3: a rating is one `feedback` slot event naming the answer it rates."""
    assert [e["event"] for e in added] == ["slot"] and added[0]["name"] == "feedback", added
    value = added[0]["value"]
    assert value["rating"] == rating and value["channel"] == channel
    assert value["answer_timestamp"] == answer["timestamp"]
    assert value["answer_facts"] == answer["data"]["custom"]["facts"]


# One question per script with the words its grade and sources lines start with (messaging-channel tests).
QUESTIONS_IN_THREE_SCRIPTS = [
    ("Do exosomes help with Parkinson's disease?", "en", "Evidence: ", "Sources: ["),
    ("外泌体对帕金森病有用吗？", "zh-Hans", "证据等级：", "参考文献：["),
    ("外泌體護膚有用嗎？", "zh-Hant", "證據等級：", "參考文獻：["),
]

# Questions whose answers (all 23 references, in full) are longer than any messaging app allows, with the
# words their grade and sources lines start with.
LONG_ANSWER_QUESTIONS = [
    ("Please give me " + ", ".join(f"reference {n}" for n in range(1, 24)) + " in full", "Evidence: ", "Sources: "),
    ("请给我" + "、".join(f"参考文献{n}" for n in range(1, 24)) + "的全文", "证据等级：", "参考文献："),
]
