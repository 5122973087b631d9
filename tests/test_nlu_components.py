"""One direct test per NLU component on a Simplified, a Traditional and an English sentence."""

from __future__ import annotations

import pytest
from rasa.nlu.constants import TOKENS_NAMES
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.lang import normalize
from bot.nlu.claim_detector import ClaimDetector
from bot.nlu.claims import SystemicClaimDetector
from bot.nlu.segments import is_question
from bot.nlu.entities import LexiconEntityExtractor
from bot.nlu.normalizer import ScriptNormalizer
from bot.nlu.tokenizer import BilingualTokenizer

SENTENCES = {
    "zh-Hans": "脐带间充质干细胞外泌体点滴能让全身变年轻吗？",
    "zh-Hant": "臍帶間充質幹細胞外泌體點滴能讓全身變年輕嗎？",
    "en": "Do umbilical cord MSC exosome IV drips make your whole body younger?",
}


@pytest.fixture(scope="module")
def normalizer():
    return ScriptNormalizer(ScriptNormalizer.get_default_config())


@pytest.fixture(scope="module")
def tokenizer():
    return BilingualTokenizer(BilingualTokenizer.get_default_config())


def _prepared(normalizer, text):
    message = Message.build(text=text)
    normalizer.process([message])
    return message


@pytest.mark.parametrize("script", SENTENCES)
def test_normalizer_sets_script_and_keeps_offsets(normalizer, script):
    message = _prepared(normalizer, SENTENCES[script])
    assert message.get("lang") == script
    assert message.get("input_problem") is None
    norm = message.get("norm_text")
    assert len(norm) == len(SENTENCES[script])
    assert norm == norm.lower()
    if script != "en":
        assert "外泌体" in norm and "点滴" in norm  # Traditional mapped to Simplified
    assert "lang" in message.as_dict(only_output_properties=True)


def test_normalizer_reports_problems_and_blanks_markup(normalizer):
    message = _prepared(normalizer, "<img src=x onerror=alert(1)>")
    assert message.get("input_problem") == "markup"
    assert message.get("norm_text").strip() == ""
    assert _prepared(normalizer, "😀😀").get("input_problem") == "emoji_only"


@pytest.mark.parametrize("script", SENTENCES)
def test_tokenizer_tokens_and_offsets(normalizer, tokenizer, script):
    text = SENTENCES[script]
    message = _prepared(normalizer, text)
    tokenizer.process([message])
    tokens = message.get(TOKENS_NAMES[TEXT])
    norm = message.get("norm_text")
    assert tokens and all(t.text.strip() for t in tokens), "no whitespace or empty tokens"
    for token in tokens:
        assert norm[token.start : token.end] == token.text
    words = [t.text for t in tokens]
    if script == "en":
        assert words[:4] == ["do", "umbilical", "cord", "msc"]
        assert {t.lemma for t in tokens if t.text == "drips"} == {"drip"}
        assert "?" not in words
    else:
        assert "外泌体" in words and "间充质干细胞" in words and "点滴" in words


def test_tokenizer_mixed_sentence_offsets(normalizer, tokenizer):
    text = "這個 serum 裡的 exosome 是真的嗎"
    message = _prepared(normalizer, text)
    tokenizer.process([message])
    tokens = message.get(TOKENS_NAMES[TEXT])
    assert [text[t.start : t.end] for t in tokens if t.text in ("serum", "exosome")] == ["serum", "exosome"]
    assert message.get("lang") == "zh-Hant"


@pytest.mark.parametrize("script", SENTENCES)
def test_entity_extractor(normalizer, script):
    extractor = LexiconEntityExtractor(LexiconEntityExtractor.get_default_config())
    text = SENTENCES[script]
    message = _prepared(normalizer, text)
    extractor.process([message])
    found = {(e["entity"], e["value"]): text[e["start"] : e["end"]] for e in message.get("entities")}
    assert ("cell_source", "umbilical_cord") in found
    assert ("cell_source", "msc") in found
    assert ("route", "injection") in found
    span = found[("route", "injection")]
    assert span in ("點滴", "点滴", "IV", "drips") or span.lower() in ("iv", "drips")


