"""The action server: rasa-sdk's app with safe defaults.

rasa-sdk binds every interface (0.0.0.0), answers anyone and takes bodies of any size. Here it listens
on loopback unless ACTION_HOST says otherwise; on any other interface it needs ACTION_SERVER_TOKEN, a
shared secret that the Rasa server sends with every call (endpoints.yml `token`) and that every request
but `/health` must carry; and a body over ACTION_REQUEST_MAX_SIZE bytes (default 8 MB: a tracker
carries the whole conversation) is refused with 413.

Privacy (bot.privacy): rasa-sdk answers a failed action with a 500 that carries the whole conversation
back (`request_body`), which the Rasa server then logs at ERROR, and logs the error's message, which may
quote the user. Here a failure is answered with the action's name and the error's type only; the log
line names the sender by its hash, and the texts and ids of the conversation in the request are masked
in every log line of that request.

Run: python -m bot.action_server --port 5055 [--actions actions]
"""

from __future__ import annotations

import argparse
import hmac
import ipaddress
import json
import logging
import os
import sys
import zlib
from typing import Any, Dict, List, Mapping, Optional, cast

from bot import privacy

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_MAX_SIZE = 8 * 1024 * 1024


class ActionServerError(RuntimeError):
    """The action server's settings are unsafe or invalid; the message says which and how to fix it."""


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def settings(env: Mapping[str, str]) -> tuple[str, Optional[str], int]:
    """(host, token, body limit) from the environment, refusing a non-loopback host without a token."""
    host = env.get("ACTION_HOST", "").strip() or DEFAULT_HOST
    token = env.get("ACTION_SERVER_TOKEN", "").strip() or None
    if not is_loopback(host) and not token:
        raise ActionServerError(
            f"ACTION_HOST={host} opens the action server to other machines, but ACTION_SERVER_TOKEN is not set: "
            "anyone could call the actions. Set ACTION_SERVER_TOKEN to a long random secret (the Rasa server "
            "sends it), or leave ACTION_HOST unset to listen on loopback only."
        )
    raw = env.get("ACTION_REQUEST_MAX_SIZE", "").strip()
    try:
        limit = int(raw) if raw else DEFAULT_MAX_SIZE
    except ValueError:
        raise ActionServerError(f"ACTION_REQUEST_MAX_SIZE={raw!r} is not a number of bytes; e.g. 8388608.") from None
    return host, token, limit


def action_call(request: Any) -> Dict[str, Any]:
    """The action call of a webhook request (rasa-sdk also accepts it deflate-compressed), or {}."""
    try:
        if request.headers.get("content-encoding", "") == "deflate":
            call = json.loads(zlib.decompress(request.body or b""))
        else:
            call = request.json  # parsed once, kept by Sanic for rasa-sdk's handler
    except Exception:  # not JSON, bad compression: rasa-sdk answers it
        return {}
    return call if isinstance(call, dict) else {}


def remember_conversation(call: Mapping[str, Any]) -> None:
    """Mask, in this request's log lines, the sender id and every user-written string of the tracker
    sent with an action call: the texts of its user events, their normalised form, and text slots."""
    tracker = cast(Dict[str, Any], call.get("tracker") if isinstance(call.get("tracker"), dict) else {})
    sender = call.get("sender_id") or tracker.get("sender_id")
    texts: List[Any] = []
    messages = [e for e in tracker.get("events") or [] if isinstance(e, dict) and e.get("event") == "user"]
    for message in [tracker.get("latest_message"), *messages]:
        if isinstance(message, dict):
            parsed = cast(
                Dict[str, Any], message.get("parse_data") if isinstance(message.get("parse_data"), dict) else message
            )
            texts += [message.get("text"), parsed.get("norm_text")]
    slots = cast(Dict[str, Any], tracker.get("slots") if isinstance(tracker.get("slots"), dict) else {})
    texts += [value for value in slots.values() if isinstance(value, str)]
    privacy.REDACTOR.remember(
        texts=texts,
        senders=[sender] if isinstance(sender, str) else [],
        conversation=sender if isinstance(sender, str) else None,
    )


def create_app(token: Optional[str], max_size: int, package: str = "actions"):  # type: ignore[no-untyped-def]
    """rasa-sdk's app for the actions of `package`, with the token check, the body limit and private errors."""
    from rasa_sdk.endpoint import create_app as sdk_app
    from sanic import response
    from sanic.exceptions import SanicException

    app = sdk_app(package, cors_origins=None, auto_reload=False)
    app.config.REQUEST_MAX_SIZE = max_size

    @app.exception(Exception)
    async def failed(request, exception):  # type: ignore[no-untyped-def]
        # Replaces rasa-sdk's handler, which answers with the whole conversation and logs the error's text
        # unredacted (the message of an action's error may quote the user).
        if isinstance(exception, SanicException):
            return response.json({"error": str(exception)}, status=getattr(exception, "status_code", 500))
        call = action_call(request)
        action = str(call.get("next_action") or "(unknown)")
        sender = call.get("sender_id")
        logger.error(
            "Action server: the action %s failed (%s) on a message from %s; the Rasa server gets a 500 "
            "without the conversation. The traceback follows (private data masked).",
            action,
            type(exception).__name__,
            privacy.log_id(sender) if sender else "an unknown sender",
            exc_info=exception,
        )
        return response.json(
            {
                "error": f"the action {action} failed ({type(exception).__name__}); see the action " "server's log",
                "action_name": action,
            },
            status=500,
        )

    @app.middleware("request")
    async def check_size(request):  # type: ignore[no-untyped-def]
        # rasa-sdk reads the body inside its handler and would turn Sanic's refusal into a 500.
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_size:
            return response.json({"error": f"request body over {max_size} bytes"}, status=413)
        return None

    if token:

        @app.middleware("request")
        async def check_token(request):  # type: ignore[no-untyped-def]
            if request.path == "/health":
                return None
            given = request.args.get("token") or request.headers.get("x-action-token") or ""
            if not hmac.compare_digest(given.encode(), token.encode()):
                return response.json({"error": "missing or wrong action server token"}, status=401)
            return None

    @app.middleware("request")
    async def private_logs(request):  # type: ignore[no-untyped-def]
        if request.method == "POST" and request.path == "/webhook":
            remember_conversation(action_call(request))
        return None

    return app


def main(argv: Optional[List[str]] = None) -> int:
    """Start the action server (blocks until stopped)."""
    parser = argparse.ArgumentParser(description="The bot's action server (rasa-sdk) with safe defaults.")
    parser.add_argument("--port", type=int, default=int(os.environ.get("ACTION_PORT", "5055")))
    parser.add_argument("--actions", default="actions", help="Python package of the custom actions (default: actions)")
    args = parser.parse_args(argv)
    os.umask(privacy.PRIVATE_UMASK)
    privacy.protect_logs()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s - %(message)s")
    try:
        host, token, limit = settings(os.environ)
    except ActionServerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    app = create_app(token, limit, args.actions)
    logger.info(
        "Action server on http://%s:%d (token %s, body limit %d bytes)",
        host,
        args.port,
        "required" if token else "off (loopback only)",
        limit,
    )
    app.run(host, args.port, workers=1, access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
