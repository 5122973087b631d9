"""The user's latest message as the actions read it from the tracker: text, script, intent, parse data and
the context the previous answer left in the slots."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from rasa_sdk import Tracker

from bot import guard
from bot.lang import LANGS, detect_script, normalize, script_is_ambiguous
from bot.ocr import IMAGE_KEY


@dataclass(frozen=True)
class Turn:
    """The user's latest message as our actions see it, with the context of the previous answer."""

    text: str
    lang: str
    intent: Optional[str]
    confidence: float
    entities: tuple[dict, ...]
    flags: tuple[str, ...]
    problem: Optional[str]
    last_question: Optional[str]
    last_facts: tuple[str, ...]
    last_refs: tuple[int, ...]
    norm_text: str = ""
    ranking: tuple[dict, ...] = ()
    segments: tuple[dict, ...] = ()
    previous_text: Optional[str] = None

    @classmethod
    def from_tracker(cls, tracker: Tracker, default_lang: str) -> "Turn":
        """Build from a tracker; works without our NLU properties too (then they are recomputed)."""
        message = tracker.latest_message or {}
        text = message.get("text") or ""
        problem = message["input_problem"] if "input_problem" in message else guard.inspect(text)
        previous_lang = tracker.get_slot("lang")
        lang = (
            message.get("lang")
            or detect_script(guard.blank_markup(text))
            or (previous_lang if previous_lang in LANGS else None)
            or default_lang
        )
        if lang.startswith("zh") and script_is_ambiguous(text):
            # "那是在人身上做的喔？" reads the same in both scripts: keep the conversation's, else follow the
            # script the user's app or browser is set to (the widget's language, Telegram's language_code).
            hint = _script_hint(tracker)
            if previous_lang in ("zh-Hans", "zh-Hant"):
                lang = previous_lang
            elif hint is not None:
                lang = hint
        if text.strip().lstrip("\u2060").startswith("/") and previous_lang in LANGS:
            lang = previous_lang  # a typed command ("/restart") says nothing about the writer's language
        intent = message.get("intent") or {}
        return cls(
            text=text,
            lang=lang,
            intent=intent.get("name"),
            confidence=float(intent.get("confidence") or 0.0),
            entities=tuple(message.get("entities") or ()),
            flags=tuple(dict.fromkeys(f["code"] for f in message.get("flags") or ())),
            problem=problem,
            last_question=tracker.get_slot("last_question"),
            last_facts=tuple(tracker.get_slot("last_facts") or ()),
            last_refs=tuple(int(n) for n in tracker.get_slot("last_refs") or ()),
            norm_text=message.get("norm_text") or normalize(guard.blank_markup(text)),
            ranking=tuple(message.get("fact_ranking") or ()),
            segments=tuple(message.get("fact_segments") or ()),
            previous_text=_previous_user_text(tracker),
        )

    def values(self, entity: str) -> List[str]:
        """Values of one entity type, in message order, without repeats."""
        return list(dict.fromkeys(str(e["value"]) for e in self.entities if e.get("entity") == entity))


# The metadata key in which channels pass the script the user's app or browser is set to.
SCRIPT_HINT_KEY = "ui_lang"


def _latest_user_metadata(tracker: Tracker) -> Dict[str, Any]:
    """The metadata a channel gave with the latest user message ({} when none)."""
    for event in reversed(tracker.events or []):
        if event.get("event") == "user":
            metadata = event.get("metadata")
            return metadata if isinstance(metadata, dict) else {}
    return {}


def _script_hint(tracker: Tracker) -> Optional[str]:
    """zh-Hans or zh-Hant from the latest user message's metadata (`ui_lang`), if a channel gave one."""
    hint = _latest_user_metadata(tracker).get(SCRIPT_HINT_KEY)
    return hint if hint in ("zh-Hans", "zh-Hant") else None


def from_image(tracker: Tracker) -> bool:
    """True when the latest user message is text a channel read in an image (metadata `image`)."""
    return isinstance(_latest_user_metadata(tracker).get(IMAGE_KEY), dict)


def _previous_user_text(tracker: Tracker) -> Optional[str]:
    """The normalised text of the user's message before the latest one, in the current session."""
    seen_latest = False
    for event in reversed(tracker.events or []):
        if event.get("event") == "session_started":
            return None
        if event.get("event") != "user":
            continue
        if not seen_latest:
            seen_latest = True
            continue
        parse = event.get("parse_data") or {}
        text = event.get("text") or ""
        return parse.get("norm_text") or normalize(guard.blank_markup(text)) or None
    return None