@pytest.mark.parametrize(
    "text, entity, value",
    [
        ("第六篇文献是什么", "reference", "6"),
        ("第二十一篇文獻", "reference", "21"),
        ("What is reference number eleven?", "reference", "11"),
        ("ref #12", "reference", "12"),
        ("PMID of the Nature Aging paper", "journal", "nature aging"),
        ("the Proffer study", "author", "proffer"),
        ("PMID 38627524", "pmid", "38627524"),
    ],
)
def test_entity_extractor_references(normalizer, text, entity, value):
    extractor = LexiconEntityExtractor(LexiconEntityExtractor.get_default_config())
    message = _prepared(normalizer, text)
    extractor.process([message])
    assert (entity, value) in {(e["entity"], e["value"]) for e in message.get("entities")}


@pytest.mark.parametrize(
    "text",
    [
        "6 weeks only?? then what",
        "只做了8周？",
        "打了3次就够吗",
        "two sessions, 20% better?",
        "有一篇研究说",
        "嗰個12個禮拜嘅研究",
    ],
)
def test_entity_extractor_takes_a_quantity_for_no_reference_number(normalizer, text):
    extractor = LexiconEntityExtractor(LexiconEntityExtractor.get_default_config())
    message = _prepared(normalizer, text)
    extractor.process([message])
    assert not [e for e in message.get("entities") if e["entity"] in ("number", "reference")], message.get("entities")


@pytest.mark.parametrize("script", SENTENCES)
def test_claim_detector_flags_all_three_scripts(normalizer, script):
    detector = SystemicClaimDetector(SystemicClaimDetector.get_default_config())
    text = SENTENCES[script]
    message = _prepared(normalizer, text)
    detector.process([message])
    flags = message.get("flags")
    assert [f["code"] for f in flags] == ["unsupported_systemic_injection_claim"]
    assert flags[0]["text"] == text[flags[0]["start"] : flags[0]["end"]]


