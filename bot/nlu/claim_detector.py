"""The systemic-injection claim detector's rules (data/nlu/claim_rules.yml), independent of Rasa: used by
the NLU component (bot/nlu/claims.py) and by the actions for claims made across two turns."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence

from bot.contract import FLAG_SYSTEMIC_INJECTION
from bot.nlu.lexicon import claim_rules
from bot.nlu.matching import Hit, TermMatcher
from bot.nlu.segments import CHINESE_ASKING_FORMS, is_question

# Sentence ends; an English full stop only when followed by space or the end ("i.v." stays inside).
_SENTENCE_END = re.compile(r"[。！？!?;；\n]+|\.(?=\s|$)")
# Clause breaks inside a sentence.
_CLAUSE_BREAK = re.compile(r"[，,、:：]|但是|不过|可是|\bbut\b|\bhowever\b|\balthough\b|\bwhile\b")
_DOUBT_CLAUSE_BREAK = re.compile(_CLAUSE_BREAK.pattern + r"|(?<=[\u4e00-\u9fff])\s+(?=[\u4e00-\u9fff])")
# The end of a route's clause: also a space before Chinese after an emoji or a Latin word ("打外泌体点滴欸💉 那个安全吗").
_ROUTE_CLAUSE_BREAK = re.compile(_CLAUSE_BREAK.pattern + r"|\s+(?=[\u4e00-\u9fff])")
# "真的假的", "是真是假": a question whether the claim is true, not a dismissal of it.
_TRUE_OR_FALSE = re.compile(r"真的假的|真的还是假的|是真是假|真定假|真还是假")
_ROLES = (
    "route",
    "effect_strong",
    "effect_weak",
    "reverse",
    "aging",
    "repair",
    "organ",
    "not_effect",
    "local",
    "subject",
    "other_subject",
    "negation",
    "negation_exceptions",
    "disbelief",
    "third_party",
    "animal",
    "human",
)
# The second half of an alternative question ("…是不是真 定是…", "…true, or is it…").
_ALTERNATIVE = re.compile(r"\s*(?:定是|定系|还是|抑或|或者是|or\b)", re.IGNORECASE)
# Most characters between the two parts of a combined effect ("reversed her aging", "修复受损的肝脏").
_PAIR_GAP = 24
# A local (skin) qualifier this close to a weak effect makes it a skin claim ("脸年轻了").
_LOCAL_GAP = 10
# Ages and years, written with digits or numerals: "年轻了十岁", "回到二十岁", "活到120", "20 years younger".
_NUMBER_ZH = r"[一二两三四五六七八九十廿百\d]+"
_NUMBER_EN = r"(?:\d+|ten|twenty|thirty|forty|fifty)"
_AGE_EFFECTS = re.compile(
    rf"(?:年轻|后生|细|回到|变回|倒退|逆龄|减龄)了?{_NUMBER_ZH}(?:多)?(?:岁|年)|活到{_NUMBER_ZH}岁?|{_NUMBER_ZH}岁的(?:身体|状态)"
    rf"|\b{_NUMBER_EN}\s*(?:years?|yrs?)\s+younger\b|\b(?:feel|feels|look|looks|like|be|is)\s+(?:\d+|twenty|thirty|forty)(?:\s+years?\s+old)?\s+again\b"
    rf"|\bliv(?:e|ing)\s+(?:to|till|until|past)\s+(?:\d+|a hundred)"
)
# A route named after its promise ("longevity drip", "regenerative exosome drips", "the IV longevity part"): the
# effect word is part of the product's name, with at most a space, hyphen or quote mark (and the word exosome)
# between the two.
_NAME_GAP = re.compile(r"[\s\-\"'“”「」]{0,2}(?:(?:exosome|exo|stem[\s\-]cell)s?[\s\-]{1,2})?")
# Nouns that make "IV longevity" a name ("the IV longevity part", "IV longevity package").
_NAME_NOUN = re.compile(
    r"\s+(?:part|package|program|programme|protocol|treatment|therapy|session|plan|menu|course|service|bar|lounge|clinic)s?\b"
)
# The message asks whether the product does what its name says ("does the longevity drip work?").
_ASKS_IF_IT_WORKS = re.compile(
    r"\b(?:does|do|did|will|would|can)\b[^.?!]{0,30}\bwork|\bwork(?:s|ing|ed)?\s*[?？]|\b(?:legit|effective|scam|hype)\b"
    r"|\b(?:is|it's|its|that's)\s+(?:it\s+|that\s+)?(?:real|true)\b|有用|有效|有冇用|有没有用|真的|真唔真|真係|是真|系真|靠谱|骗"
)
# The writer states what they already know before a negation ("I know", "我晓得"): no check-back.
_KNOWS = re.compile(
    r"\b(?:i know|i knew|i get it|i understand|i'm aware|im aware|obviously)\b|知道|晓得|明白|我懂|我知|当然"
)
# Negations that set the claim aside ("我不管能不能变年轻", "not asking whether it makes you younger", "就算没有回春
# 那打那种点滴至少安全吧？").
_SETS_ASIDE = re.compile(
    r"不管|不在乎|不问|不是问|不讲|不谈|撇开|撇除|除开|别管|不是话|不是讲紧|就算没有|就算没|就算不|即使没有|即使不|哪怕没有"
    r"|don't care|dont care|not asking|i'm not asking"
    r"|setting aside|aside from the|not talking about|i'm not talking about|im not talking about"
)
# The writer repeats back what the answer seems to say ("so you're telling me that drip don't make…"): a
# check-back, even without a question mark.
_REPEATS_BACK = re.compile(
    r"\b(?:you're|youre|you are|ur)\s+(?:tell+in'?g?|say+in'?g?)\s+(?:me\s+)?|\byou mean\b|\bso,? (?:just )?to be clear\b|"
    r"你的意思是|你是说|意思是说|确认一下|确认下|即是|就是说"
)
# Asking to confirm a dismissal ("pls tell me this is BS") asks about the claim, not about something else.
_CONFIRMS_DISMISSAL = re.compile(r"\btell me (?:that )?(?:this|it|that)(?:'s| is)\b|告诉我这是|跟我说这是")
# Quoted names in English words ("the 'Youth Boost drip'", "“Longevity IV”"): a product named, not a claim
# made. A quoted sentence of an ad ("'外泌体回输 逆转衰老'", "'exosome infusion 全面逆轉身體老化'") is a claim.
_QUOTED = re.compile(r"(?<![a-z])'([^'\n]{2,40})'(?![a-z])|\"([^\"\n]{2,40})\"|“([^”\n]{2,40})”")
_NAME_WORDS = 5
# A quoted name of a place or product ("a 'longevity clinic'", "'regenerative wellness centre'", "「冻龄能量吊针」"): its
# promise is the name, not a claim the message makes. It ends in a noun that names a place or product; a quoted ad
# sentence ("'makes you young again'", "「打一针年轻十岁」") does not.
_NAMED_QUOTE = re.compile(
    r"(?<![a-z])'([^'\n]{2,40})'(?![a-z])|\"([^\"\n]{2,40})\"|“([^”\n]{2,40})”|「([^」\n]{2,20})」|『([^』\n]{2,20})』"
)
_NAME_END = re.compile(
    r"(?:\b(?:clinic|centre|center|institute|spa|lounge|bar|studio|lab|drip|drips|iv|infusion|shot|shots|package|program"
    r"|programme|protocol|therapy|treatment|plan|course|menu|service|club)"
    r"|吊针|针|点滴|吊水|疗程|套餐|中心|诊所|会所|馆|液|精华|计划|方案|服务)$"
)
# Question words of a sentence that asks something else ("..., so are they at least safe?").
_QUESTION = re.compile(
    r"[?？]|吗|呢|么|是不是|有没有|会不会|能不能|多少|怎么|什么|为什么|哪|几|是否"
    r"|\b(?:what|how|why|which|who|where|when|is|are|do|does|did|can|could|should|will|would|any|has|have)\b"
    r"|" + CHINESE_ASKING_FORMS  # "面膜安全不", "安不安全"
)


def _spans(text: str, breaks: re.Pattern[str], lo: int = 0, hi: Optional[int] = None) -> list[tuple[int, int]]:
    """The stretches of text[lo:hi] between the matches of `breaks` (sentences, or clauses)."""
    hi = len(text) if hi is None else hi
    spans, start = [], lo
    for m in breaks.finditer(text, lo, hi):
        spans.append((start, m.start()))
        start = m.end()
    spans.append((start, hi))
    return spans


def _clause(text: str, sentence: tuple[int, int], position: int, breaks: re.Pattern[str]) -> tuple[int, int]:
    """The clause of a sentence (split by `breaks`) that holds `position`; the whole sentence when none does."""
    lo, hi = sentence
    return next(((lo + a, lo + b) for a, b in _spans(text[lo:hi], breaks) if lo + a <= position < lo + b), sentence)


def _within(hit: Hit, span: tuple[int, int]) -> bool:
    return span[0] <= hit.start < span[1]


@dataclass(frozen=True)
class ClaimHit:
    """One detected claim: the route and effect terms that make it, and the span they cover."""

    code: str
    start: int
    end: int
    route: str
    effect: str
    negated: bool = False

    def as_dict(self, text: str, span: Optional[tuple[int, int]] = None) -> Dict[str, Any]:
        """The flag as stored on the message; `span` is its place in the user's text (default: as found)."""
        start, end = span or (self.start, self.end)
        return {"code": self.code, "start": start, "end": end, "text": text[start:end]}


