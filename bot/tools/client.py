"""Talks to the running bot over its REST channel, as a consumer's app would."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from bot.tools import ToolError

DEFAULT_URL = "http://127.0.0.1:5005"
WEBHOOK = "/webhooks/rest/webhook"


@dataclass(frozen=True)
class BotReply:
    """The visible text and the contract payload of one reply (None where the bot sent none)."""

    text: str
    payload: Optional[Dict[str, Any]]
    messages: List[Dict[str, Any]]


class RestClient:
    """A REST client of the Rasa server at `url`."""

    def __init__(self, url: str = DEFAULT_URL, timeout: float = 60.0) -> None:
        """Client for the bot at `url` (scheme, host and port)."""
        self.url = url.rstrip("/")
        self.timeout = timeout

    def version(self) -> str:
        """The server's greeting line (`Hello from Rasa: 3.6.21`); raises ToolError when nobody answers."""
        try:
            with urllib.request.urlopen(f"{self.url}/", timeout=min(self.timeout, 10)) as response:
                return response.read().decode("utf-8", errors="replace").strip()
        except (urllib.error.URLError, OSError) as e:
            raise ToolError(
                f"No bot answers at {self.url} ({getattr(e, 'reason', e)}). Start it with `make run`, "
                "or pass the address of the running bot with --url."
            ) from e

    def ask(self, sender: str, message: str) -> BotReply:
        """Send one message as `sender`; returns the joined text and the payload of the reply."""
        body = json.dumps({"sender": sender, "message": message}).encode("utf-8")
        request = urllib.request.Request(
            f"{self.url}{WEBHOOK}", data=body, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                messages = json.loads(response.read())
        except urllib.error.HTTPError as e:
            raise ToolError(
                f"The bot at {self.url} answered HTTP {e.code} to {message!r}. Check the Rasa server log "
                "(var/logs/rasa-server.log) and that the REST channel is on in credentials.yml."
            ) from e
        except (urllib.error.URLError, OSError, ValueError) as e:
            raise ToolError(
                f"No usable reply from {self.url} to {message!r} ({getattr(e, 'reason', e)}). "
                "Check that the bot is still running; raise --timeout for a slow machine."
            ) from e
        texts = [m["text"] for m in messages if m.get("text")]
        payloads = [m["custom"] for m in messages if isinstance(m.get("custom"), dict)]
        return BotReply(text="\n".join(texts), payload=payloads[0] if payloads else None, messages=messages)
