"""Our adjustments of Rasa give the same results as stock Rasa 3.6.21 (issue 17 point 6).

bot.runtime replaces Rasa functions for speed (the action-response check, the event-class look-up, the
graph runner's planning and the action server's client session) and bot.stores replaces the SQL tracker
store's load and save queries. Each is run here side by side with
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
    # A real answer: a bot event with the contract payload, slots, and the response itself.
    {
        "events": [
            {"event": "slot", "name": "last_facts", "value": ["safety.topical"], "timestamp": None},
            {
                "event": "bot",
                "text": "答案 …",
                "data": {"custom": {"type": "answer", "facts": ["safety.topical"], "citations": [{"ref": 3}]}},
                "metadata": {},
                "timestamp": 1.5,
            },
            {"event": "followup", "name": "action_listen"},
        ],
        "responses": [{"text": "答案 …", "custom": {"type": "answer", "parts": [{"kind": "answer"}]}}],
    },
    {"events": [{"event": "no_such_event_type"}]},
    {"events": [{"event": "slot", "name": "x", "value": 1, "timestamp": "yesterday"}]},
    {"events": [{"event": "bot", "text": 3}]},
    {"events": [{"event": "user", "text": "hi", "parse_data": {"intent": {"name": 5}}}]},
    {"events": [{"event": "slot", "name": "x"}, "not an object"]},
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
    # The quick check never accepts what the full one refuses, and accepts the valid real answer.
    assert not runtime._quickly_valid(result) or stock_error is None
    if result is RESPONSES[8]:
        assert runtime._quickly_valid(result), "the quick check is not used for a real answer"


def test_the_planned_graph_run_gives_what_dasks_does(tmp_path: Path) -> None:
    from rasa.engine.exceptions import GraphRunError
    from rasa.engine.graph import ExecutionContext, GraphComponent, GraphSchema, SchemaNode
    from rasa.engine.runner.dask import DaskGraphRunner
    from rasa.engine.storage.local_model_storage import LocalModelStorage

    calls: List[str] = []

    class Step(GraphComponent):
        @classmethod
        def create(cls, config: Dict[str, Any], *args: Any, **kwargs: Any) -> "Step":
            return cls(config["name"])

        def __init__(self, name: str) -> None:
            self.name = name

        def run(self, **inputs: Any) -> Any:
            calls.append(self.name)
            if inputs.get("x") == "boom":
                raise RuntimeError("boom")
            return [self.name, sorted(inputs.items())]

    def node(name: str, **needs: str) -> SchemaNode:
        return SchemaNode(needs=needs, uses=Step, fn="run", constructor_name="create", config={"name": name})

    schema = GraphSchema(
        {
            "a": node("a", x="message"),
            "b": node("b", x="a"),
            "c": node("c", first="a", second="b", other="tracker"),
            "unused": node("unused", x="message"),
            "d": node("d", x="c"),
        }
    )
    stock = runtime._originals.get("graph_run", DaskGraphRunner.run)
    runner = DaskGraphRunner(schema, LocalModelStorage(tmp_path), ExecutionContext(schema, "test"))
    for targets in (["d"], ["c", "b"], None):
        inputs = {"message": "hi", "tracker": {"n": 1}}
        calls.clear()
        expected, stock_calls = stock(runner, inputs=dict(inputs), targets=targets), sorted(calls)
        calls.clear()
        assert runtime._run_graph(runner, inputs=dict(inputs), targets=targets) == expected
        assert sorted(calls) == stock_calls, "the same nodes ran (each once)"
    with pytest.raises(GraphRunError, match="clashes"):
        runtime._run_graph(runner, inputs={"message": "a", "tracker": {}}, targets=["d"])
    for run in (stock, runtime._run_graph):
        with pytest.raises(Exception) as error:
            run(runner, inputs={"message": "boom", "tracker": {}}, targets=["d"])
        assert "boom" in repr(error.value) + repr(error.value.__cause__)


def test_action_calls_keep_one_connection_to_the_action_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rasa opens a connection per action call; with the kept session, calls reuse one, and answers and
    errors are the same."""
    from aiohttp import web
    from rasa.utils.endpoints import ClientResponseError, EndpointConfig

    peers: List[Any] = []

    async def webhook(request: web.Request) -> web.Response:
        peers.append(request.transport.get_extra_info("peername") if request.transport else None)
        body = await request.json()
        if body.get("fail"):
            return web.json_response({"error": "no"}, status=400)
        return web.json_response({"echo": body})

    async def scenario() -> List[Any]:
        app = web.Application()
        app.router.add_post("/webhook", webhook)
        server = web.AppRunner(app)
        await server.setup()
        site = web.TCPSite(server, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        endpoint = EndpointConfig(f"http://127.0.0.1:{port}/webhook")
        answers = [await endpoint.request(json={"n": n}, method="post") for n in range(3)]
        with pytest.raises(ClientResponseError):
            await endpoint.request(json={"fail": True}, method="post")
        answers.append(await endpoint.request(json={"n": 9}, method="post"))
        await server.cleanup()
        return answers

    monkeypatch.setattr(EndpointConfig, "session", runtime._kept_session)
    answers = asyncio.run(scenario())
    assert answers == [{"echo": {"n": n}} for n in (0, 1, 2, 9)]
    assert len(peers) == 5 and len(set(peers)) == 1, f"one connection for all calls, not {len(set(peers))}"


def test_action_calls_carry_the_json_rasa_would_send() -> None:
    """The kept session writes action calls with ujson: the action server reads the same values."""
    tracker = DialogueStateTracker.from_events("s", conversation("s", 2, 3, 1000.0), DOMAIN.slots)
    body = RemoteAction("action_answer", None)._action_call_format(tracker, DOMAIN)
    odd = {"lone": "\ud800 x", "emoji": "外泌体 😀 a/b", "big": 2**70, "inf": float("inf"), "keys": {1: "a", None: 2}}
    for value in (body, odd, [0.1 + 0.2, -0.0, 1e-7, 123456789.123456789, (1, 2)]):
        assert json.loads(runtime.compact_json(value)) == json.loads(json.dumps(value))
    with pytest.raises(TypeError):
        runtime.compact_json({"x": {1, 2}})


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


def state(tracker: Any) -> Dict[str, Any]:
    """Everything a tracker holds: its events, slots, latest message and action, paused, loop."""
    from rasa.shared.core.trackers import EventVerbosity

    return tracker.current_state(EventVerbosity.ALL)


def test_a_conversation_kept_after_its_save_is_what_the_database_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store hands a conversation it saved back to the next load without reading it, only while the
    database holds exactly what was saved: another process's events, an erased and rewritten conversation,
    a new session and another domain are read from the database."""
    monkeypatch.setenv("TRACKER_SQLITE_PATH", str(tmp_path / "t.db"))
    ours, other = ConfiguredSQLTrackerStore(domain=DOMAIN), ConfiguredSQLTrackerStore(domain=DOMAIN)  # two processes
    events = conversation("web:k", 2, 3, 1_700_000_000.0)
    second_session = next(i for i, e in enumerate(events) if isinstance(e, SessionStarted) and i > 2) - 1

    async def scenario() -> None:
        first = DialogueStateTracker("web:k", DOMAIN.slots)
        for event in events[:3]:
            first.update(event)
        await ours.save(first)
        tracker = await ours.retrieve("web:k")
        assert tracker is not None and tracker is not first, "a first turn holds an event from before its session"
        for event in events[3:8]:
            tracker.update(event)
        await ours.save(tracker)
        kept = await ours.retrieve("web:k")
        assert kept is tracker, "kept after its save and handed back"
        assert state(kept) == state(await other.retrieve("web:k"))
        assert await ours.retrieve("web:k") is not tracker, "handed out once, then read again"

        # Another process adds events: the kept conversation is stale and the database's is read.
        for event in events[8:10]:
            tracker.update(event)
        await ours.save(tracker)
        theirs = await other.retrieve("web:k")
        assert theirs is not None
        theirs.update(events[10])
        await other.save(theirs)
        loaded = await ours.retrieve("web:k")
        assert loaded is not tracker and state(loaded) == state(theirs)

        # A new session started in the conversation: a load reads the latest session only.
        for event in events[11 : second_session + 4]:
            loaded.update(event)
        await ours.save(loaded)
        latest = await ours.retrieve("web:k")
        assert latest is not loaded and state(latest) == state(await other.retrieve("web:k"))
        assert len(latest.events) < len(loaded.events)

        # Erased and written again with as many events: new times, so the database's are read.
        await ours.save(latest)
        with ours.engine.begin() as connection:
            connection.execute(ours.SQLEvent.__table__.delete())
        again = DialogueStateTracker.from_events("web:k", conversation("web:k", 1, 1, 1_800_000_000.0), DOMAIN.slots)
        await other.save(again)
        rewritten = await ours.retrieve("web:k")
        assert rewritten is not latest and state(rewritten) == state(await other.retrieve("web:k"))
        assert rewritten.events[-1].timestamp > 1_800_000_000

        # Another domain (a new model): read again with its slots.
        rewritten.update(UserUttered("and now?", timestamp=1_800_000_050.0))
        await ours.save(rewritten)
        assert "web:k" in ours._kept, "kept, and only another domain makes it stale"
        ours.domain = Domain.from_dict({"slots": {"lang": {"type": "text", "mappings": [{"type": "custom"}]}}})
        assert await ours.retrieve("web:k") is not rewritten

    asyncio.run(scenario())


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