@pytest.mark.parametrize(
    "text, codes",
    [
        ("外泌体面膜能让皮肤变年轻吗？", []),
        ("微針加外泌體可以讓臉部年輕嗎", []),
        ("How were the young plasma vesicles injected into the old mice in the Nature Aging study?", []),
        ("Exosome IV drips don't make your whole body younger, I know that.", []),
        # Asking whether the claim is true or a scam asks about the claim: no dismissal.
        (
            "佢每個月都去打一次外泌體針劑 佢話可以令五臟六腑後生返 咁樣係咪真㗎 定係佢俾人呃咗",
            ["unsupported_systemic_injection_claim"],
        ),
        ("exosome drips reverse ageing, is that true or a scam?", ["unsupported_systemic_injection_claim"]),
        # A pasted ad whose product name is the injection ("焕活针"), and a water-light shot for the face only.
        (
            "【外泌体焕活针】一针激活全身细胞 修复五脏六腑 逆龄10岁 今日特价1980 这个是真的吗",
            ["unsupported_systemic_injection_claim"],
        ),
        ("美容院说外泌体水光针打完脸能年轻五岁，我只关心脸，这个有依据吗？", []),
        # A drip named after its promise is named, not claimed, unless the message asks whether it works;
        # "shots reverse aging" is a sentence, not a name.
        ('there\'s a "longevity drip" at the spa, exosomes straight into an IV, is that even safe', []),
        ("我老公買咗個anti-ageing drip package 吊外泌體入身 安唔安全㗎", []),
        ("the article cites ref 14 for the IV longevity part, what is reference 14?", []),
        ("does the exosome longevity drip actually work?", ["unsupported_systemic_injection_claim"]),
        ("exosome shots reverse aging or not?", ["unsupported_systemic_injection_claim"]),
        ("a clinic near my sister's work does 'regenerative exosome drips', what stage is the research at?", []),
        # Asking back whether the claim really fails asks about the claim; knowing it, or setting it aside, not.
        ("SO THE €600 DRIPS DONT ACTUALLY MAKE YOU YOUNGER?? BRILLIANT.", ["unsupported_systemic_injection_claim"]),
        ("那意思是现在去打了也不能让全身变年轻？", ["unsupported_systemic_injection_claim"]),
        ("I know exosome drips can't make you younger, but is the serum safe?", []),
        ("waimiti dazhen anquan ma, wo bu guan neng bu neng bian nianqing", []),
        # Repeating back what the answer seems to say is a check-back too; "唔係話" (I'm not saying) sets aside.
        (
            "SO YOURE TELLIN ME THAT DRIP DONT MAKE YOUR WHOLE BODY YOUNGER. THEN HOW COME THEY SELL IT",
            ["unsupported_systemic_injection_claim"],
        ),
        ("我唔係話要打全身嗰啲 淨係塊面打外泌體水光針 咁都有風險㗎?", []),
        # Another product's drip, a quoted English product name, a young salesman: no exosome claim.
        ("养生馆那个小妹儿还在推一个NAD加的吊水 说吊了全身细胞都年轻了 这个跟外必体是不是一回事哦", []),
        ("MY BROTHER IN LAW SWEARS BY THEM CHELATION I V TREATMENTS, SAYS IT MAKES YOU YOUNG AGAIN", []),
        ("my mum friend went for the 'Youth Boost drip' at KL, 外泌体 one, safe 吗", []),
        # A quoted place or product name that carries the promise names it ("the 'Ageless Wellness Clinic'",
        # "「逆龄焕活疗程」"); a quoted ad sentence does not end in such a noun and stays the claim.
        ("my neighbour goes to the 'anti-ageing wellness centre' for exosome IV drips, are those safe?", []),
        ("朋友推荐一个「全身逆龄焕活疗程」 里面是打外泌体点滴 安全吗", []),
        (
            "flyer says 'exosome drips make your whole body young again', true?",
            ["unsupported_systemic_injection_claim"],
        ),
        ("广告写着「打外泌体点滴 全身年轻十岁」 是真的吗", ["unsupported_systemic_injection_claim"]),
        ("the young fella said they run the exit zones in through an I V straight into your blood stream", []),
        # A quoted ad sentence is still the claim; "讓人" points at people beside a mouse study.
        (
            "BRO her wechat group is sending this: '外泌体回输 逆转衰老 活到120岁' IS THIS REAL",
            ["unsupported_systemic_injection_claim"],
        ),
        ("所以那些說打外泌體點滴可以讓人全身回春的 根據就是這篇老鼠的齁", ["unsupported_systemic_injection_claim"]),
        # Young people's exosomes, or "young blood" as a product's name, are a source, not an effect; a concession
        # ("even if it doesn't rejuvenate") sets the claim aside; "so just to be clear" asks it back.
        ("我有個波友每個月返深圳吊鹽水，話系打後生仔既外泌體，佢地叫「年輕血」。甘樣吊法安吾安全架？", []),
        ("好啦就算沒有回春 那打那種點滴至少安全吧？", []),
        (
            "如果我都去深圳吊果D後生人既外泌體，系咪真系可以成個人後生返，連膝頭同個腦都一齊好返？",
            ["unsupported_systemic_injection_claim"],
        ),
        (
            "so just to be CLEAR the exosome IV does NOT make your whole body younger my friend is going to be so mad",
            ["unsupported_systemic_injection_claim"],
        ),
        ("To be clear, I'm not suggesting IV exosomes rejuvenate anyone. What stage is the research at?", []),
        ("她那个 friend 说打了之后整个人年轻十岁，脑子也 clear 了，真的假的", ["unsupported_systemic_injection_claim"]),
        # "即系" repeats back what the answer said; asking to confirm a dismissal asks about the claim; a son is no
        # effect.
        ("甘即系打完都吾会成个人后生返啦 系咪", ["unsupported_systemic_injection_claim"]),
        (
            'lol cousin just texted me "EX0S0ME SH0TS = FULL B0DY RESET, ALL UR CELLS GO BACK TO 25" 🙄 pls tell me this is BS',
            ["unsupported_systemic_injection_claim"],
        ),
        ("阮小弟前年腦中風 伊的後生講外泌體對中風足有效 叫伊去打 請問外泌體對中風到底有幫助某", []),
    ],
)
def test_claim_detector_near_misses_and_claims_asked_about(normalizer, text, codes):
    detector = SystemicClaimDetector(SystemicClaimDetector.get_default_config())
    message = _prepared(normalizer, text)
    detector.process([message])
    assert [f["code"] for f in message.get("flags")] == codes


