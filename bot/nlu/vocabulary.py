"""The domain vocabulary the rewriter corrects towards: words of our facts and term lists."""

from __future__ import annotations

import functools
from collections import Counter
from pathlib import Path
from typing import Iterator, Optional

import yaml

from bot.kb import KnowledgeBase, default_knowledge_base
from bot.lang import normalize
from bot.nlu.lexicon import claim_rules, cue_groups, cues, entity_terms
from bot.paths import data_dir, nlu_file

# Weight of a listed term against one occurrence in a fact text.
_TERM_WEIGHT = 5


def _terms() -> Iterator[str]:
    for terms in entity_terms().values():
        yield from terms
    for terms in claim_rules().values():
        yield from terms
    for terms in cue_groups().values():
        yield from terms
    for terms in cues().values():
        yield from terms
    from bot.nlu.claim_codes import default_code_rules

    for terms in default_code_rules().terms.values():
        yield from terms


def _kb_texts(kb: KnowledgeBase) -> Iterator[tuple[str, str]]:
    """(language key, text) of every fact's text, question and keywords."""
    for fact in kb.facts.values():
        for lang in ("zh", "en"):
            yield lang, fact.text[lang]
            yield lang, fact.question[lang]
            for word in fact.keywords.get(lang, ()):
                yield lang, word
            for word in fact.weak_keywords.get(lang, ()):
                yield lang, word


def english_vocabulary(kb: Optional[KnowledgeBase] = None) -> set[str]:
    """English words (4+ letters, with a plural form) of our facts and term lists."""
    from bot.nlu.rewrite import domain_vocabulary

    from bot.nlu.rewrite import english_words
    from rapidfuzz.distance import DamerauLevenshtein

    kb = kb or default_knowledge_base()
    canonical, _ = domain_vocabulary(t for lang, t in _kb_texts(kb) if lang == "en")
    listed, _ = domain_vocabulary(_terms())
    dictionary = english_words()
    # Term lists also carry common misspellings (exsome*, alzhiemer*) so that rules match them; those
    # are typos to correct, not words: a listed word one edit away from a fact's word is left out.
    by_length: dict[int, list[str]] = {}
    for word in canonical:
        by_length.setdefault(len(word), []).append(word)
    for word in listed - canonical:
        if word in dictionary or len(word) < 5:
            canonical.add(word)
            continue
        near = [c for n in (len(word) - 1, len(word), len(word) + 1) for c in by_length.get(n, ())]
        if not any(DamerauLevenshtein.distance(word, c, score_cutoff=1) <= 1 for c in near):
            canonical.add(word)
    return canonical


def chinese_terms(kb: Optional[KnowledgeBase] = None) -> set[str]:
    """Chinese terms (2+ characters) of our term lists, keywords and jieba dictionary."""
    from bot.nlu.rewrite import domain_vocabulary

    kb = kb or default_knowledge_base()
    texts = list(_terms()) + [w for fact in kb.facts.values() for w in fact.keywords.get("zh", ())]
    texts += [
        line.split()[0] for line in nlu_file("jieba_dict.txt").read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    _, chinese = domain_vocabulary(texts)
    return chinese


def chinese_vocabulary(variants_path: Optional[Path] = None) -> dict[str, int]:
    """Chinese word -> frequency, for converting pinyin: fact texts segmented, plus listed terms (of the
    data folder being read; `variants_path` replaces its data/nlu/variants.yml)."""
    return _chinese_vocabulary(variants_path or nlu_file("variants.yml"), data_dir())


@functools.lru_cache(maxsize=4)
def _chinese_vocabulary(variants_path: Path, folder: Path) -> dict[str, int]:
    from bot.nlu.pinyin import words_of

    kb = default_knowledge_base()
    counts: Counter[str] = words_of(t for lang, t in _kb_texts(kb) if lang == "zh")
    for term in chinese_terms(kb):
        counts[term] += _TERM_WEIGHT
    with variants_path.open(encoding="utf-8") as f:
        data = yaml.safe_load(f) or {}
    for word in data.get("pinyin_words") or ():
        counts[normalize(str(word))] += _TERM_WEIGHT * 2
    for section in ("cantonese", "regional"):
        for value in (data.get(section) or {}).values():
            if value:
                counts[str(value)] += 1
    return dict(counts)
