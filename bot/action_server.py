"""The action server: rasa-sdk's app with safe defaults.

rasa-sdk binds every interface (0.0.0.0), answers anyone and takes bodies of any size. Here it listens
on loopback unless ACTION_HOST says otherwise; on any other interface it needs ACTION_SERVER_TOKEN, a
shared secret that the Rasa server sends with every call (endpoints.yml `token`) and that every request
but `/health` must carry; and a body over ACTION_REQUEST_MAX_SIZE bytes (default 8 MB: a tracker
carries the whole conversation) is refused with 413.

Run: python -m bot.action_server --port 5055
"""

from __future__ import annotations

import argparse
import hmac
import ipaddress
import logging
import os
import sys
from typing import List, Mapping, Optional

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


def create_app(token: Optional[str], max_size: int):  # type: ignore[no-untyped-def]
    """rasa-sdk's app for our actions, with the token check and the body limit."""
    from rasa_sdk.endpoint import create_app as sdk_app
    from sanic import response

    app = sdk_app("actions", cors_origins=None, auto_reload=False)
    app.config.REQUEST_MAX_SIZE = max_size

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

    return app


def main(argv: Optional[List[str]] = None) -> int:
    """Start the action server (blocks until stopped)."""
    parser = argparse.ArgumentParser(description="The bot's action server (rasa-sdk) with safe defaults.")
    parser.add_argument("--port", type=int, default=int(os.environ.get("ACTION_PORT", "5055")))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s - %(message)s")
    try:
        host, token, limit = settings(os.environ)
    except ActionServerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    app = create_app(token, limit)
    logger.info("Action server on http://%s:%d (token %s, body limit %d bytes)", host, args.port,
                "required" if token else "off (loopback only)", limit)
    app.run(host, args.port, workers=1, access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