@pytest.mark.parametrize(
    "text, groups",
    [
        ("我妈妈在吃华法林，外泌体点滴能用吗", {"exosome", "personal", "domain"}),
        ("這個說法的出處是哪篇文獻？", {"reference"}),
        ("The salon says their exosome serum is clinically proven", {"exosome", "claim_marker", "domain"}),
    ],
)
def test_cue_featurizer_marks_cue_groups(normalizer, tokenizer, text, groups):
    from bot.nlu.cues import CueFeaturizer

    featurizer = CueFeaturizer(CueFeaturizer.get_default_config())
    message = _prepared(normalizer, text)
    tokenizer.process([message])
    featurizer.process([message])
    sequence, sentence = message.get_sparse_features(TEXT)
    columns = {name for name, i in featurizer.column.items() if sentence.features.toarray()[0, i]}
    assert groups <= columns and "other_product" not in columns
    assert sequence.features.shape[0] == len(message.get(TOKENS_NAMES[TEXT]))


@pytest.mark.parametrize(
    "text, lang, contains, source",
    [
        ("外泌體吊鹽水係咪真係有用？", "zh-Hant", "输液是不是", "吊鹽水係咪"),
        ("waimiti zhen de anquan ma", "zh-Hans", "外泌体真的安全吗", "waimiti zhen de anquan ma"),
        ("are exsome facials saftey", "en", "exosome facials safety", "exsome facials saftey"),
    ],
)
def test_normalizer_rewrites_how_people_type_and_maps_offsets_back(normalizer, tokenizer, text, lang, contains, source):
    message = _prepared(normalizer, text)
    tokenizer.process([message])
    norm = message.get("norm_text")
    assert contains in norm and message.get("lang") == lang
    start = norm.index(contains)
    from bot.nlu.base import original_span

    begin, end = original_span(message, start, start + len(contains))
    assert text[begin:end] == source
    for token in message.get(TOKENS_NAMES[TEXT]):
        assert 0 <= token.start <= token.end <= len(text)


def _training_data(normalizer, tokenizer, examples):
    """Tiny labelled training data, normalised, tokenized and featurized like the real pipeline's."""
    from rasa.engine.graph import ExecutionContext, GraphSchema
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource
    from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import CountVectorsFeaturizer
    from rasa.shared.nlu.training_data.training_data import TrainingData

    messages = []
    for text, intent, fact in examples:
        data = {"text": text, "intent": intent}
        if fact:
            data["metadata"] = {"intent": {"fact": fact}}
        messages.append(Message(data=data))
    training = TrainingData(messages)
    normalizer.process_training_data(training)
    tokenizer.process_training_data(training)
    import tempfile
    from pathlib import Path

    storage = LocalModelStorage(Path(tempfile.mkdtemp()))
    context = ExecutionContext(GraphSchema({}), "test")
    featurizer = CountVectorsFeaturizer.create(
        {**CountVectorsFeaturizer.get_default_config(), "analyzer": "char_wb", "min_ngram": 1, "max_ngram": 3},
        storage,
        Resource("cv"),
        context,
    )
    featurizer.train(training)
    featurizer.process_training_data(training)
    return training, featurizer, storage, context


