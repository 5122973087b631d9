"""WeChat's customer-service message API (客服消息): answers that miss the passive-reply window.

WeChat hangs up on a webhook request after 5 s. With `WECHAT_APP_SECRET` set, an answer that is not ready
within the reply budget is acknowledged with "success" and sent later through
`POST {WECHAT_API_URL}/cgi-bin/message/custom/send`, with an access token from `/cgi-bin/token` that is
cached and fetched again five minutes before it expires (or at once when WeChat says it is invalid).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Dict, Optional

import aiohttp

logger = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.weixin.qq.com"
REFRESH_MARGIN = 300.0  # seconds before expiry at which a token is fetched again
INVALID_TOKEN_CODES = frozenset({40001, 40014, 42001})  # invalid, malformed or expired access_token
TIMEOUT = aiohttp.ClientTimeout(total=10)


class WeChatAPIError(RuntimeError):
    """WeChat's API answered with an error code, or could not be reached."""


class CustomerService:
    """Sends text messages to a follower through the customer-service API, with a cached access token."""

    def __init__(self, app_id: str, app_secret: str, api_url: str = DEFAULT_API_URL) -> None:
        """The API of the Official Account `app_id`."""
        self.app_id, self.app_secret, self.api_url = app_id, app_secret, api_url.rstrip("/")
        self._token: Optional[str] = None
        self._expires = 0.0
        self._lock = asyncio.Lock()

    async def _call(self, method: str, path: str, **kwargs: Any) -> Dict[str, Any]:
        try:
            async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
                async with session.request(method, f"{self.api_url}{path}", **kwargs) as answer:
                    data = await answer.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as error:
            raise WeChatAPIError(f"WeChat's API at {self.api_url} could not be reached: {error!r}") from None
        if not isinstance(data, dict):
            raise WeChatAPIError(f"WeChat's API answered {path} with something that is not a JSON object")
        return data

    async def token(self, fresh: bool = False) -> str:
        """A valid access token: the cached one, or a new one when it expires within five minutes."""
        async with self._lock:
            if fresh or self._token is None or time.monotonic() >= self._expires - REFRESH_MARGIN:
                data = await self._call(
                    "GET",
                    "/cgi-bin/token",
                    params={"grant_type": "client_credential", "appid": self.app_id, "secret": self.app_secret},
                )
                if not data.get("access_token"):
                    raise WeChatAPIError(
                        f"WeChat refused an access token (errcode {data.get('errcode')}: {data.get('errmsg')}); "
                        "check WECHAT_APP_ID and WECHAT_APP_SECRET, and that this server's IP is on the "
                        "account's IP whitelist."
                    )
                self._token = str(data["access_token"])
                self._expires = time.monotonic() + float(data.get("expires_in") or 7200)
            return self._token

    async def send_text(self, openid: str, content: str) -> None:
        """Send `content` to the follower `openid`; a token WeChat calls invalid is renewed once."""
        body = {"touser": openid, "msgtype": "text", "text": {"content": content}}
        for fresh in (False, True):
            token = await self.token(fresh=fresh)
            data = await self._call("POST", "/cgi-bin/message/custom/send", params={"access_token": token}, json=body)
            code = int(data.get("errcode") or 0)
            if code == 0:
                return
            if code not in INVALID_TOKEN_CODES or fresh:
                raise WeChatAPIError(
                    f"WeChat did not deliver a customer-service message (errcode {code}: "
                    f"{data.get('errmsg')}); the follower may not have written in 48 hours."
                )
