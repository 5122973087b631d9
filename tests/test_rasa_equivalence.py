"""Our adjustments of Rasa give the same results as stock Rasa 3.6.21 (issue 17 point 6).

bot.runtime replaces two Rasa functions for speed (the action-response check and the event-class look-up)
and bot.stores replaces the SQL tracker store's load and save queries. Each is run here side by side with
the stock code on the same inputs: the same answers, the same errors, the same stored conversations. No
servers are needed.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any, Dict, List

import jsonschema
import pytest
import rasa
import sqlalchemy as sa
from rasa.core.actions.action import RemoteAction
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    Event,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.utils.common import all_subclasses

from bot import runtime
from bot.stores import ConfiguredSQLTrackerStore

DOMAIN = Domain.from_dict({"slots": {"lang": {"type": "text", "mappings": [{"type": "custom"}]}}})


def test_the_installed_rasa_is_the_release_the_adjustments_were_written_for() -> None:
    assert rasa.__version__ == runtime.RASA_WRITTEN_FOR, (
        f"Rasa {rasa.__version__} is installed; bot.runtime and bot.stores were written for "
        f"{runtime.RASA_WRITTEN_FOR}. Check this file's comparisons against the new release, then update "
        "RASA_WRITTEN_FOR."
    )
    assert runtime.rasa_version_matches()


def test_another_rasa_release_turns_the_speed_adjustments_off_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(rasa, "__version__", "3.7.0")
    monkeypatch.setattr(runtime, "_version_warned", [])
    with caplog.at_level(logging.WARNING, logger="bot.runtime"):
        assert not runtime.rasa_version_matches()
        assert not runtime.rasa_version_matches()
    warnings = [r.getMessage() for r in caplog.records if "written for Rasa" in r.getMessage()]
    assert len(warnings) == 1 and "3.7.0" in warnings[0] and "rasa==3.6.21" in warnings[0]


RESPONSES: List[Dict[str, Any]] = [
    {"events": [], "responses": []},
    {
        "events": [{"event": "slot", "name": "lang", "value": "en", "timestamp": None}],
        "responses": [{"text": "hi", "custom": {"type": "answer"}}],
    },
    {"events": [{"event": "action", "name": "action_listen"}], "responses": []},
    {},
    {"events": "not a list"},
    {"events": [{"name": "x"}]},
    {"events": [{"event": "slot", "name": 3}]},
    {"responses": "nope"},
]


@pytest.mark.parametrize("result", RESPONSES, ids=range(len(RESPONSES)))
def test_the_compiled_action_response_check_accepts_and_refuses_like_rasa(result: Dict[str, Any]) -> None:
    stock = RemoteAction("action_x", None)
    try:
        expected = stock._validate_action_result(result)
        stock_error = None
    except jsonschema.ValidationError as error:
        expected, stock_error = None, error
    if stock_error is None:
        assert runtime._validate_action_result(stock, result) is expected is True
    else:
        with pytest.raises(jsonschema.ValidationError) as ours:
            runtime._validate_action_result(stock, result)
        assert ours.value.message == stock_error.message
        assert list(ours.value.path) == list(stock_error.path)


def test_the_remembered_event_classes_are_the_ones_rasa_finds(monkeypatch: pytest.MonkeyPatch) -> None:
    # Rasa's own function (kept by runtime.apply() when an earlier test applied the adjustments).
    original = runtime._original_resolve or Event.resolve_by_type
    assert original is not runtime._resolve_event_type
    monkeypatch.setattr(runtime, "_original_resolve", original)
    monkeypatch.setattr(runtime, "_event_classes", {})
    names = sorted({cls.type_name for cls in all_subclasses(Event) if getattr(cls, "type_name", None)})
    assert len(names) > 20
    for _ in range(2):  # the second round answers from memory
        for name in names:
            assert runtime._resolve_event_type(name) is original(name), name
    assert runtime._resolve_event_type("topic") is original("topic") is None
    assert runtime._resolve_event_type("no_such_event", default=SlotSet) is original("no_such_event", default=SlotSet)
    with pytest.raises(ValueError) as stock_error:
        original("no_such_event")
    with pytest.raises(ValueError) as ours:
        runtime._resolve_event_type("no_such_event")
    assert str(ours.value) == str(stock_error.value)


def conversation(sender: str, sessions: int, turns: int, start: float) -> List[Event]:
    """A conversation of several sessions, as the bot stores them."""
    events: List[Event] = []
    clock = start
    for session in range(sessions):
        events += [
            ActionExecuted("action_session_start", timestamp=clock),
            SessionStarted(timestamp=clock + 0.1),
            ActionExecuted("action_listen", timestamp=clock + 0.2),
        ]
        for turn in range(turns):
            clock += 1
            text = f"{sender} s{session} t{turn} 外泌体"
            events += [
                UserUttered(text, intent={"name": "ask_knowledge", "confidence": 0.9}, timestamp=clock),
                SlotSet("lang", "zh-Hans" if turn % 2 else "en", timestamp=clock + 0.1),
                ActionExecuted("action_answer", timestamp=clock + 0.2),
                BotUttered("answer", {"custom": {"type": "answer", "n": turn}}, timestamp=clock + 0.3),
                ActionExecuted("action_listen", timestamp=clock + 0.4),
            ]
        clock += 100
    return events


def stored_rows(store: SQLTrackerStore, sender: str) -> List[Any]:
    """The stored rows of one conversation, without their ids, in order."""
    table = store.SQLEvent.__table__
    with store.engine.connect() as connection:
        rows = connection.execute(
            sa.select(
                table.c.sender_id,
                table.c.type_name,
                table.c.timestamp,
                table.c.intent_name,
                table.c.action_name,
                table.c.data,
            )
            .where(table.c.sender_id == sender)
            .order_by(table.c.id)
        ).all()
    return [tuple(row[:5]) + (json.loads(row[5]),) for row in rows]


def dump(tracker: Any) -> List[Dict[str, Any]]:
    return [event.as_dict() for event in tracker.events] if tracker is not None else []


def test_our_tracker_store_stores_and_loads_what_rasas_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKER_SQLITE_PATH", str(tmp_path / "ours.db"))
    ours = ConfiguredSQLTrackerStore(domain=DOMAIN)
    assert ours._fast
    stock = SQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=str(tmp_path / "stock.db"))

    async def scenario(store: SQLTrackerStore) -> Dict[str, Any]:
        seen: Dict[str, Any] = {}
        for sender, sessions in (("web:a", 1), ("rest:b", 3), ("telegram:c", 2)):
            # As the server does: each message loads the conversation (its latest session), adds the new
            # events and saves; a save appends only what is new.
            events = conversation(sender, sessions, 3, 1_700_000_000.0)
            batch: List[Event] = []
            for event in events:
                batch.append(event)
                if isinstance(event, ActionExecuted) and event.action_name == "action_listen":
                    tracker = await store.retrieve(sender) or DialogueStateTracker(sender, DOMAIN.slots)
                    for new in batch:
                        tracker.update(new)
                    await store.save(tracker)
                    await store.save(tracker)  # a second save with nothing new adds nothing
                    batch = []
            seen[sender] = {
                "latest_session": dump(await store.retrieve(sender)),
                "all_sessions": dump(await store.retrieve_full_tracker(sender)),
                "rows": stored_rows(store, sender),
            }
        seen["unknown"] = dump(await store.retrieve("web:nobody"))
        seen["keys"] = sorted(await store.keys())
        return seen

    assert asyncio.run(scenario(ours)) == asyncio.run(scenario(stock))
    # The latest session of a three-session conversation is a part of it, ending like it.
    latest = dump(asyncio.run(ours.retrieve("rest:b")))
    full = dump(asyncio.run(ours.retrieve_full_tracker("rest:b")))
    assert 0 < len(latest) < len(full) and latest[-3:] == full[-3:]
    assert stored_rows(ours, "rest:b")[0][4] == "action_session_start"


def test_with_another_rasa_release_the_store_runs_rasas_own_queries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACKER_SQLITE_PATH", str(tmp_path / "t.db"))
    monkeypatch.setattr(runtime, "rasa_version_matches", lambda: False)
    store = ConfiguredSQLTrackerStore(domain=DOMAIN)
    assert not store._fast
    tracker = DialogueStateTracker.from_events("web:z", conversation("web:z", 2, 2, 1_700_000_000.0), DOMAIN.slots)
    asyncio.run(store.save(tracker))
    assert dump(asyncio.run(store.retrieve_full_tracker("web:z"))) == dump(tracker)


def test_the_training_cache_sees_our_data_and_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every component of ours adds a hash of the term lists, facts and NLU code to Rasa's fingerprint, so
    a cached training result is reused only while they are unchanged (the cache is on in `make train`)."""
    from bot.nlu import base
    from bot.nlu.claims import SystemicClaimDetector
    from bot.nlu.cues import CueFeaturizer
    from bot.nlu.entities import LexiconEntityExtractor
    from bot.nlu.facts import FactClassifier
    from bot.nlu.intents import SampledDIETClassifier
    from bot.nlu.normalizer import ScriptNormalizer
    from bot.nlu.tokenizer import BilingualTokenizer

    ours = [ScriptNormalizer, BilingualTokenizer, LexiconEntityExtractor, SystemicClaimDetector, CueFeaturizer,
            SampledDIETClassifier, FactClassifier]  # fmt: skip
    first = {c.fingerprint_addon({}) for c in ours}
    assert first == {base.nlu_fingerprint()} and len(base.nlu_fingerprint()) == 64
    # An edit of a term list changes it.
    data = tmp_path / "data"
    (data / "nlu").mkdir(parents=True)
    (data / "nlu" / "lexicon.yml").write_text("a: [b]\n", encoding="utf-8")
    monkeypatch.setattr(base, "DATA", data)
    base.nlu_fingerprint.cache_clear()
    try:
        before = base.nlu_fingerprint()
        (data / "nlu" / "lexicon.yml").write_text("a: [b, c]\n", encoding="utf-8")
        base.nlu_fingerprint.cache_clear()
        assert base.nlu_fingerprint() != before
    finally:
        base.nlu_fingerprint.cache_clear()


def test_a_model_trained_with_other_term_lists_says_so_when_loaded(caplog: pytest.LogCaptureFixture) -> None:
    """The fact classifier stores the fingerprint it was trained with; a different one is logged once at
    load, naming the fix (the rule lists themselves are read from data/ when the model loads)."""
    from bot.nlu import base

    with caplog.at_level(logging.WARNING, logger="bot.nlu.base"):
        assert base.check_trained_with(base.nlu_fingerprint())
        assert not base.check_trained_with("0" * 64)
    warnings = [r.getMessage() for r in caplog.records if "make train" in r.getMessage()]
    assert len(warnings) == 1 and "000000000000" in warnings[0]
