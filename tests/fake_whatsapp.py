"""A fake WhatsApp Cloud API on loopback, written from Meta's public reference: POST
/{version}/{phone number id}/messages with a bearer token, text messages (body up to 4096 characters) and
interactive reply-button messages (body up to 1024, 1 to 3 buttons with unique ids up to 256 characters
and unique titles up to 20). A request the real API would refuse gets a Graph API error and is recorded.

The bot under test is pointed at it with WHATSAPP_API_URL (`url`, which includes the version).
"""

from __future__ import annotations

import itertools
import re
from typing import Any, Dict, List, Optional, Tuple

from tests.fake_json_api import Call, FakeJsonAPI

VERSION = "v21.0"
TEXT_CHARS = 4096
BODY_CHARS = 1024
BUTTONS = 3
TITLE_CHARS = 20
ID_CHARS = 256
_PATH = re.compile(r"^/(?P<version>v\d+\.\d+)/(?P<phone>[^/]+)/messages$")


def _error(status: int, code: int, message: str) -> Tuple[int, Dict[str, Any]]:
    return status, {"error": {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AbCdEf"}}


def message_problems(body: Any) -> List[str]:
    """Why the Cloud API would refuse this message (empty when it would send it)."""
    if not isinstance(body, dict) or body.get("messaging_product") != "whatsapp":
        return ["messaging_product must be 'whatsapp'"]
    if not isinstance(body.get("to"), str) or not body["to"]:
        return ["'to' is required"]
    kind = body.get("type")
    if kind == "text":
        text = (body.get("text") or {}).get("body")
        if not isinstance(text, str) or not 1 <= len(text) <= TEXT_CHARS:
            return [f"text.body must have 1 to {TEXT_CHARS} characters"]
        return []
    if kind != "interactive":
        return [f"unexpected message type {kind!r}"]
    interactive = body.get("interactive") or {}
    if interactive.get("type") != "button":
        return ["interactive.type must be 'button' for this bot"]
    problems = []
    text = (interactive.get("body") or {}).get("text")
    if not isinstance(text, str) or not 1 <= len(text) <= BODY_CHARS:
        problems.append(f"interactive.body.text must have 1 to {BODY_CHARS} characters")
    buttons = (interactive.get("action") or {}).get("buttons")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= BUTTONS:
        return problems + [f"interactive.action.buttons must hold 1 to {BUTTONS} buttons"]
    replies = [b.get("reply") or {} for b in buttons if isinstance(b, dict) and b.get("type") == "reply"]
    if len(replies) != len(buttons):
        problems.append("every button must be of type 'reply'")
    ids, titles = [r.get("id") for r in replies], [r.get("title") for r in replies]
    for data in ids:
        if not isinstance(data, str) or not 1 <= len(data) <= ID_CHARS or data != data.strip():
            problems.append(f"button id {data!r} must have 1 to {ID_CHARS} characters, no surrounding spaces")
    for title in titles:
        if not isinstance(title, str) or not 1 <= len(title) <= TITLE_CHARS:
            problems.append(f"button title {title!r} must have 1 to {TITLE_CHARS} characters")
    if len(set(map(str, ids))) != len(ids) or len(set(map(str, titles))) != len(titles):
        problems.append("button ids and titles must be unique")
    return problems


class FakeWhatsAppAPI(FakeJsonAPI):
    """The fake Cloud API for one access token and one business phone number id."""

    name = "fake-whatsapp"

    def __init__(self, token: str, phone_number_id: str) -> None:
        """A fake accepting `token` and sending from `phone_number_id`."""
        super().__init__()
        self.token, self.phone_number_id = token, phone_number_id
        self._ids = itertools.count(1)

    @property
    def url(self) -> str:
        """The base URL (with the Graph API version) to give the bot as WHATSAPP_API_URL."""
        return f"{self.base}/{VERSION}"

    def respond(self, method: str, path: str, token: Optional[str], body: Any) -> Tuple[int, Dict[str, Any]]:
        """The Cloud API's answer to one request."""
        match = _PATH.match(path)
        if method != "POST" or not match:
            return _error(400, 100, "Unsupported request - method type or path is not supported")
        if token != self.token:
            return _error(401, 190, "Invalid OAuth access token - Cannot parse access token")
        if match["phone"] != self.phone_number_id:
            return _error(400, 100, f"Unsupported post request. Object with ID '{match['phone']}' does not exist")
        problems = message_problems(body)
        if problems:
            return _error(400, 100, "(#100) Invalid parameter: " + "; ".join(problems))
        to = body["to"]
        return 200, {
            "messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": to}],
            "messages": [{"id": f"wamid.FAKE{next(self._ids):012d}"}],
        }

    def sent(self, to: str) -> List[Call]:
        """The accepted messages to `to` so far."""
        return self.matching(lambda c: c.status == 200 and (c.body or {}).get("to") == to)

    def wait_sent(self, to: str, count: int, timeout: float = 30.0) -> List[Call]:
        """The accepted messages to `to`, once there are at least `count`."""
        return self.wait_for(lambda c: c.status == 200 and (c.body or {}).get("to") == to, count, timeout)

    def refused(self) -> List[Call]:
        """Requests the fake refused (the real Cloud API would have too)."""
        return self.matching(lambda c: c.status != 200)
