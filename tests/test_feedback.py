"""Feedback (contract 1.1 section 3): what a client may send, and which answer a rating is tied to."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from rasa.core.lock_store import InMemoryLockStore
from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, UserUttered

from bot.contract import MAX_REASON_CHARS
from bot.feedback import Feedback, read_feedback, record_feedback
from bot.paths import ROOT


@pytest.mark.parametrize(
    "data, problem",
    [
        (None, "object"),
        ([], "object"),
        ({"rating": "meh", "answer": "x"}, "'rating'"),
        ({"rating": "helpful"}, "'answer'"),
        ({"rating": "helpful", "answer": "  "}, "'answer'"),
        ({"rating": "helpful", "answer": "x", "reason": 3}, "'reason'"),
    ],
)
def test_bad_feedback_is_refused_with_the_reason(data: Any, problem: str) -> None:
    feedback, why = read_feedback(data)
    assert feedback is None and problem in why


def test_a_reason_is_kept_short_and_on_one_line() -> None:
    feedback, why = read_feedback({"rating": "not_helpful", "answer": "a", "reason": "too\nvague\x00 " + "x" * 900})
    assert why is None and feedback is not None
    assert feedback.reason.startswith("too vague ") and len(feedback.reason) == MAX_REASON_CHARS


class Agent:
    """What record_feedback needs of Rasa's agent: its tracker store and lock store."""

    def __init__(self) -> None:
        self.tracker_store = InMemoryTrackerStore(Domain.load(str(ROOT / "domain.yml")))
        self.lock_store = InMemoryLockStore()


def test_a_rating_names_the_latest_answer_with_that_text_and_changes_nothing_else() -> None:
    agent = Agent()
    store = agent.tracker_store
    tracker = store.init_tracker("web:s1")
    payload = {"custom": {"type": "answer", "facts": ["safety.topical"]}}
    for i, (question, answer) in enumerate([("q1", "same text"), ("q2", "other"), ("q3", "same text")]):
        tracker.update(UserUttered(question, timestamp=10.0 + i))
        tracker.update(BotUttered(answer, data=payload, timestamp=10.5 + i))
    asyncio.run(store.save(tracker))
    slots_before = dict(tracker.current_slot_values())

    assert asyncio.run(record_feedback(agent, "web:s1", Feedback("helpful", "same text"), "web")) is None
    assert asyncio.run(record_feedback(agent, "web:s1", Feedback("helpful", "never said"), "web")) == (
        "no answer with this text in the conversation"
    )
    assert asyncio.run(record_feedback(agent, "web:nobody", Feedback("helpful", "x"), "web")) == "no such conversation"
    stored = asyncio.run(store.retrieve("web:s1"))
    rating = stored.get_slot("feedback")
    assert rating["answer_timestamp"] == 12.5 and rating["answer_facts"] == ["safety.topical"]
    assert {k: v for k, v in stored.current_slot_values().items() if k != "feedback"} == {
        k: v for k, v in slots_before.items() if k != "feedback"
    }
    assert stored.latest_message.text == "q3"  # a rating is not a message
