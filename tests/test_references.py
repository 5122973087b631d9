"""references.yml holds the article's 23 references exactly as the article prints them."""

from __future__ import annotations

import re

import pytest

from bot.kb import default_knowledge_base
from bot.paths import ROOT, SOURCE_ARTICLE

SHARED_ARTICLE = ROOT.parent / "shared" / "source" / SOURCE_ARTICLE.name


def _article_reference_lines() -> dict[int, str]:
    text = SOURCE_ARTICLE.read_text(encoding="utf-8")
    section = text.split("参考文献", 1)[1]
    return {int(m.group(1)): m.group(2).strip() for m in re.finditer(r"^\s*(\d+)\. (.+)$", section, re.M)}


def test_the_article_lists_23_references():
    assert sorted(_article_reference_lines()) == list(range(1, 24))


@pytest.mark.parametrize("n", range(1, 24))
def test_reference_matches_the_article_exactly(n):
    ref = default_knowledge_base().references[n]
    printed = f"{ref.authors} {ref.title}. {ref.journal}. {ref.year}. DOI: {ref.doi}. PMID: {ref.pmid}"
    assert _article_reference_lines()[n] == printed


def test_short_form_follows_the_contract():
    assert default_knowledge_base().references[6].short == "Chen X et al., Nature Aging 2024"


@pytest.mark.skipif(not SHARED_ARTICLE.exists(), reason="the shared source folder is not next to this checkout")
def test_the_repository_copy_of_the_article_is_current():
    assert SOURCE_ARTICLE.read_bytes() == SHARED_ARTICLE.read_bytes()
