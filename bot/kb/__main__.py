"""`python -m bot.kb`: validate the fact files and print a summary."""

import sys
from collections import Counter

from bot.kb import KnowledgeBaseError, load_knowledge_base


def main() -> int:
    """Validate `data/facts/` and print counts per topic and level; exit 1 on an invalid file."""
    try:
        kb = load_knowledge_base()
    except KnowledgeBaseError as e:
        print(f"invalid knowledge base: {e}", file=sys.stderr)
        return 1
    print(f"{len(kb.references)} references, {len(kb.topics)} topics, {len(kb.facts)} facts")
    for topic, count in Counter(f.topic for f in kb.facts.values()).items():
        print(f"  {topic}: {count}")
    print("levels:", dict(Counter(f.level for f in kb.facts.values())))
    cited = {n for f in kb.facts.values() for n in f.refs}
    uncited = sorted(set(kb.references) - cited)
    if uncited:
        print("references no fact cites:", uncited)
    return 0


if __name__ == "__main__":
    sys.exit(main())
