"""Loads the NLU term lists (data/nlu/lexicon.yml, claim_rules.yml) into matcher-ready mappings."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Callable, Optional, Protocol, TypeVar

import yaml

from bot.lang import normalize
from bot.paths import nlu_file

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class TermLoader(Protocol[T_co]):
    """A loader of one term file: `path` defaults to that file in the data folder being read."""

    def __call__(self, path: Optional[Path] = None) -> T_co:
        """The file's contents, read once per file."""


class LexiconError(ValueError):
    """A term file is invalid; the message names the file, the entry and what to fix."""


def _read(path: Path) -> dict:
    with path.open(encoding="utf-8") as f:
        data = yaml.safe_load(f)
    if not isinstance(data, dict):
        raise LexiconError(f"{path}: expected a mapping at the top level.")
    return data


def term_file(name: str) -> Callable[[Callable[[Path], T]], TermLoader[T]]:
    """Decorator of a loader of data/nlu/`name`: its `path` defaults to that file in the data folder being
    read (the checkout's, or a model's copy while the model loads), and each file is read once."""

    def decorate(load: Callable[[Path], T]) -> TermLoader[T]:
        cached = functools.lru_cache(maxsize=None)(load)

        @functools.wraps(load)
        def loader(path: Optional[Path] = None) -> T:
            return cached(Path(path) if path else nlu_file(name))

        return loader

    return decorate


def flatten_terms(path: Path, where: str, value: object) -> list[str]:
    """Flatten a `{zh: [...], en: [...]}` entry into one checked list of normal-form terms."""
    if not isinstance(value, dict) or not value:
        raise LexiconError(f"{path}: '{where}' must map 'zh'/'en' to lists of terms.")
    terms: list[str] = []
    for lang, words in value.items():
        if not isinstance(words, list):
            raise LexiconError(f"{path}: '{where}.{lang}' must be a list of terms.")
        for word in words:
            word = str(word)
            if normalize(word) != word or not word.strip():
                raise LexiconError(
                    f"{path}: '{where}.{lang}' term {word!r} is not in normal form; write {normalize(word)!r}."
                )
            terms.append(word)
    return terms


@term_file("lexicon.yml")
def entity_terms(path: Path) -> dict[str, list[str]]:
    """Matcher labels `entity:value` -> terms, from the `entities` section of the lexicon."""
    data = _read(path)
    result: dict[str, list[str]] = {}
    for entity, values in (data.get("entities") or {}).items():
        for value, langs in values.items():
            result[f"{entity}:{value}"] = flatten_terms(path, f"entities.{entity}.{value}", langs)
    return result


@term_file("lexicon.yml")
def journal_groups(path: Path) -> list[list[str]]:
    """Groups of names of one journal; the first name of each group is the entity value."""
    groups = _read(path).get("journals") or []
    for group in groups:
        if not isinstance(group, list) or not group or any(normalize(str(n)) != str(n) for n in group):
            raise LexiconError(f"{path}: journal group {group!r} must be a non-empty list of normal-form names.")
    return [[str(n) for n in group] for group in groups]


@term_file("lexicon.yml")
def cues(path: Path) -> dict[str, list[str]]:
    """Cue lists the actions use (follow_up, all_sources, more)."""
    return {name: flatten_terms(path, f"cues.{name}", value) for name, value in (_read(path).get("cues") or {}).items()}


@term_file("claim_rules.yml")
def claim_rules(path: Path) -> dict[str, list[str]]:
    """Term lists of the claim detector by role (route, effect_strong, ...)."""
    return {role: flatten_terms(path, role, value) for role, value in _read(path).items()}


@term_file("intent_cues.yml")
def cue_groups(path: Path) -> dict[str, list[str]]:
    """Cue groups of the intent classifier's features (data/nlu/intent_cues.yml), by group name."""
    return {name: flatten_terms(path, name, value) for name, value in _read(path).items()}
