"""Stored conversations for the staff console: summaries with the signals staff filter on, and filters."""

from __future__ import annotations

import asyncio
import os
from datetime import datetime
from typing import Any, Collection, Dict, List, Mapping, Optional

from bot.staff import HANDOFF_SLOT, STAFF, WAITING
from bot.tools import ToolError
from bot.tools.export import conversation_record
from bot.tools.tracker import latest_slot_values, parse_when, read_conversations, store_url

# A reply with a lower NLU confidence counts as "low confidence" for the filter.
LOW_CONFIDENCE = 0.5
UNANSWERED = ("fallback", "out_of_scope")


def stored_url() -> Any:
    """The tracker store of this server (the same settings the server itself uses)."""
    return store_url(os.environ)


def _read(
    exclude_prefix: Optional[str], ids: Optional[Collection[str]], status: Optional[str]
) -> tuple[list, Dict[str, Any]]:
    try:
        url = stored_url()
    except ToolError:
        return [], {}  # nothing stored yet
    states = latest_slot_values(url, HANDOFF_SLOT)
    if status in (WAITING, STAFF):  # the hand-off list, polled by the console: only those conversations
        held = {sender for sender, value in states.items() if value == status}
        ids = held if ids is None else held & set(ids)
    found = [
        c for c in read_conversations(url, senders=ids) if not (exclude_prefix and c.sender.startswith(exclude_prefix))
    ]
    return found, states


async def read_all(
    agent: Any,
    exclude_prefix: Optional[str] = None,
    ids: Optional[Collection[str]] = None,
    status: Optional[str] = None,
) -> List[Dict[str, Any]]:
    """The stored conversations (those of `ids`, and in hand-off state `status`, when given) as `bot export`
    writes them, with their hand-off status."""
    conversations, states = await asyncio.to_thread(_read, exclude_prefix, ids, status)
    records = []
    for c in conversations:
        record = conversation_record(c)
        record["id"] = record.pop("sender")
        record["status"] = states.get(c.sender) if states.get(c.sender) in ("waiting", "staff") else "bot"
        records.append(record)
    return records


def summary(record: Dict[str, Any]) -> Dict[str, Any]:
    """One conversation's row: when, where, state, and what staff look for (flags, not covered, ...)."""
    messages = record["messages"]
    bots = [m.get("payload") or {} for m in messages if m["from"] == "bot"]
    users = [m for m in messages if m["from"] == "user"]
    last = next((m for m in reversed(messages) if m["from"] in ("user", "bot")), None)
    return {
        "id": record["id"],
        "channel": record.get("channel"),
        "status": record["status"],
        "started": record.get("started"),
        "ended": record.get("ended"),
        "user_messages": len(users),
        "languages": sorted({p.get("lang") for p in bots if p.get("lang")}),
        "flagged": sum(1 for p in bots if p.get("flags")),
        "unanswered": sum(1 for p in bots if p.get("type") in UNANSWERED),
        "low_confidence": sum(
            1
            for p in bots
            if isinstance(p.get("confidence"), (int, float))
            and p.get("type") not in ("input_error", "handoff")
            and p["confidence"] < LOW_CONFIDENCE
        ),
        "not_helpful": sum(1 for m in messages if m["from"] == "feedback" and m.get("rating") == "not_helpful"),
        "first_question": users[0]["text"] if users else "",
        "_text": " ".join(str(m.get("text") or "") for m in messages).lower(),
        "last_message": {"time": last["time"], "from": last["from"], "text": last.get("text", "")} if last else None,
    }


async def conversation_rows(
    agent: Any, exclude_prefix: Optional[str] = None, status: Optional[str] = None
) -> List[Dict[str, Any]]:
    """Summaries of the stored conversations (in hand-off state `status`, when given), most recent first."""
    rows = [summary(r) for r in await read_all(agent, exclude_prefix, status=status)]
    return sorted(rows, key=lambda r: r.get("ended") or "", reverse=True)


def _when(value: Optional[str], end: bool) -> Optional[float]:
    return parse_when(value, end=end) if value else None


def filter_rows(rows: List[Dict[str, Any]], args: Mapping[str, Any]) -> List[Dict[str, Any]]:
    """Rows matching the query's filters: status, channel, lang, q (text), flagged, unanswered,
    low_confidence, not_helpful (any value but "" / "0" / "false" turns a flag filter on), since, until."""

    def arg(name: str) -> str:
        value = args.get(name)
        return str(value[0] if isinstance(value, list) else value or "").strip()

    def on(name: str) -> bool:
        return arg(name).lower() not in ("", "0", "false", "no")

    since, until = _when(arg("since"), False), _when(arg("until"), True)
    q = arg("q").lower()
    found = []
    for row in rows:
        if arg("status") and row["status"] != arg("status"):
            continue
        if arg("channel") and row["channel"] != arg("channel"):
            continue
        if arg("lang") and arg("lang") not in row["languages"]:
            continue
        if any(on(name) and not row[name] for name in ("flagged", "unanswered", "low_confidence", "not_helpful")):
            continue
        ended = datetime.fromisoformat(row["ended"]).timestamp() if row.get("ended") else None
        if (since is not None and (ended is None or ended < since)) or (
            until is not None and ended is not None and ended >= until
        ):
            continue
        if q and q not in row.get("_text", "") and q not in row["id"].lower():
            continue
        found.append({k: v for k, v in row.items() if not k.startswith("_")})
    return found
