"""Input guard: what counts as unreadable input, and markup blanked without moving offsets."""

from __future__ import annotations

import pytest

from bot.guard import blank_markup, inspect


@pytest.mark.parametrize(
    "text, problem",
    [
        ("", "empty"),
        ("   \n\t", "empty"),
        ("a" * 2001, "too_long"),
        ("外" * 2000, None),
        ("hi\x00there", "unreadable"),
        ("\x1b[31mred", "unreadable"),
        ("\ufffd\ufffd", "unreadable"),
        ("😀😀👍", "emoji_only"),
        # Emoji newer than Python 3.10's Unicode tables (🥹 and 🫶 are Unicode 14) are still emoji, not binary.
        ("是真的嗎🥹", None),
        ("🥹🫶", "emoji_only"),
        ("\ufffe", "unreadable"),
        ("<img src=x onerror=alert(1)>", "markup"),
        ("<script>alert(1)</script>", "markup"),
        ("<b>what are exosomes?</b>", None),
        ("a < b and c > d", None),
        ("???", None),
        ("外泌体是什么", None),
    ],
)
def test_inspect(text, problem):
    assert inspect(text) == problem


def test_blank_markup_keeps_offsets_and_removes_scripts():
    text = "hi <script>alert('x')</script> there <a href='javascript:alert(1)'>link</a>"
    blanked = blank_markup(text)
    assert len(blanked) == len(text)
    assert "script" not in blanked and "javascript" not in blanked and "<" not in blanked
    assert blanked.split() == ["hi", "there", "link"]
