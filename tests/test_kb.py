"""Knowledge base: loading, validation errors that name file, fact and field, and fact selection."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from bot.contract import LEVELS
from bot.kb import KnowledgeBaseError, default_knowledge_base, load_knowledge_base
from bot.kb.retrieval import FactRetriever
from bot.lang import to_traditional
from bot.paths import FACTS_DIR

REQUIRED_FACTS = [
    "basics.definition",
    "basics.double_role",
    "basics.source_cell",
    "overview.evidence",
    "mechanism.mirna",
    "mechanism.mitochondria",
    "mechanism.pcna_telomeres",
    "mechanism.sirt1",
    "mechanism.anti_inflammatory",
    "mechanism.skin",
    "animal.young_plasma",
    "animal.mir302b",
    "animal.pcna",
    "animal.brain_sirt1",
    "animal.stroke_bbb",
    "animal.parkinsons",
    "animal.limits",
    "skin.systematic_reviews",
    "skin.trial_microneedling",
    "skin.trial_platelet",
    "skin.trial_vs_prp",
    "organs.bone_joint",
    "organs.fracture",
    "organs.wound",
    "organs.alzheimers",
    "organs.cardiovascular",
    "delivery.microneedle",
    "delivery.carriers",
    "delivery.iv_route",
    "safety.topical",
    "safety.long_term",
    "safety.double_role",
    "safety.commercial_products",
    "gaps.standardisation",
    "gaps.human_rcts",
    "gaps.follow_up",
    "gaps.source_cell",
    "gaps.regulation",
    "verdict.overall",
    "advice.skin",
    "advice.systemic_products",
    "advice.conditioned_media",
    "claims.systemic_injection",
]


@pytest.fixture(scope="module")
def kb():
    return default_knowledge_base()


@pytest.fixture(scope="module")
def retriever(kb):
    return FactRetriever(kb)


def test_the_project_knowledge_base_loads_and_covers_every_section(kb):
    missing = [f for f in REQUIRED_FACTS if f not in kb.facts]
    assert not missing, f"facts for these article sections are missing: {missing}"
    assert len(kb.references) == 23
    assert {f.level for f in kb.facts.values()} <= set(LEVELS)


def test_every_reference_is_cited_by_some_fact(kb):
    cited = {n for f in kb.facts.values() for n in f.refs}
    assert cited == set(range(1, 24))


def test_animal_facts_say_so(kb):
    for fact in kb.facts.values():
        if fact.level == "animal" and fact.id.startswith("animal."):
            assert "小鼠" in fact.text["zh"] or "动物" in fact.text["zh"], fact.id
            assert (
                "mice" in fact.text["en"].lower()
                or "mouse" in fact.text["en"].lower()
                or "animal" in fact.text["en"].lower()
            ), fact.id


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_fact_question_leads_back_to_its_fact(kb, retriever, lang):
    wrong = {}
    for fact in kb.facts.values():
        best = retriever.best(fact.question[lang])
        if best is None or best.fact.id != fact.id:
            wrong[fact.id] = best.fact.id if best else None
    assert not wrong, f"questions reaching another fact: {wrong}"


def test_traditional_questions_reach_the_same_facts(kb, retriever):
    wrong = [f.id for f in kb.facts.values() if retriever.best(to_traditional(f.question["zh"])).fact.id != f.id]
    assert not wrong


@pytest.mark.parametrize(
    "question, expected",
    [
        ("外泌体对帕金森病有没有用？", "animal.parkinsons"),
        ("Can exosomes help with Parkinson's?", "animal.parkinsons"),
        ("外泌體對中風有幫助嗎", "animal.stroke_bbb"),
        ("what does mir-302b do", "animal.mir302b"),
        ("Is exosome microneedling safe?", "safety.topical"),
        ("外泌体点滴安全吗", "safety.injection"),
        ("how long were people followed up in the studies?", "gaps.follow_up"),
        ("外泌体产品合法吗？有监管吗", "gaps.regulation"),
        ("how do I know if a serum has real exosomes or just conditioned media", "advice.conditioned_media"),
    ],
)
def test_specific_questions_get_the_specific_fact(retriever, question, expected):
    assert retriever.best(question).fact.id == expected


def test_a_question_with_no_known_keyword_matches_nothing(retriever):
    assert retriever.best("weather in Paris tomorrow, sunny or rainy") is None


def test_follow_up_uses_the_previous_question(retriever):
    alone = retriever.best("那安全吗？")
    with_context = retriever.best("那安全吗？", context="外泌体点滴能抗衰老吗")
    assert with_context.fact.id == "safety.injection"
    assert alone.fact.id != "safety.injection" or alone.score < with_context.score


# -- validation errors ------------------------------------------------------------------------


def _broken_copy(tmp_path: Path, edit) -> Path:
    target = tmp_path / "facts"
    shutil.copytree(FACTS_DIR, target)
    path = target / "animal.yml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    edit(data["facts"][0])
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return target


@pytest.mark.parametrize(
    "edit, field, words",
    [
        (lambda f: f.update(refs=[24]), "refs", "unknown reference 24"),
        (lambda f: f["text"].pop("en"), "text.en", "missing"),
        (lambda f: f.update(level="strong"), "level", "outside the contract"),
        (lambda f: f.update(topic="nowhere"), "topic", "unknown topic"),
        (lambda f: f["keywords"]["zh"].append("外泌體"), "keywords.zh", "normal form"),
        (lambda f: f.update(colour="red"), "colour", "unknown field"),
        (lambda f: f["text"].update(zh=f["text"]["zh"] + "[6]"), "text.zh", "citation marker"),
        (lambda f: f.update(refs=[]), "refs", "non-empty"),
        (lambda f: f.update(level="article_assessment"), "refs", "must be empty for level article_assessment"),
    ],
)
def test_invalid_fact_fails_naming_file_fact_and_field(tmp_path, edit, field, words):
    directory = _broken_copy(tmp_path, edit)
    fact_id = yaml.safe_load((directory / "animal.yml").read_text(encoding="utf-8"))["facts"][0]["id"]
    with pytest.raises(KnowledgeBaseError) as error:
        load_knowledge_base(directory)
    message = str(error.value)
    assert "animal.yml" in message and f"'{fact_id}'" in message and f"'{field}'" in message
    assert words in message


def test_duplicate_fact_id_is_refused(tmp_path):
    directory = tmp_path / "facts"
    shutil.copytree(FACTS_DIR, directory)
    data = yaml.safe_load((directory / "animal.yml").read_text(encoding="utf-8"))
    (directory / "animal_copy.yml").write_text(yaml.safe_dump({"facts": data["facts"][:1]}), encoding="utf-8")
    with pytest.raises(KnowledgeBaseError, match="already defined"):
        load_knowledge_base(directory)


def test_the_reviews_own_judgement_is_answered_without_a_study_citation(kb):
    """Contract 1.1: `article_assessment` facts cite no study; the closing line names the review."""
    from bot.reply import ReplyComposer
    from bot.texts import default_texts

    own = [f for f in kb.facts.values() if f.level == "article_assessment"]
    assert {"basics.definition", "animal.limits", "advice.conditioned_media"} <= {f.id for f in own}
    composer = ReplyComposer(kb, default_texts())
    for lang in ("zh-Hans", "zh-Hant", "en"):
        text, payload = composer.render(composer.from_facts([kb.fact("animal.limits")], lang))
        assert payload["evidence"]["level"] == "article_assessment" and payload["citations"] == []
        assert payload["source"]["title"] in text and "[" not in text.split("\n")[-1]


@pytest.mark.parametrize(
    "text, kept, dropped",
    [
        ("我是说涂脸那种 不是打针", "safety.topical", "safety.injection"),
        ("no I meant the creams, not the injections", "skin.overview", "safety.injection"),
        ("唔係呀 我問嘅係塗喺面嗰隻 唔係打針", "safety.topical", "safety.injection"),
    ],
)
def test_a_correction_sets_aside_the_facts_only_its_denied_words_reach(kb, text, kept, dropped):
    before, after = keywords_before_and_after_contrast(kb, text)
    assert dropped in before and dropped not in after, (sorted(before), sorted(after))
    assert set(after) < set(before) and after, "what the correction keeps stays"


@pytest.mark.parametrize("text", ["外泌体是不是干细胞做的", "is it not safe?", "外泌体点滴係唔係打針", "不是打针"])
def test_a_question_with_not_in_it_is_no_correction(kb, text):
    before, after = keywords_before_and_after_contrast(kb, text)
    assert after == before


def keywords_before_and_after_contrast(kb, text):
    """The keyword scores of `text`, and what the selector keeps of them as a follow-up's correction."""
    from bot.kb.selection import FactSelector
    from bot.lang import normalize
    from bot.nlu.lexicon import cues

    retriever = FactRetriever(kb)
    norm = normalize(text)
    before = retriever.scores(norm)
    return before, FactSelector(kb, retriever, contrast=cues()["contrast_not"])._without_contrasted(norm, before)