FACT_EXAMPLES = [
    ("are exosome facials safe", "ask_knowledge", "safety.topical"),
    ("any side effects from exosome serum on my face", "ask_knowledge", "safety.topical"),
    ("外泌体面膜安全吗", "ask_knowledge", "safety.topical"),
    ("外泌體精華會唔會過敏", "ask_knowledge", "safety.topical"),
    ("do exosomes help parkinson's", "ask_knowledge", "animal.parkinsons"),
    ("exosomes for tremor and parkinson disease", "ask_knowledge", "animal.parkinsons"),
    ("外泌体对帕金森有用吗", "ask_knowledge", "animal.parkinsons"),
    ("柏金遜可以用外泌體嗎", "ask_knowledge", "animal.parkinsons"),
    ("what's the weather like", "out_of_scope", None),
    ("今天天气怎么样", "out_of_scope", None),
]


@pytest.mark.parametrize(
    "text, fact",
    [("is exosome cream safe on skin", "safety.topical"), ("外泌体对帕金森病人有帮助吗", "animal.parkinsons")],
)
def test_fact_classifier_learns_facts_from_paraphrases(normalizer, tokenizer, text, fact):
    from rasa.engine.storage.resource import Resource

    from bot.nlu.facts import FactClassifier

    training, featurizer, storage, context = _training_data(normalizer, tokenizer, FACT_EXAMPLES)
    classifier = FactClassifier.create(FactClassifier.get_default_config(), storage, Resource("facts"), context)
    classifier.train(training)
    loaded = FactClassifier.load(FactClassifier.get_default_config(), storage, Resource("facts"), context)
    message = _prepared(normalizer, text)
    tokenizer.process([message])
    featurizer.process([message])
    loaded.process([message])
    ranking = message.get("fact_ranking")
    assert ranking[0]["fact"] == fact and "fact_ranking" in message.as_dict(only_output_properties=True)
    assert abs(sum(r["confidence"] for r in ranking) - 1.0) < 0.05


def test_fact_classifier_ranks_one_message_as_it_ranks_a_batch(normalizer, tokenizer):
    """A user's message takes the one-row path; a batch (training, evaluation) the sparse-matrix one: the
    same rankings, and the sentence features are Rasa's own combination."""
    from rasa.engine.storage.resource import Resource
    from rasa.shared.nlu.constants import TEXT

    from bot.nlu.base import normalized_text
    from bot.nlu.facts import FactClassifier, sentence_columns, sentence_features

    training, featurizer, storage, context = _training_data(normalizer, tokenizer, FACT_EXAMPLES)
    classifier = FactClassifier.create(FactClassifier.get_default_config(), storage, Resource("facts3"), context)
    classifier.train(training)
    messages = []
    for text in ("is exosome cream safe on skin", "外泌体对帕金森病人有帮助吗", "外泌體面膜會唔會過敏", "hello", "🙂"):
        message = _prepared(normalizer, text)
        tokenizer.process([message])
        featurizer.process([message])
        messages.append(message)
        combined = sentence_features(message)
        assert (combined != message.get_sparse_features(TEXT)[1].features.tocsr()).nnz == 0
        columns, counts, width = sentence_columns(message)  # the one-row path's entries: the same, in order
        assert (columns.tolist(), counts.tolist(), width) == (
            combined.indices.tolist(),
            combined.data.tolist(),
            combined.shape[1],
        )
    batch = classifier._rank_rows(
        classifier._features(classifier._raw(messages), [normalized_text(m) or "" for m in messages])
    )
    assert [classifier.rank([m])[0] for m in messages] == batch