class ClaimDetector:
    """Rule logic of the detector, independent of Rasa (see data/nlu/claim_rules.yml)."""

    def __init__(self, rules: Optional[Mapping[str, Sequence[str]]] = None) -> None:
        """Compiles the term lists of every role into one spaCy matcher."""
        rules = rules or claim_rules()
        missing = [role for role in _ROLES if role not in rules]
        if missing:
            raise ValueError(f"claim rules lack the roles {missing}; add them to data/nlu/claim_rules.yml.")
        self.matcher = TermMatcher({role: rules[role] for role in _ROLES})

    def route_sentence(self, norm_text: str) -> Optional[str]:
        """The last sentence of a message that names a systemic route (with the message's subject
        words kept in front, so "exosome" still counts), or None when it names none."""
        hits = self.matcher.find(norm_text)
        named = {role: [h for h in hits if h.label == role] for role in ("subject", "other_subject")}
        # (A route of another product, "the salmon DNA 打针 my senior do", does not carry over to the next turn.)
        routes = [h for h in hits if h.label == "route" and not _of_other_product(norm_text, h, named)]
        if not routes:
            return None
        sentence = next(
            s
            for s in reversed(_spans(norm_text, _SENTENCE_END))
            if s[0] <= routes[-1].start < s[1] or s[0] <= routes[-1].start
        )
        # Up to the end of the route's clause: what the sentence goes on to ask ("…打进血管的 有在人身上研究过吗")
        # is that turn's question, not a doubt about what the next turn says.
        clause_end = next(
            (m.start() for m in _ROUTE_CLAUSE_BREAK.finditer(norm_text, routes[-1].end, sentence[1])), sentence[1]
        )
        text = norm_text[sentence[0] : clause_end]
        subjects = [h.text for h in hits if h.label == "subject" and not sentence[0] <= h.start < sentence[1]]
        return (" ".join(dict.fromkeys(subjects)) + " " + text).strip() if subjects else text

    def detect(self, norm_text: str) -> List[ClaimHit]:
        """Claims in a normalised message (empty when there is none)."""
        return [c for c in self.analyse(norm_text) if not c.negated][:1]

    def about_animals(self, norm_text: str) -> bool:
        """The message talks about animal studies (mice, rats) and not about people."""
        labels = {hit.label for hit in self.matcher.find(norm_text)}
        return "animal" in labels and "human" not in labels

    def about_skin(self, norm_text: str) -> bool:
        """The message names the skin or the face (a local qualifier of data/nlu/claim_rules.yml)."""
        return any(hit.label == "local" for hit in self.matcher.find(norm_text))

    def negated(self, norm_text: str) -> List[ClaimHit]:
        """The claim stated and denied by the writer ("I know a drip can't make you younger"), if any."""
        return [c for c in self.analyse(norm_text) if c.negated][:1]

    def analyse(self, norm_text: str) -> List[ClaimHit]:
        """Every route + effect pair of the claim, each marked negated or not."""
        hits = self.matcher.find(norm_text)
        by_role: Dict[str, List[Hit]] = {role: [] for role in _ROLES}
        for hit in hits:
            by_role[hit.label].append(hit)
        for m in _AGE_EFFECTS.finditer(norm_text):
            by_role["effect_strong"].append(Hit("effect_strong", m.start(), m.end(), m.group()))
        sentences = _spans(norm_text, _SENTENCE_END)
        effects = self._effects(norm_text, by_role)
        if not by_role["route"] or not effects:
            return []
        named = bool(by_role["subject"]) or any("外泌" in h.text or "exo" in h.text for h in by_role["route"])
        if not named and by_role["other_subject"]:
            return []  # a vitamin or NAD+ drip, not exosomes (unnamed, exosomes are the subject of this chat)
        claims = []
        for effect in effects:
            claim = self._judge(norm_text, effect, by_role, sentences)
            if claim and not (_product_name(norm_text, claim) and not _ASKS_IF_IT_WORKS.search(norm_text)):
                claims.append(claim)
        return sorted(claims, key=lambda c: c.negated)

    @staticmethod
    def _effects(text: str, by_role: Dict[str, List[Hit]]) -> List[Hit]:
        """Single-term effects plus pairs: reverse+aging (weak), repair+organ (strong)."""
        effects = by_role["effect_strong"] + by_role["effect_weak"]
        for first, second, label, ordered in (
            ("reverse", "aging", "effect_weak", True),
            ("repair", "organ", "effect_strong", False),
        ):
            for a in by_role[first]:
                for b in by_role[second]:
                    lo, hi = (a, b) if a.start <= b.start else (b, a)
                    if (ordered and lo is not a) or lo.end > hi.start or hi.start - lo.end > _PAIR_GAP:
                        continue
                    if _CLAUSE_BREAK.search(text, lo.end, hi.start) or _SENTENCE_END.search(text, lo.end, hi.start):
                        continue
                    effects.append(Hit(label, lo.start, hi.end, text[lo.start : hi.end]))
        masked = by_role["not_effect"] + [
            Hit("name", m.start(), m.end(), m.group())
            for m in _NAMED_QUOTE.finditer(text)
            if _NAME_END.search(next(g for g in m.groups() if g is not None).strip())
            and len(next(g for g in m.groups() if g is not None).split()) <= _NAME_WORDS
        ]
        return [e for e in effects if not any(m.start <= e.start and e.end <= m.end for m in masked)]

    def _judge(
        self, text: str, effect: Hit, by_role: Dict[str, List[Hit]], sentences: List[tuple[int, int]]
    ) -> Optional[ClaimHit]:
        index = next(i for i, s in enumerate(sentences) if _within(effect, s) or effect.start < s[1])
        window = (sentences[max(index - 1, 0)][0], sentences[min(index + 1, len(sentences) - 1)][1])
        if effect.label == "effect_weak":
            # A weak effect takes its route from its own sentence or the one before ("Exosome IV: Repair.
            # Renew."), not from a sentence that denies the claim ("…点滴的说法站不住脚。外泌体抗老值得期待吗？").
            previous = sentences[max(index - 1, 0)]
            excepted = by_role["negation_exceptions"]  # "…can live until 100, true or not": a question tag
            denied = any(
                _within(h, previous) and not any(x.start <= h.start < x.end for x in excepted)
                for role in ("negation", "disbelief")
                for h in by_role[role]
            )
            window = sentences[index] if denied else (previous[0], sentences[index][1])
        routes = [r for r in by_role["route"] if _within(r, window)]
        if not routes:
            return None
        sentence = sentences[index]
        clause = _clause(text, sentence, effect.start, _CLAUSE_BREAK)
        in_clause = lambda role: [h for h in by_role[role] if _within(h, clause)]  # noqa: E731
        in_sentence = lambda role: [h for h in by_role[role] if _within(h, sentence)]  # noqa: E731
        if effect.label == "effect_weak" and any(
            _within(h, clause) and (abs(h.start - effect.end) <= _LOCAL_GAP or abs(effect.start - h.end) <= _LOCAL_GAP)
            for h in by_role["local"]
        ):
            return None
        if in_sentence("other_subject") and not in_sentence("subject"):
            return None  # "NAD+点滴说挂几次全身就逆龄了": another product's claim
        route = min(routes, key=lambda r: abs(r.start - effect.start))
        if _of_other_product(text, route, by_role):
            return None  # "推一个NAD加的吊水 说吊了全身细胞都年轻了 这个跟外泌体是不是一回事"
        near = (min(route.start, effect.start), max(route.end, effect.end))
        animal = [h for h in by_role["animal"] if _within(h, sentence) or near[0] <= h.start < near[1]]
        if animal and not in_sentence("human"):
            return None
        exceptions = in_clause("negation_exceptions")
        negations = [
            n
            for n in in_clause("negation")
            if n.start < effect.start and not any(x.start <= n.start < x.end for x in exceptions)
        ]
        # A negation is the writer's own ("I know it can't make you younger, don't tell me") unless a
        # third party speaks before it ("the clinic says you won't age any more"); "I told her" is the writer.
        reporters = [
            t
            for t in in_sentence("third_party")
            if negations and t.start < negations[0].start and not _writer_speaks(text, t)
        ]
        negated = bool(negations) and not reporters
        if negated and _checks_back(text, sentence, negations[0]):
            negated = False  # "so it CAN'T make ur whole body younger??": the claim is asked about again
        # The writer dismisses the claim ("别逗了", "yeah right", "is a con"), in its sentence or the next,
        # and asks something else.
        following = sentences[index + 1] if index + 1 < len(sentences) else sentence
        dismissed = [
            h
            for h in by_role["disbelief"]
            if (_within(h, sentence) or _within(h, following))
            and not _in_question(text, h, sentences)
            and not any(m.start() <= h.start < m.end() for m in _TRUE_OR_FALSE.finditer(text))
        ]
        if not negated and dismissed and _asks_elsewhere(text, sentences, sentence, effect):
            negated = True
        return ClaimHit(FLAG_SYSTEMIC_INJECTION, near[0], near[1], route.text, effect.text, negated)