def test_a_short_question_that_tags_the_sentence_before_leaves_the_topic_to_the_whole_message(kb, retriever):
    """ "我阿媽話外泌體可以預防腦退化症，佢有個朋友已經打緊。有冇證據㗎？": the question names no topic of its own, so
    it does not outweigh the sentence it asks about; a question of its own still does."""
    from bot.kb.selection import FactSelector

    selector = FactSelector(kb, retriever)
    story = "我阿妈话外泌体可以预防老年痴呆,他有个朋友已经在打。"

    def lead(question: str) -> str:
        segments = [
            {"text": story, "question": False, "ranking": [{"fact": "organs.alzheimers", "confidence": 0.8}]},
            {"text": question, "question": True, "ranking": [{"fact": "overview.evidence", "confidence": 0.9}]},
        ]
        ranking = [{"fact": "organs.alzheimers", "confidence": 0.6}, {"fact": "overview.evidence", "confidence": 0.3}]
        selection = selector.select(story + question, ranking, segments)
        assert selection.lead is not None
        return selection.lead.id

    assert lead("有没有证据?") == "organs.alzheimers"
    assert lead("外泌体整体的证据强不强,有没有人体研究?") == "overview.evidence"


def test_a_short_personal_question_is_never_a_tag(kb, retriever):
    """ "她可以打吗？" asks something of its own: with `tag_questions` off, the question sentence decides."""
    from bot.kb.selection import FactSelector

    segments = [
        {"text": "我妈有老年痴呆。", "question": False, "ranking": [{"fact": "organs.alzheimers", "confidence": 0.8}]},
        {"text": "她可以打吗?", "question": True, "ranking": [{"fact": "safety.injection", "confidence": 0.9}]},
    ]
    ranking = [{"fact": "organs.alzheimers", "confidence": 0.6}, {"fact": "safety.injection", "confidence": 0.3}]
    selector = FactSelector(kb, retriever)
    tagged = selector.select("我妈有老年痴呆。她可以打吗?", ranking, segments)
    asked = selector.select("我妈有老年痴呆。她可以打吗?", ranking, segments, tag_questions=False)
    assert tagged.lead is not None and tagged.lead.id == "organs.alzheimers"
    assert asked.lead is not None and asked.lead.id == "safety.injection"