def test_fact_classifier_ranks_each_question_of_a_two_question_message(normalizer, tokenizer):
    from rasa.engine.storage.resource import Resource

    from bot.nlu.facts import FactClassifier

    training, featurizer, storage, context = _training_data(normalizer, tokenizer, FACT_EXAMPLES)
    classifier = FactClassifier.create(FactClassifier.get_default_config(), storage, Resource("facts2"), context)
    classifier.train(training)
    message = _prepared(normalizer, "is exosome serum safe on my face? and does it help parkinson's?")
    tokenizer.process([message])
    featurizer.process([message])
    classifier.process([message])
    segments = message.get("fact_segments")
    assert [s["ranking"][0]["fact"] for s in segments] == ["safety.topical", "animal.parkinsons"]
    assert all(s["question"] for s in segments)


def test_sampled_diet_trains_on_a_sample_of_each_facts_paraphrases(normalizer, tokenizer):
    from bot.nlu.intents import sample_fact_examples

    training, *_ = _training_data(normalizer, tokenizer, FACT_EXAMPLES)
    sampled = sample_fact_examples(training, 2, seed=1)
    facts = [m.get("metadata", {}).get("intent", {}).get("fact") for m in sampled.training_examples]
    assert facts.count("safety.topical") == 2 and facts.count("animal.parkinsons") == 2
    assert facts.count(None) == 2, "examples without a fact are all kept"
    assert [m.get("text") for m in sample_fact_examples(training, 2, seed=1).training_examples] == [
        m.get("text") for m in sampled.training_examples
    ]


@pytest.mark.parametrize(
    "text, intent", [("外泌体面膜安全吗", "ask_knowledge"), ("what's the weather like", "out_of_scope")]
)
def test_sampled_diet_classifies_intents(normalizer, tokenizer, text, intent):
    from rasa.engine.storage.resource import Resource

    from bot.nlu.intents import SampledDIETClassifier

    training, featurizer, storage, context = _training_data(normalizer, tokenizer, FACT_EXAMPLES)
    config = {
        **SampledDIETClassifier.get_default_config(),
        "epochs": 40,
        "fact_examples": 3,
        "number_of_transformer_layers": 0,
        "entity_recognition": False,
        "random_seed": 1,
    }
    classifier = SampledDIETClassifier.create(config, storage, Resource("diet"), context)
    classifier.train(training)
    message = _prepared(normalizer, text)
    tokenizer.process([message])
    featurizer.process([message])
    classifier.process([message])
    assert message.get("intent")["name"] == intent


def test_a_rule_component_keeps_its_term_lists_in_the_model(normalizer, tokenizer, tmp_path):
    """Training keeps a copy of the term files in the model storage (a configured file in its entry's place);
    loading builds the component from that copy, whatever the config or data/ say by then (issue 17)."""
    from rasa.engine.graph import ExecutionContext, GraphSchema
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource
    from rasa.shared.nlu.training_data.training_data import TrainingData

    from bot.nlu.cues import CueFeaturizer

    cues = tmp_path / "cues.yml"
    cues.write_text("sparkle:\n  zh: [闪闪]\n  en: [sparkly]\n", encoding="utf-8")
    (tmp_path / "model").mkdir()
    storage = LocalModelStorage(tmp_path / "model")
    resource, context = Resource("cues"), ExecutionContext(GraphSchema({}), "test")
    config = {**CueFeaturizer.get_default_config(), "cues_path": str(cues), "with_entities": False}
    trained = CueFeaturizer.create(config, storage, resource, context)
    assert trained.train(TrainingData()) == resource
    cues.write_text("other:\n  zh: [别的]\n  en: [other]\n", encoding="utf-8")  # an edit after training
    loaded = CueFeaturizer.load({**config, "cues_path": None}, storage, resource, context)
    assert [name for name, _ in loaded.groups] == ["sparkle"]
    for text in ("This serum is sparkly", "这个精华闪闪的"):
        message = _prepared(normalizer, text)
        tokenizer.process([message])
        loaded.process([message])
        sentence = message.get_sparse_features(TEXT)[1]
        assert sentence is not None and sentence.features.toarray().tolist() == [[1.0]]


