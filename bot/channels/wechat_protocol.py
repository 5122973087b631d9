"""WeChat Official Account protocol pieces: safe XML parsing, URL signatures and the channel's settings
(read from the environment), shared by the channel (bot/channels/wechat.py) and its tests."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import re
from typing import Any, Dict, Mapping

import xmltodict
from rasa.shared.exceptions import RasaException
from wechatpy.utils import WeChatSigner

from bot.channels.images import WECHAT_MEDIA_HOSTS, hosts_setting
from bot.channels.wechat_api import DEFAULT_API_URL

REPLY_BUDGET = 4.0  # seconds a delivery waits before giving up; WeChat hangs up at 5 s


class UnsafeXML(ValueError):
    """The request body is not XML we accept (a DTD, an entity declaration, or not well formed)."""


# Tags a WeChat message may have: a few dozen at most; deeper documents are refused before parsing.
MAX_XML_TAGS = 200
_CDATA = re.compile(rb"<!\[CDATA\[.*?\]\]>", re.DOTALL)
# How far a request's timestamp may be from now, in seconds; a signed URL is refused outside it.
TIMESTAMP_WINDOW = 300


def parse_xml(data: bytes | str) -> Dict[str, Any]:
    """The fields of a WeChat `<xml>` document, refusing DTDs and entities (no expansion ever)."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    # Counted outside CDATA sections, where WeChat puts what the user typed ("<<<" is text there, not tags).
    if _CDATA.sub(b"", raw).count(b"<") > MAX_XML_TAGS:
        raise UnsafeXML(f"the XML has more than {MAX_XML_TAGS} tags (WeChat sends a handful, never nested deep)")
    lowered = raw.lower()
    root = lowered.find(b"<xml")
    prolog = lowered if root < 0 else lowered[:root]  # a DTD can only come before the root element
    if b"<!doctype" in prolog or b"<!entity" in prolog:
        raise UnsafeXML("the XML declares a DTD or entities, which WeChat never sends")
    try:
        document = xmltodict.parse(raw, disable_entities=True)
    except Exception as error:  # ExpatError, or xmltodict's refusal of an entity declaration
        raise UnsafeXML(f"the XML is not well formed or uses entities ({error})") from None
    fields = document.get("xml") if isinstance(document, dict) else None
    if not isinstance(fields, dict):
        raise UnsafeXML("the XML has no <xml> root with fields")
    return fields


def wechat_signature(*parts: str) -> str:
    """WeChat's signature: SHA-1 over the sorted, concatenated parts (token, timestamp, nonce[, encrypt])."""
    signer = WeChatSigner()
    signer.add_data(*parts)
    return signer.signature


@dataclasses.dataclass(frozen=True)
class WeChatSettings:
    """Token, AppID and EncodingAESKey as configured in the Official Account's server settings; the AppSecret
    for the customer-service API (late answers), its address, and the passive-reply budget."""

    token: str
    app_id: str = ""
    aes_key: str = ""
    app_secret: str = ""
    api_url: str = DEFAULT_API_URL
    reply_budget: float = REPLY_BUDGET
    media_hosts: tuple[str, ...] = WECHAT_MEDIA_HOSTS  # where a picture's PicUrl may point (WECHAT_MEDIA_HOSTS)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "WeChatSettings":
        """Read WECHAT_TOKEN, WECHAT_APP_ID and WECHAT_AES_KEY; raise a clear error when they are wrong."""
        budget = env.get("WECHAT_REPLY_BUDGET", "").strip() or str(REPLY_BUDGET)
        try:
            reply_budget = float(budget)
        except ValueError:
            reply_budget = -1.0
        if not 0 < reply_budget <= REPLY_BUDGET:
            raise RasaException(
                f"WeChat channel: WECHAT_REPLY_BUDGET must be a number of seconds above 0 and "
                f"at most {REPLY_BUDGET} (WeChat hangs up at 5 s), not {budget!r}."
            )
        settings = cls(
            token=env.get("WECHAT_TOKEN", "").strip(),
            app_id=env.get("WECHAT_APP_ID", "").strip(),
            aes_key=env.get("WECHAT_AES_KEY", "").strip(),
            app_secret=env.get("WECHAT_APP_SECRET", "").strip(),
            api_url=env.get("WECHAT_API_URL", "").strip() or DEFAULT_API_URL,
            reply_budget=reply_budget,
            media_hosts=hosts_setting(env, "WECHAT_MEDIA_HOSTS", WECHAT_MEDIA_HOSTS),
        )
        if settings.app_secret and not settings.app_id:
            raise RasaException(
                "WeChat channel: WECHAT_APP_SECRET needs WECHAT_APP_ID (the account's AppID) "
                "for the customer-service API."
            )
        if not settings.token:
            raise RasaException(
                "WeChat channel: WECHAT_TOKEN is empty. Set it to the Token of the "
                "Official Account's server configuration (see README, Messaging apps)."
            )
        if settings.aes_key:
            try:
                key = base64.b64decode(settings.aes_key + "=", validate=True)
            except (binascii.Error, ValueError):
                key = b""
            if len(settings.aes_key) != 43 or len(key) != 32:
                raise RasaException(
                    "WeChat channel: WECHAT_AES_KEY must be the 43-character EncodingAESKey "
                    "from the Official Account's server configuration."
                )
            if not settings.app_id:
                raise RasaException(
                    "WeChat channel: safe mode needs WECHAT_APP_ID (the account's AppID) "
                    "together with WECHAT_AES_KEY."
                )
        return settings
