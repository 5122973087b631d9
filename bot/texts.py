"""The bot's own sentences (data/texts.yml), validated and localised; no reply text lives in Python."""

from __future__ import annotations

import functools
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional

import yaml

from bot.contract import FLAG_CODES, LEVELS
from bot.lang import LANGS, localize
from bot.paths import TEXTS_FILE


class TextsError(ValueError):
    """texts.yml is invalid; the message names the entry and what to fix."""


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def _check_entry(path: Path, key: str, entry: Any) -> None:
    if not isinstance(entry, dict) or not all(isinstance(entry.get(k), str) and entry[k] for k in ("zh", "en")):
        raise TextsError(f"{path}: entry '{key}' needs non-empty 'zh' and 'en' texts side by side.")
    names = {k: _placeholders(v) for k, v in entry.items()}
    if len({frozenset(v) for v in names.values()}) > 1:
        raise TextsError(f"{path}: entry '{key}' has different placeholders per language {names}. Use the same ones.")


@dataclass(frozen=True)
class Texts:
    """Validated catalogue of the bot's sentences, looked up by dotted key."""

    entries: Mapping[str, Mapping[str, str]]
    default_lang: str
    source_title: Mapping[str, str]
    source_updated: str
    default_suggestions: tuple[str, ...]

    def get(self, key: str, lang: str, **values: Any) -> str:
        """The sentence `key` in `lang`, with placeholders filled from `values`."""
        try:
            entry = self.entries[key]
        except KeyError:
            raise KeyError(f"texts.yml has no entry '{key}'. Add it with zh and en texts.") from None
        return localize(entry, lang).format(**values)

    def source(self, lang: str) -> dict[str, str]:
        """The contract's `source` object in `lang`."""
        return {"title": localize(self.source_title, lang), "updated": self.source_updated}


def load_texts(path: Optional[Path] = None) -> Texts:
    """Load and check texts.yml: both languages everywhere, matching placeholders, all levels and flags."""
    path = Path(path or TEXTS_FILE)
    with path.open(encoding="utf-8") as f:
        data = yaml.safe_load(f) or {}
    entries: dict[str, Mapping[str, str]] = {}
    for section in ("format", "levels", "flags", "replies", "input_errors", "images", "channels"):
        for key, entry in (data.get(section) or {}).items():
            dotted = f"{section}.{key}"
            _check_entry(path, dotted, entry)
            entries[dotted] = entry
    for level in LEVELS:
        if f"levels.{level}" not in entries:
            raise TextsError(f"{path}: no wording for evidence level '{level}' under 'levels'. Add zh and en.")
    for code in FLAG_CODES:
        message = entries.get(f"flags.{code}")
        if message is None or not all(message[k].startswith("⚠️") for k in ("zh", "en")):
            raise TextsError(f"{path}: flag '{code}' needs zh and en messages starting with '⚠️'.")
    default_lang = data.get("default_lang")
    if default_lang not in LANGS:
        raise TextsError(f"{path}: default_lang {default_lang!r} must be one of {list(LANGS)}.")
    source = data.get("source") or {}
    _check_entry(path, "source.title", source.get("title"))
    return Texts(
        entries=entries,
        default_lang=default_lang,
        source_title=source["title"],
        source_updated=str(source.get("updated", "")),
        default_suggestions=tuple(data.get("default_suggestions") or ()),
    )


@functools.lru_cache(maxsize=1)
def default_texts() -> Texts:
    """The project's texts, loaded once per process."""
    return load_texts()
