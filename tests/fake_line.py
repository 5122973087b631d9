"""A fake LINE Messaging API on loopback, written from LINE's public reference: the reply endpoint
(POST /v2/bot/message/reply) with its bearer token, single-use reply tokens and the limits of text
messages and quick replies. A request the real API would refuse gets LINE's 400 and is recorded with it.

The bot under test is pointed at it with LINE_API_URL; tests hand out reply tokens with `reply_token`.
"""

from __future__ import annotations

import itertools
import secrets
from typing import Any, Dict, List, Optional, Tuple

from tests.fake_json_api import Call, FakeJsonAPI

REPLY_PATH = "/v2/bot/message/reply"
MESSAGES_PER_REPLY = 5
TEXT_CHARS = 5000
QUICK_REPLY_ITEMS = 13
LABEL_CHARS = 20
ACTION_TEXT_CHARS = 300
POSTBACK_DATA_CHARS = 300


def _length_problem(value: Any, limit: int, where: str) -> List[Tuple[str, str]]:
    if not isinstance(value, str) or not value:
        return [("Must not be empty", where)]
    if len(value) > limit:
        return [(f"Length must be between 1 and {limit}", where)]
    return []


def message_problems(message: Any, where: str) -> List[Tuple[str, str]]:
    """(problem, property) of one message object, as LINE's validation reports them."""
    if not isinstance(message, dict) or message.get("type") != "text":
        return [("Only text messages are expected from this bot", f"{where}.type")]
    problems = _length_problem(message.get("text"), TEXT_CHARS, f"{where}.text")
    quick = message.get("quickReply")
    if quick is None:
        return problems
    items = quick.get("items") if isinstance(quick, dict) else None
    if not isinstance(items, list) or not 1 <= len(items) <= QUICK_REPLY_ITEMS:
        return problems + [(f"Size must be between 1 and {QUICK_REPLY_ITEMS}", f"{where}.quickReply.items")]
    for i, item in enumerate(items):
        at = f"{where}.quickReply.items[{i}]"
        action = item.get("action") if isinstance(item, dict) else None
        if not isinstance(item, dict) or item.get("type") != "action" or not isinstance(action, dict):
            problems.append(("Must be an action item", at))
            continue
        problems += _length_problem(action.get("label"), LABEL_CHARS, f"{at}.action.label")
        if action.get("type") == "message":
            problems += _length_problem(action.get("text"), ACTION_TEXT_CHARS, f"{at}.action.text")
        elif action.get("type") == "postback":
            problems += _length_problem(action.get("data"), POSTBACK_DATA_CHARS, f"{at}.action.data")
            if "displayText" in action:
                problems += _length_problem(action["displayText"], ACTION_TEXT_CHARS, f"{at}.action.displayText")
        else:
            problems.append(("Unexpected action type", f"{at}.action.type"))
    return problems


class FakeLineAPI(FakeJsonAPI):
    """The fake Messaging API for one channel access token."""

    name = "fake-line"

    def __init__(self, token: str) -> None:
        """A fake accepting `token` as the channel access token."""
        super().__init__()
        self.token = token
        self._chats: Dict[str, str] = {}  # reply token -> the chat it answers
        self._used: set[str] = set()
        self._ids = itertools.count(500_000_000_000_000)

    @property
    def url(self) -> str:
        """The base URL to give the bot as LINE_API_URL."""
        return self.base

    def reply_token(self, chat: str) -> str:
        """A new reply token for an event in `chat` (what LINE puts in a webhook event)."""
        token = secrets.token_hex(16)
        with self._lock:
            self._chats[token] = chat
        return token

    def respond(self, method: str, path: str, token: Optional[str], body: Any) -> Tuple[int, Dict[str, Any]]:
        """LINE's answer to one request."""
        if method != "POST" or path != REPLY_PATH:
            return 404, {"message": "Not found"}
        if token != self.token:
            return 401, {
                "message": "Authentication failed. Confirm that the access token in the authorization "
                "header is valid."
            }
        reply = body.get("replyToken") if isinstance(body, dict) else None
        if reply not in self._chats or reply in self._used:
            return 400, {"message": "Invalid reply token"}
        messages = body.get("messages")
        if not isinstance(messages, list) or not 1 <= len(messages) <= MESSAGES_PER_REPLY:
            return 400, {
                "message": "The request body has 1 error(s)",
                "details": [{"message": f"Size must be between 1 and {MESSAGES_PER_REPLY}", "property": "messages"}],
            }
        problems = [p for i, m in enumerate(messages) for p in message_problems(m, f"messages[{i}]")]
        if problems:
            return 400, {
                "message": f"The request body has {len(problems)} error(s)",
                "details": [{"message": m, "property": p} for m, p in problems],
            }
        self._used.add(reply)
        return 200, {
            "sentMessages": [{"id": str(next(self._ids)), "quoteToken": secrets.token_hex(8)} for _ in messages]
        }

    def chat_of(self, call: Call) -> Optional[str]:
        """The chat a reply call answered (from its reply token)."""
        return self._chats.get((call.body or {}).get("replyToken")) if isinstance(call.body, dict) else None

    def replies(self, chat: str) -> List[Call]:
        """The accepted replies to `chat` so far."""
        return self.matching(lambda c: c.status == 200 and self.chat_of(c) == chat)

    def wait_replies(self, chat: str, count: int, timeout: float = 30.0) -> List[Call]:
        """The accepted replies to `chat`, once there are at least `count`."""
        return self.wait_for(lambda c: c.status == 200 and self.chat_of(c) == chat, count, timeout)

    def refused(self) -> List[Call]:
        """Requests the fake refused (a real LINE would have too)."""
        return self.matching(lambda c: c.status != 200)