@pytest.mark.parametrize(
    "text, parts",
    [
        (
            "is the microneedling facial safe and how long does it last",
            ["is the microneedling facial safe", "and how long does it last"],
        ),
        (
            "i know drips can't make you younger but is the facial safe",
            ["i know drips can't make you younger", "but is the facial safe"],
        ),
        ("我知道打针没用，不过涂脸的安全吗", ["我知道打针没用,", "不过涂脸的安全吗"]),
        ("is it safe and effective", ["is it safe and effective"]),
    ],
)
def test_segments_split_a_second_question_and_what_follows_but(normalizer, text, parts):
    """Two questions joined by "and how/is/...", and a question after "but"/"不过", are segments of their own."""
    from bot.nlu.segments import split_segments

    norm = _prepared(normalizer, text).get("norm_text")
    assert [norm[s.start : s.end].strip() for s in split_segments(norm)] == parts


@pytest.mark.parametrize(
    "first, second",
    [
        (
            "我朋友每个月都去打外泌体点滴 这种打进血管的 有人体研究吗",
            "她说打完整个人年轻了好几岁 说是全身回春 真的假的",
        ),
        (
            "my neighbour gets exosome IV drips, are they even tested?",
            "she says they made her whole body 10 years younger",
        ),
        (
            "my aunt's having exosome infusions every month at some clinic in Marbella, is that even safe??",
            "she reckons it's knocked 10 yrs off her and sorted her liver out 🙄 any truth in that?",
        ),
        (
            "有個熟客阿姨跑去台北醫美打外泌體點滴欸💉 那個安全嗎？",
            "她說打完整個人年輕10歲，連肝指數都變好了😳😳 真的假的啦",
        ),
        (
            'there\'s a "longevity drip" at the spa, exosomes straight into an IV, is that even safe',
            "the girl at the desk said it reboots ALL your cells so your whole body ages backwards",
        ),
    ],
)
def test_a_route_in_one_turn_and_the_whole_body_effect_in_the_next_make_the_claim(first: str, second: str) -> None:
    """The first turn's own question ("are they tested?") is no doubt about what the next turn reports."""
    detector = ClaimDetector()
    route = detector.route_sentence(normalize(first))
    assert route is not None and not is_question(route), route
    hits = detector.detect(f"{route}\n{normalize(second)}")
    assert hits and hits[0].end > len(route) + 1, hits


@pytest.mark.parametrize(
    "text, asks", [("所以其实没什么用喔😢", True), ("所以我买了一瓶", False), ("没什么副作用", False)]
)
def test_a_conclusion_checked_back_in_chat_is_a_question(text: str, asks: bool) -> None:
    from bot.nlu.segments import is_question

    assert is_question(text) is asks


def test_another_products_route_does_not_carry_a_claim_into_the_next_turn() -> None:
    """ "the salmon sperm DNA 打针 my senior do" names another product's injection: the next turn's "whole body
    young back" is that product's story, not the exosome claim."""
    detector = ClaimDetector()
    assert detector.route_sentence(normalize("then the salmon sperm DNA 打针 my senior do on face")) is None
    assert detector.route_sentence(normalize("外泌体吊针 那边有间clinic在做")) is not None


def test_a_question_tag_or_not_denies_nothing_before_an_effect_asked_in_the_next_turn() -> None:
    """ "…can live until 100 true or not" asks; its "not" does not deny the route the next turn's effect uses."""
    detector = ClaimDetector()
    route = detector.route_sentence(normalize("MY FRIEND SAY EXOSOME INJECTION CAN LIVE UNTIL 100 TRUE OR NOT"))
    assert route is not None
    joined = f"{route}\n{normalize('so cannot make younger ah?')}"
    assert any(hit.end > len(route) + 1 and not hit.negated for hit in detector.analyse(joined))