def _of_other_product(text: str, route: Hit, by_role: Dict[str, List[Hit]]) -> bool:
    """The route's clause names another product and not exosomes ("them chelation IV treatments, says…",
    "推一个NAD加的吊水"): that product's claim, even when the message mentions exosomes elsewhere."""
    sentence = next((s for s in _spans(text, _SENTENCE_END) if s[0] <= route.start < s[1]), (0, len(text)))
    clause = _clause(text, sentence, route.start, _DOUBT_CLAUSE_BREAK)
    named = lambda role: any(_within(h, clause) for h in by_role[role])  # noqa: E731
    return named("other_subject") and not named("subject") and not re.search(r"外泌|exo", route.text)


def _product_name(text: str, claim: ClaimHit) -> bool:
    """The claim's effect and route are one name in English words ("a 'longevity drip'", "anti-ageing drip
    package", "the IV longevity part"): naming a product is not saying what it does, unless the message asks
    whether it works. A route before its effect is a name only when a noun follows ("shots reverse aging" is
    a sentence)."""
    span = text[claim.start : claim.end]
    for m in _QUOTED.finditer(text):
        quoted = next(g for g in m.groups() if g is not None)
        if (
            m.start() <= claim.start
            and claim.end <= m.end()
            and quoted.isascii()
            and len(quoted.split()) <= _NAME_WORDS
        ):
            return True  # "my mum's friend went for the 'Youth Boost drip', safe?"
    if not span.isascii():
        return False
    if span.startswith(claim.effect) and span.endswith(claim.route):
        return bool(_NAME_GAP.fullmatch(span[len(claim.effect) : len(span) - len(claim.route)]))
    if span.startswith(claim.route) and span.endswith(claim.effect):
        gap = span[len(claim.route) : len(span) - len(claim.effect)]
        return bool(_NAME_GAP.fullmatch(gap)) and bool(_NAME_NOUN.match(text, claim.end))
    return False


