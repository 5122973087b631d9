"""`python -m bot.kb [--article PATH]`: validate the fact files and their provenance, print a summary.

With `--article`, the facts' passages are checked against another (newer) version of the article instead of
the shipped one, and every passage whose quote, section or citation no longer matches is listed per fact,
so whoever replaces the article knows which facts to re-read.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from typing import Optional, Sequence

from bot.kb import KnowledgeBase, KnowledgeBaseError, load_knowledge_base
from bot.kb.provenance import Article, Problem, check_facts
from bot.paths import SOURCE_ARTICLE


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot.kb", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--article",
        type=Path,
        default=None,
        metavar="PATH",
        help=f"check the facts' passages against this version of the article (default: {SOURCE_ARTICLE})",
    )
    return parser


def provenance_report(kb: KnowledgeBase, article: Article) -> list[str]:
    """Lines listing, per fact, the passages (and refs, level) that do not match `article`; empty when all do."""
    by_fact: dict[str, list[Problem]] = {}
    for problem in check_facts(kb.facts.values(), dict(kb.references), article):
        by_fact.setdefault(problem.fact, []).append(problem)
    if not by_fact:
        return []
    count = sum(len(p) for p in by_fact.values())
    lines = [f"{article.path}: {count} problem(s) in {len(by_fact)} fact(s); re-read these facts against it:"]
    for fact_id, problems in by_fact.items():
        fact = kb.fact(fact_id)
        lines.append(f"  {fact_id} ({fact.source_file}, level {fact.level}, refs {list(fact.refs)})")
        for problem in problems:
            lines.append(f"    {problem.field}: {problem.problem}. {problem.fix}.")
            if problem.field.startswith("source["):
                passage = fact.source[int(problem.field[len("source[") :].split("]", 1)[0])]
                lines.append(f"      was: [{passage.section}] {passage.quote}")
    return lines


def _summary(kb: KnowledgeBase, article: Article) -> list[str]:
    passages = sum(len(f.source) for f in kb.facts.values())
    lines = [f"{len(kb.references)} references, {len(kb.topics)} topics, {len(kb.facts)} facts"]
    lines += [f"  {topic}: {count}" for topic, count in Counter(f.topic for f in kb.facts.values()).items()]
    lines.append(f"levels: {dict(Counter(f.level for f in kb.facts.values()))}")
    lines.append(f"provenance: all {passages} passages match {article.path}")
    uncited = sorted(set(kb.references) - {n for f in kb.facts.values() for n in f.refs})
    if uncited:
        lines.append(f"references no fact cites: {uncited}")
    return lines


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Validate `data/facts/` and the passages against the article; exit 1 on an invalid file or a mismatch."""
    args = _parser().parse_args(argv)
    path = args.article or SOURCE_ARTICLE
    if not path.is_file():
        print(f"{path}: no such article file. Give the path of the article's text (UTF-8).", file=sys.stderr)
        return 1
    try:
        kb = load_knowledge_base(article=None)  # provenance is checked below, listing every problem
    except KnowledgeBaseError as e:
        print(f"invalid knowledge base: {e}", file=sys.stderr)
        return 1
    article = Article.load(path)
    report = provenance_report(kb, article)
    if report:
        print("\n".join(report))
        return 1
    print("\n".join(_summary(kb, article)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
