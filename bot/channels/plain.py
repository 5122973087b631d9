"""Plain-text rendering shared by the messaging-app channels (WeChat, Telegram, LINE, WhatsApp).

A bot message carries the visible text and the contract payload (`custom`). Plain-text channels render an
answer from its payload (`flags`, `intro`, `parts`) with bot/reply.py's renderer, and show other messages'
text; never the payload as JSON. When the text is over the platform's limit, the parts' statements are
shortened; the warning lines, each part's grade line and sources line are always kept whole.
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Any, Callable, Dict, Generic, Iterable, List, Optional, Sequence, Tuple, TypeVar, cast

from bot.lang import detect_script
from bot.reply import sections
from bot.texts import Texts

Measure = Callable[[str], int]
Suggestion = Dict[str, str]
V = TypeVar("V")

# Punctuation after which a shortened body may end cleanly.
_SENTENCE_ENDS = "。！？；.!?;\n"
# "1", "１", "1.", "1、", "(1)" pick the first remembered suggestion.
_NUMBER = re.compile(r"[(（]?(\d{1,2})[)）.。、]?")


def utf8_bytes(text: str) -> int:
    """Length in UTF-8 bytes (WeChat counts its 2048-byte text limit this way)."""
    return len(text.encode("utf-8"))


def utf16_units(text: str) -> int:
    """Length in UTF-16 code units (Telegram counts its 4096-character limit this way)."""
    return len(text.encode("utf-16-le")) // 2


@dataclass(frozen=True)
class PlainReply:
    """What a plain-text channel sends: the fitted text and the suggestions it shows."""

    text: str
    lang: str
    suggestions: Tuple[Suggestion, ...] = ()


@dataclass
class _Block:
    """One section of a bot message: protected head (warnings, intro), body, protected closing lines."""

    head: List[str]
    body: str
    closing: List[str]
    refs: Tuple[int, ...] = ()
    first: bool = True  # starts a bot message (a blank line before it), else continues the one before

    def render(self) -> str:
        """The block as text."""
        return "\n".join(self.head + ([self.body] if self.body else []) + self.closing)


class RecentMap(Generic[V]):
    """A bounded map whose entries expire: suggestions per user, replies per message id."""

    def __init__(self, size: int = 4096, ttl: float = 3600.0) -> None:
        """Keep at most `size` entries, each for `ttl` seconds."""
        self.size, self.ttl = size, ttl
        self._items: "OrderedDict[str, Tuple[float, V]]" = OrderedDict()

    def get(self, key: str) -> Optional[V]:
        """The value stored under `key`, or None when absent or expired."""
        item = self._items.get(key)
        if item is None:
            return None
        stamp, value = item
        if time.monotonic() - stamp > self.ttl:
            del self._items[key]
            return None
        return value

    def put(self, key: str, value: V) -> None:
        """Store `value`, dropping the oldest entries beyond the size bound."""
        self._items[key] = (time.monotonic(), value)
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)


def clean_user_text(text: str) -> str:
    """The user's words as the bot should read them.

    A leading slash is dropped, so that typing "/greet" on a messaging app cannot inject an intent
    the way Rasa's "/intent" syntax would (Telegram commands such as "/help@MyBot" become "help").
    """
    text = (text or "").strip()
    if text.startswith("/"):
        command, _, rest = text.lstrip("/").partition(" ")
        text = f"{command.split('@', 1)[0]} {rest}".strip()
    return text


def pick_suggestion(text: str, remembered: Sequence[Suggestion]) -> Optional[str]:
    """The payload of the suggestion a reply of just its number picks, or None."""
    match = _NUMBER.fullmatch(unicodedata.normalize("NFKC", text or "").strip())
    if not match or not remembered:
        return None
    number = int(match.group(1))
    if 1 <= number <= len(remembered):
        return remembered[number - 1]["payload"]
    return None


def _suggestions_of(message: Dict[str, Any], payload: Dict[str, Any]) -> List[Suggestion]:
    offered = payload.get("suggestions") or message.get("buttons") or message.get("quick_replies") or []
    found = []
    for item in offered:
        if isinstance(item, dict) and item.get("title"):
            found.append({"title": str(item["title"]), "payload": str(item.get("payload") or item["title"])})
    return found


def _pairs(messages: Iterable[Dict[str, Any]]) -> List[Tuple[str, Dict[str, Any], List[Suggestion]]]:
    """(text, payload, suggestions) per bot message; a payload sent apart joins the text before it."""
    pairs: List[Tuple[str, Dict[str, Any], List[Suggestion]]] = []
    for message in messages:
        payload = cast(Dict[str, Any], message.get("custom") if isinstance(message.get("custom"), dict) else {})
        text = cast(str, message.get("text") if isinstance(message.get("text"), str) else "")
        offered = _suggestions_of(message, payload)
        if not text.strip() and payload and pairs and pairs[-1][0] and not pairs[-1][1]:
            pairs[-1] = (pairs[-1][0], payload, offered or pairs[-1][2])
        else:
            pairs.append((text.strip(), payload, offered))
    return pairs


class PlainRenderer:
    """Turns bot messages into one plain text that fits a platform's length limit."""

    def __init__(self, texts: Texts) -> None:
        """Renderer using the channel sentences of `texts` (section `channels`)."""
        self.texts = texts

    def bilingual(self, key: str) -> str:
        """A channel sentence in Chinese, then English: for users whose language is not known yet."""
        return "\n\n".join(self.texts.get(f"channels.{key}", lang) for lang in ("zh-Hans", "en"))

    def render(self, messages: Iterable[Dict[str, Any]], limit: int, measure: Measure, numbered: bool) -> PlainReply:
        """The visible text of the messages (plus numbered suggestions), fitted to `limit`.

        Only `text` fields are shown; a `custom` payload contributes its suggestions and language.
        The suggestions are listed only when `numbered` (channels without buttons).
        """
        blocks: List[_Block] = []
        suggestions: List[Suggestion] = []
        lang: Optional[str] = None
        for text, payload, offered in _pairs(messages):
            lang = payload.get("lang") or lang
            suggestions = offered or suggestions
            if text or payload.get("parts"):
                blocks += [
                    _Block(list(section.head), section.body, list(section.closing), section.refs, first=i == 0)
                    for i, section in enumerate(sections(payload, self.texts, text))
                ]
        if not blocks:
            return PlainReply(text="", lang=lang or self.texts.default_lang)
        lang = lang or detect_script(" ".join(b.render() for b in blocks)) or self.texts.default_lang
        shown = list(suggestions)
        if numbered:
            text, shown = self._fit(blocks, shown, lang, limit, measure)
        else:
            text, _ = self._fit(blocks, [], lang, limit, measure)
        return PlainReply(text=text, lang=lang, suggestions=tuple(shown))

    def suggestion_list(self, suggestions: Sequence[Suggestion], lang: str) -> str:
        """The numbered suggestions with their header, as listed under an answer ("" when there are none)."""
        return self._list(suggestions, lang)

    # -- internals ----------------------------------------------------------------------------

    def _list(self, suggestions: Sequence[Suggestion], lang: str) -> str:
        if not suggestions:
            return ""
        lines = [self.texts.get("channels.suggestions_header", lang)]
        lines += [
            self.texts.get("channels.suggestion_item", lang, n=i, title=s["title"])
            for i, s in enumerate(suggestions, 1)
        ]
        return "\n".join(lines)

    def _assemble(self, blocks: Sequence[_Block], suggestions: Sequence[Suggestion], lang: str, note: str = "") -> str:
        """Messages apart by a blank line, the sections of one message line by line, then the shortening
        note and the numbered suggestions."""
        text = ""
        for block in blocks:
            rendered = block.render()
            if rendered:
                text += ("\n\n" if block.first else "\n") + rendered if text else rendered
        return "\n\n".join(p for p in (text, note, self._list(suggestions, lang)) if p)

    def _fit(
        self, blocks: List[_Block], suggestions: List[Suggestion], lang: str, limit: int, measure: Measure
    ) -> Tuple[str, List[Suggestion]]:
        text = self._assemble(blocks, suggestions, lang)
        if measure(text) <= limit:
            return text, suggestions
        note = self.texts.get("channels.shortened", lang)
        # Suggestions go (from the last) when they would leave the statements less than a quarter.
        floor = limit // 4
        while suggestions:
            bodies = sum(min(measure(b.body), floor) for b in blocks)
            bare = [replace(b, body="") for b in blocks]
            if measure(self._assemble(bare, suggestions, lang, note)) + bodies <= limit:
                break
            suggestions = suggestions[:-1]
        # Shorten the longest statements until everything fits; warnings, grades and sources stay whole.
        for block in sorted(blocks, key=lambda b: measure(b.body), reverse=True):
            overflow = measure(self._assemble(blocks, suggestions, lang, note)) - limit
            if overflow <= 0:
                break
            block.body = self._shorten(block.body, measure(block.body) - overflow, measure)
        text = self._assemble(blocks, suggestions, lang, note)
        if measure(text) > limit:
            # Only the warning and closing lines are left and still too long: cite by number only.
            for block in blocks:
                if block.refs and len(block.closing) > 1:
                    refs = "".join(f"[{n}]" for n in block.refs)
                    block.closing[-1] = self.texts.get("format.sources_line", lang, citations=refs)
            text = self._assemble(blocks, suggestions, lang, note)
        while measure(text) > limit:  # last resort, never expected with the project's texts
            text = text[:-1]
        return text, suggestions

    @staticmethod
    def _shorten(body: str, room: int, measure: Measure) -> str:
        """The body cut to at most `room`, at a sentence end when one is near, else with "…"."""
        if measure(body) <= room:
            return body
        room -= measure("…")
        if room <= 0:
            return ""
        low, high = 0, len(body)
        while low < high:
            middle = (low + high + 1) // 2
            if measure(body[:middle]) <= room:
                low = middle
            else:
                high = middle - 1
        cut = body[:low].rstrip()
        end = cut.rfind("\n")
        if end < len(cut) // 2:
            end = max(cut.rfind(c) for c in _SENTENCE_ENDS)
        if end >= len(cut) // 2:
            cut = cut[: end + 1].rstrip()
        elif cut:
            cut += "…"
        return cut