def _checks_back(text: str, sentence: tuple[int, int], negation: Hit) -> bool:
    """The writer asks back whether the claim really fails ("so the drips DONT make you younger??", "那意思是
    打了也不能让全身变年轻？"): a question, and not what the writer already knows ("I know it can't…, but…")."""
    before = text[sentence[0] : negation.start]
    if _KNOWS.search(before) or _SETS_ASIDE.fullmatch(negation.text):
        return False
    if _REPEATS_BACK.search(before):
        return True  # "SO YOURE TELLIN ME THAT DRIP DONT MAKE YOUR WHOLE BODY YOUNGER."
    return is_question(text[sentence[0] : sentence[1] + 1]) and not _CLAUSE_BREAK.search(
        text, negation.end, sentence[1]
    )


def _writer_speaks(text: str, reporter: Hit) -> bool:
    """ "我跟她说", "I told her": the writer is the one speaking, not a third party."""
    before = text[max(0, reporter.start - 6) : reporter.start]
    return "我" in before or re.search(r"\bi\s+(?:\w+\s+)?$", before) is not None


def _asks_elsewhere(text: str, sentences: List[tuple[int, int]], claim: tuple[int, int], effect: Hit) -> bool:
    """Another sentence of the message, or a clause after the claim's effect, asks a question."""
    # A sentence's span stops before its end mark: look one character further for the "?".
    asks = lambda part: bool(_QUESTION.search(part)) and not _CONFIRMS_DISMISSAL.search(part)  # noqa: E731
    if any(s != claim and asks(text[s[0] : s[1] + 1]) for s in sentences):
        return True
    rest = text[effect.end : claim[1]]
    breaks = list(_CLAUSE_BREAK.finditer(rest)) + list(re.finditer(r"\banyway\b|🙄|那|就问|就想问", rest))
    return any(asks(rest[b.end() :]) for b in breaks)


def _in_question(text: str, hit: Hit, sentences: List[tuple[int, int]]) -> bool:
    """The hit's clause asks ("any proof or is it rubbish?"): a doubt put as a question, not a dismissal."""
    sentence = next((s for s in sentences if s[0] <= hit.start < s[1]), (0, len(text)))
    # A space between Chinese words also ends a clause here: chat without punctuation ("…是扯的 我就想问面膜安全不").
    clauses = _spans(text[sentence[0] : sentence[1] + 1], _DOUBT_CLAUSE_BREAK)
    clause = next(
        ((sentence[0] + a, sentence[0] + b) for a, b in clauses if sentence[0] + a <= hit.start < sentence[0] + b),
        sentence,
    )
    if _ALTERNATIVE.match(text, clause[0]) and is_question(text[sentence[0] : clause[0]]):
        return True  # "是不是真 定是他给人呃了", "is it true or a scam": the second half of the question
    return is_question(text[clause[0] : clause[1] + 1])
