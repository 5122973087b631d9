"""Provenance (issue 11, point 2): every fact names the article passages it restates; loading checks the quotes,
their sections, the citation markers the article attaches to them and the level against the references' designs;
`python -m bot.kb --article` lists the facts whose passages a newer article no longer matches."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.kb import KnowledgeBaseError, default_knowledge_base, load_knowledge_base
from bot.kb.__main__ import main as kb_main
from bot.kb.provenance import Article, check_facts, citation_numbers, heading_title
from bot.paths import FACTS_DIR, ROOT, SOURCE_ARTICLE

PARKINSONS = "脐带血来源外泌体在帕金森病小鼠模型中可改善运动功能并减轻多巴胺能神经元损伤"


@pytest.fixture(scope="module")
def article() -> Article:
    return Article.load(SOURCE_ARTICLE)


# -- the real facts ---------------------------------------------------------------------------


def test_every_real_fact_passes_the_provenance_checks(article):
    kb = default_knowledge_base()
    assert len(kb.facts) == 56
    assert all(f.source for f in kb.facts.values())
    problems = check_facts(kb.facts.values(), dict(kb.references), article)
    assert not problems, "\n".join(p.message() for p in problems)


def test_article_assessment_passages_cite_nothing_and_every_ref_has_its_passage():
    for fact in default_knowledge_base().facts.values():
        covered = {n for p in fact.source for n in p.refs}
        assert set(fact.refs) <= covered, fact.id
        if fact.level == "article_assessment":
            assert not covered, fact.id


def test_the_issue_table_stays_fixed():
    """Issue 11's table: citations only where the article attaches them, statements at the article's strength."""
    kb = default_knowledge_base()
    assert 9 not in kb.fact("organs.alzheimers").refs and "小鼠" not in kb.fact("organs.alzheimers").text["zh"]
    assert not {18, 19} & set(kb.fact("basics.definition").refs + kb.fact("safety.injection").refs)
    assert {8, 9, 10, 11, 12, 13} <= set(kb.fact("overview.human_vs_animal").refs)
    assert (
        "假说" in kb.fact("animal.young_plasma").text["zh"]
        and "hypothesis" in kb.fact("animal.young_plasma").text["en"]
    )
    conditioned = kb.fact("advice.conditioned_media")
    assert "商家" not in conditioned.text["zh"] and "seller" not in conditioned.text["en"]
    topical = kb.fact("safety.topical")
    assert any(p.section == "长寿派评价" and not p.refs for p in topical.source)  # the microneedling sentence is advice


# -- the rules on the article -------------------------------------------------------------------


def test_headings_are_the_articles_titles_without_icons(article):
    assert {"什么是外泌体?", "核心概念", "动物实验局限性", "证据等级小结(皮肤年轻化)", "长寿派评价"} <= article.titles
    assert heading_title("🟡 初步证据 📅 最后更新:2026年3月 ⏱️ 阅读时间:约12分钟") is None
    assert heading_title("目前证据库中有限的临床试验数据包括:") is None
    assert heading_title("  • 系统综述:2篇,结论谨慎乐观[1][2]") is None
    assert article.section_at(article.occurrences(PARKINSONS)[0][0]) == "脑衰老与认知"


@pytest.mark.parametrize(
    "text, numbers",
    [
        ("[6]", {6}),
        ("[1][2]", {1, 2}),
        ("[6,7]", {6, 7}),
        ("[6、7]", {6, 7}),
        ("[6-8]", {6, 7, 8}),
        ("[6]–[8]", {6, 7, 8}),
        ("[1, 3-4]", {1, 3, 4}),
        ("no marker", set()),
    ],
)
def test_citation_markers_in_every_written_form(text, numbers):
    assert citation_numbers(text) == numbers


def test_a_marker_belongs_to_its_own_sentence_only(article):
    """[6] ends the Nature Aging sentence; the next sentence (the 'hypothesis') carries no marker."""
    before = article.occurrences("并延长寿命")[0]
    after = article.occurrences("假说迄今最有分量的直接动物证据之一")[0]
    assert citation_numbers(article.sentence(*before)) == {6}
    assert citation_numbers(article.sentence(*after)) == set()
    lead_in = article.occurrences("系统综述和综述文献反复指出以下关键缺口")[0]
    bullet = article.occurrences("最优来源细胞未确定")[0]  # a line break ends a sentence: bullets carry their own
    assert citation_numbers(article.sentence(*lead_in)) == {1, 2, 20, 21}
    assert citation_numbers(article.sentence(*bullet)) == set()


def test_quotes_ignore_whitespace_only(article):
    assert article.occurrences("MSC外泌体可改善衰老小鼠的认知损害")  # the article writes "MSC 外泌体"
    assert not article.occurrences("MSC 外泌体可改善衰老小鼠的认知损害。")  # its sentence ends with [9]。


# -- broken fixtures ----------------------------------------------------------------------------

GOOD_FACT = {
    "id": "animal.test",
    "topic": "test_topic",
    "level": "animal",
    "refs": [11],
    "question": {"zh": "外泌体对帕金森病有用吗？", "en": "Do exosomes help with Parkinson's disease?"},
    "keywords": {"zh": ["帕金森"], "en": ["parkinson"]},
    "text": {"zh": "测试用小鼠事实。", "en": "Test mouse fact."},
    "source": [{"section": "脑衰老与认知", "quote": PARKINSONS, "refs": [11]}],
}


def _small_kb(tmp_path: Path, **changes) -> Path:
    """A knowledge base of the real references and one fact file `small.yml` with one (changed) fact."""
    directory = tmp_path / "facts"
    directory.mkdir()
    shutil.copy(FACTS_DIR / "references.yml", directory / "references.yml")
    fact = {**GOOD_FACT, **changes}
    data = {"topics": [{"id": "test_topic", "title": {"zh": "测试", "en": "Test"}}], "facts": [fact]}
    (directory / "small.yml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return directory


def test_the_small_fixture_itself_is_valid(tmp_path):
    assert list(load_knowledge_base(_small_kb(tmp_path)).facts) == ["animal.test"]


def _passage(**changes) -> list[dict]:
    return [{**GOOD_FACT["source"][0], **changes}]


@pytest.mark.parametrize(
    "changes, field, words",
    [
        ({"source": _passage(quote=PARKINSONS.replace("运动功能", "认知功能"))}, "source[0].quote", "is not in"),
        (
            {"source": _passage(quote="小鼠实验显示，MSC 外泌体可改善衰老小鼠的认知损害")},
            "source[0].quote",
            "is not in",
        ),
        ({"refs": [10, 11], "source": _passage(refs=[10, 11])}, "source[0].refs", "attaches no marker [10]"),
        ({"level": "human_trial"}, "level", "stronger than the strongest design"),
        ({"level": "review"}, "level", "none of refs [11] is a review"),
        ({"refs": [9, 11]}, "refs", "[9] attached by none of the fact's passages"),
        ({"source": _passage(section="动物实验局限性")}, "source[0].section", "not under the heading"),
        ({"source": _passage(section="脑衰老")}, "source[0].section", "is not a heading"),
        ({"source": _passage(refs=[10])}, "source[0].refs", "which the fact's refs do not list"),
        ({"level": "article_assessment", "refs": []}, "source[0].refs", "article_assessment fact cites a study"),
        ({"source": []}, "source", "non-empty list"),
        ({"source": _passage(quote="帕金森病")}, "source[0].quote", "characters"),
        ({"source": _passage(page=3)}, "source[0].page", "unknown field"),
    ],
)
def test_a_broken_fact_fails_naming_file_fact_and_field(tmp_path, changes, field, words):
    with pytest.raises(KnowledgeBaseError) as error:
        load_knowledge_base(_small_kb(tmp_path, **changes))
    message = str(error.value)
    assert "small.yml" in message and "'animal.test'" in message and f"field '{field}'" in message, message
    assert words in message, message


def test_a_missing_source_field_fails(tmp_path):
    fact = {k: v for k, v in GOOD_FACT.items() if k != "source"}
    directory = _small_kb(tmp_path)
    data = yaml.safe_load((directory / "small.yml").read_text(encoding="utf-8"))
    data["facts"] = [fact]
    (directory / "small.yml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(KnowledgeBaseError, match=r"small.yml: fact 'animal.test', field 'source': missing"):
        load_knowledge_base(directory)


# -- a newer article ------------------------------------------------------------------------------


def _changed_article(tmp_path: Path, old: str, new: str) -> Path:
    text = SOURCE_ARTICLE.read_text(encoding="utf-8")
    assert text.count(old) == 1
    path = tmp_path / "article-2027.zh.txt"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def test_loading_against_a_changed_article_fails_naming_the_fact(tmp_path):
    article = _changed_article(tmp_path, PARKINSONS, "脐带血来源外泌体在帕金森病小鼠模型中可改善运动功能")
    with pytest.raises(KnowledgeBaseError) as error:
        load_knowledge_base(article=article)
    assert "animal.yml: fact 'animal.parkinsons', field 'source[0].quote'" in str(error.value)


def test_the_shipped_article_passes_the_cli(capsys):
    assert kb_main([]) == 0
    out = capsys.readouterr().out
    assert "56 facts" in out and "provenance: all" in out


def test_the_cli_lists_the_facts_a_changed_sentence_affects(tmp_path, capsys):
    article = _changed_article(tmp_path, PARKINSONS + "[11]", "脐带血来源外泌体在帕金森病小鼠模型中可改善运动症状[11]")
    assert kb_main(["--article", str(article)]) == 1
    out = capsys.readouterr().out
    assert str(article) in out and "animal.parkinsons (animal.yml" in out and "source[0].quote" in out
    assert "animal.overview" in out and "overview.human_vs_animal" in out  # they quote the same sentence
    assert "animal.stroke_bbb" not in out  # the sentence before is unchanged


def test_the_cli_reports_a_moved_citation(tmp_path, capsys):
    article = _changed_article(tmp_path, "减轻了血脑屏障衰老[10]", "减轻了血脑屏障衰老")
    assert kb_main(["--article", str(article)]) == 1
    out = capsys.readouterr().out
    assert "animal.stroke_bbb" in out and "source[0].refs" in out and "no marker [10]" in out


def test_the_cli_runs_as_a_module_from_any_directory(tmp_path):
    article = _changed_article(tmp_path, "上述动物实验结果不等同于人体证据", "上述动物实验结果不能直接等同于人体证据")
    result = subprocess.run(
        [sys.executable, "-m", "bot.kb", "--article", str(article)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 1, result.stderr
    assert "animal.limits" in result.stdout and "claims.systemic_injection" in result.stdout
    missing = subprocess.run(
        [sys.executable, "-m", "bot.kb", "--article", str(tmp_path / "nowhere.txt")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert missing.returncode == 1 and "no such article file" in missing.stderr
