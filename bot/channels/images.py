"""Pictures sent to the bot, shared by every channel: fetched within limits, read on this machine (bot.ocr),
and passed on as the user's message; or answered with a polite note when they cannot be read.

The text read in a picture becomes the message (cut to the contract's 2,000 characters) and its metadata
carries `image` (what the reader measured), so the actions lead the reply with "I read this in your
image: …" and the staff tools show where the text came from. The picture itself is not stored.
"""

from __future__ import annotations

import dataclasses
import logging
import urllib.parse
from typing import Any, Dict, Iterable, Mapping, Optional, Tuple

from bot.channels.plain import clean_user_text
from bot.contract import MAX_MESSAGE_CHARS
from bot.ocr import IMAGE_KEY, ImageProblem, ImageReader, shared_reader
from bot.texts import Texts, default_texts

logger = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT = 3.0  # seconds for a platform's picture download (WeChat's passive reply window is 5 s)
# WeChat's own media hosts: the `PicUrl` of a user's picture points at them (WECHAT_MEDIA_HOSTS overrides).
WECHAT_MEDIA_HOSTS = ("mmbiz.qpic.cn", "mmbiz.qlogo.cn", "mmsns.qpic.cn")


@dataclasses.dataclass(frozen=True)
class PictureRead:
    """The outcome of reading one picture: the message text and its metadata, or the kind of problem."""

    text: Optional[str] = None
    metadata: Optional[Dict[str, Any]] = None
    problem: Optional[str] = None


async def read_picture(data: bytes, reader: Optional[ImageReader] = None) -> PictureRead:
    """The text in `data` as a user message with its `image` metadata, or the problem ("not_image",
    "too_large", "no_text", "failed")."""
    reader = reader or shared_reader()
    try:
        read = await reader.read_async(data)
    except ImageProblem as problem:
        logger.info("A picture was not read: %s.", problem)
        return PictureRead(problem=problem.kind)
    measured = {
        "lines": len(read.lines),
        "score": read.score,
        "seconds": read.seconds,
        "width": read.size[0],
        "height": read.size[1],
    }
    # Like a typed message on a messaging app: a leading "/" cannot inject an intent ("/greet" on a poster).
    return PictureRead(text=clean_user_text(read.text[:MAX_MESSAGE_CHARS]), metadata={IMAGE_KEY: measured})


async def read_upload(request: Any, reader: Optional[ImageReader] = None) -> PictureRead:
    """Receive a picture posted as the request body (a route with `stream=True`, so that the server's
    small request limit does not apply and the reader's does), then read it."""
    from sanic.exceptions import PayloadTooLarge

    reader = reader or shared_reader()
    announced = request.headers.get("content-length", "")
    if announced.isdigit() and int(announced) > reader.max_bytes:
        return PictureRead(problem="too_large")  # answered before the body is read
    request.stream.request_max_size = reader.max_bytes
    try:
        await request.receive_body()
    except PayloadTooLarge:
        return PictureRead(problem="too_large")
    return await read_picture(request.body or b"", reader)


def problem_key(kind: str, texts: Texts) -> Tuple[str, Dict[str, Any]]:
    """The texts.yml key of the note for a picture problem and its values (the size limit in MB)."""
    limit = round(shared_reader().max_bytes / 1024 / 1024, 1)
    key = f"images.{kind}" if f"images.{kind}" in texts.entries else "images.failed"
    return key, {"limit": int(limit) if limit == int(limit) else limit}


def problem_text(kind: str, lang: Optional[str], texts: Optional[Texts] = None) -> str:
    """The polite note for a picture that could not be read, in `lang`; in both languages (zh, then en)
    when the user's language is not known yet."""
    texts = texts or default_texts()
    key, values = problem_key(kind, texts)
    if lang:
        return texts.get(key, lang, **values)
    return "\n\n".join(texts.get(key, code, **values) for code in ("zh-Hans", "en"))


async def known_lang(agent: Any, conversation: str) -> Optional[str]:
    """The language of a conversation so far (its `lang` slot), for a note about a picture that could not be
    read; None for a new conversation or when the store cannot be read."""
    from bot.lang import LANGS

    store = getattr(agent, "tracker_store", None)
    if store is None:
        return None
    try:
        tracker = await store.retrieve(conversation)
    except Exception:  # the note is then written in both languages
        logger.exception("Could not read a conversation to answer a picture in its language.")
        return None
    lang = tracker.get_slot("lang") if tracker is not None else None
    return lang if lang in LANGS else None


def hosts_setting(env: Mapping[str, str], name: str, default: Iterable[str]) -> Tuple[str, ...]:
    """Host names from a comma-separated setting (lower case, blanks dropped), else `default`."""
    raw = env.get(name, "")
    hosts = tuple(h.strip().lower() for h in raw.split(",") if h.strip())
    return hosts or tuple(default)


def allowed_url(url: str, hosts: Iterable[str]) -> bool:
    """True for an http(s) URL whose host is one of `hosts` (".example.com" also allows its subdomains)."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return False
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        return False
    return any(host == h or (h.startswith(".") and host.endswith(h)) for h in hosts)


async def fetch_picture(url: str, hosts: Iterable[str], max_bytes: int, timeout: float = DOWNLOAD_TIMEOUT) -> bytes:
    """Download a picture from an allowed host, within `timeout` seconds and `max_bytes`; ImageProblem
    ("failed" or "too_large") otherwise. Redirects are not followed (they could lead off the allowed hosts)."""
    import asyncio

    import aiohttp

    if not allowed_url(url, hosts):
        raise ImageProblem("failed", f"the picture's address is not on an allowed host ({', '.join(hosts)})")
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
            async with session.get(url, allow_redirects=False) as reply:
                if reply.status != 200:
                    raise ImageProblem("failed", f"the picture's host answered HTTP {reply.status}")
                if (reply.content_length or 0) > max_bytes:
                    raise ImageProblem("too_large", f"{reply.content_length} bytes announced, limit {max_bytes}")
                data = bytearray()
                async for chunk in reply.content.iter_chunked(65536):
                    data += chunk
                    if len(data) > max_bytes:
                        raise ImageProblem("too_large", f"more than {max_bytes} bytes")
                return bytes(data)
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as error:
        raise ImageProblem("failed", f"the picture could not be downloaded ({type(error).__name__})") from None


__all__ = [
    "PictureRead",
    "read_upload",
    "allowed_url",
    "fetch_picture",
    "hosts_setting",
    "problem_key",
    "problem_text",
    "read_picture",
]
