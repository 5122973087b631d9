"""Why the bot answered as it did: the NLU's reading of a message next to the reply's contract payload.

One shape for the staff console's test panel (`POST /staff/api/test`) and the widget's staff view
(`?debug=1`, the socket.io event `bot_explained`): the language, the intent and its ranking, the entities,
the flags with the words that raised them, the normalised text, the fact ranking with its scores, each
sentence's ranking, and the parts of the reply with their grades.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional

# Facts of the ranking shown: enough to see the runner-up and what else came close.
FACT_RANKING_SHOWN = 10


def explanation(parse: Mapping[str, Any], payload: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    """The explanation of one turn from the user event's parse data and the reply's payload."""
    return {
        "language": payload.get("lang") if payload else parse.get("lang"),
        "intent": parse.get("intent"),
        "intent_ranking": list(parse.get("intent_ranking") or []),
        "entities": list(parse.get("entities") or []),
        "flags": list(parse.get("flags") or []),
        "normalised_text": parse.get("norm_text"),
        "fact_ranking": list(parse.get("fact_ranking") or [])[:FACT_RANKING_SHOWN],
        "sentences": list(parse.get("fact_segments") or []),
        "parts": [
            {"fact": p.get("fact"), "level": (p.get("evidence") or {}).get("level"), "refs": p.get("refs")}
            for p in (payload or {}).get("parts") or []
            if isinstance(p, Mapping)
        ],
    }
