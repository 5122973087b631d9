"""The WeChat Official Account channel, driven through the running bot with XML as WeChat sends it.

Signatures and the safe-mode AES frame are computed here independently of the channel (hashlib and
the `cryptography` primitives), so a mistake shared by both sides cannot hide.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import struct
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from bot.texts import default_texts
from tests.conftest import last_bot, stored_events

ACCOUNT = "gh_0123456789ab"
LIMIT = 2048


def sha1_signature(*parts: str) -> str:
    """WeChat's signature, computed independently: SHA-1 of the sorted parts, concatenated."""
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def aes_key(encoding_aes_key: str) -> bytes:
    """The 32-byte AES key behind a 43-character EncodingAESKey."""
    key = base64.b64decode(encoding_aes_key + "=")
    assert len(key) == 32
    return key


def encrypt_frame(xml: str, key: bytes, app_id: str) -> str:
    """WeChat's safe-mode frame: 16 random bytes, 4-byte length, xml, AppID; PKCS#7 to 32; AES-256-CBC."""
    body = xml.encode("utf-8")
    frame = os.urandom(16) + struct.pack(">I", len(body)) + body + app_id.encode()
    pad = 32 - len(frame) % 32
    frame += bytes([pad]) * pad
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(frame) + encryptor.finalize()).decode()


def decrypt_frame(encrypted: str, key: bytes) -> tuple[str, str]:
    """(xml, app_id) of a safe-mode frame, checking the padding."""
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    frame = decryptor.update(base64.b64decode(encrypted)) + decryptor.finalize()
    pad = frame[-1]
    assert 1 <= pad <= 32 and frame[-pad:] == bytes([pad]) * pad, "bad PKCS#7 padding"
    frame = frame[:-pad]
    (length,) = struct.unpack(">I", frame[16:20])
    return frame[20 : 20 + length].decode("utf-8"), frame[20 + length :].decode("utf-8")


def cdata(value: str) -> str:
    """A CDATA section, as WeChat wraps strings."""
    return f"<![CDATA[{value}]]>"


def text_message(user: str, content: str, msg_id: int) -> str:
    """A text message exactly as WeChat posts it."""
    return (
        f"<xml><ToUserName>{cdata(ACCOUNT)}</ToUserName><FromUserName>{cdata(user)}</FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType>{cdata('text')}</MsgType>"
        f"<Content>{cdata(content)}</Content><MsgId>{msg_id}</MsgId></xml>"
    )


def new_user() -> str:
    """A fresh OpenID-like FromUserName."""
    return "o" + uuid.uuid4().hex[:27]


def new_msg_id() -> int:
    """A fresh 64-bit-style MsgId."""
    return int(time.time() * 1000) * 1000 + uuid.uuid4().int % 1000


@dataclass
class Reply:
    """An HTTP answer of the channel; `fields` holds the (decrypted) reply XML when there is one."""

    status: int
    body: str
    elapsed: float
    fields: Optional[Dict[str, str]] = None

    @property
    def content(self) -> str:
        """The reply's text (asserting there is one)."""
        assert self.fields is not None, f"no XML reply (status {self.status}): {self.body[:200]!r}"
        return self.fields["Content"]


class WeChatServer:
    """WeChat's side of the conversation: signs, encrypts, posts, and checks what comes back."""

    def __init__(self, base_url: str, env: Dict[str, str]) -> None:
        self.url = f"{base_url}/webhooks/wechat/webhook"
        self.token, self.app_id = env["WECHAT_TOKEN"], env["WECHAT_APP_ID"]
        self.key = aes_key(env["WECHAT_AES_KEY"])

    def query(self, **extra: str) -> Dict[str, str]:
        """Signed query parameters (signature, timestamp, nonce) plus `extra`."""
        timestamp, nonce = str(int(time.time())), uuid.uuid4().hex[:10]
        return {
            "signature": sha1_signature(self.token, timestamp, nonce),
            "timestamp": timestamp,
            "nonce": nonce,
            **extra,
        }

    def http(self, method: str, query: Dict[str, str], body: str | bytes | None = None) -> tuple[int, str, float]:
        """(status, body, seconds) of one raw request."""
        data = body.encode("utf-8") if isinstance(body, str) else body
        request = urllib.request.Request(
            f"{self.url}?{urllib.parse.urlencode(query)}",
            method=method,
            data=data,
            headers={"Content-Type": "text/xml"},
        )
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, response.read().decode("utf-8"), time.monotonic() - started
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode("utf-8", "replace"), time.monotonic() - started

    def post(self, xml: str, safe: bool = False, query: Optional[Dict[str, str]] = None) -> Reply:
        """Post a message in plaintext or safe mode; decrypt and verify the reply independently."""
        if safe:
            encrypted = encrypt_frame(xml, self.key, self.app_id)
            query = query or self.query()
            query = {
                **query,
                "encrypt_type": "aes",
                "msg_signature": sha1_signature(self.token, query["timestamp"], query["nonce"], encrypted),
            }
            xml = f"<xml><ToUserName>{cdata(ACCOUNT)}</ToUserName><Encrypt>{cdata(encrypted)}</Encrypt></xml>"
        status, body, elapsed = self.http("POST", query or self.query(), xml)
        reply = Reply(status, body, elapsed)
        if status == 200 and body.strip().startswith("<xml"):
            fields = {child.tag: child.text or "" for child in ET.fromstring(body)}
            if safe:
                assert fields["MsgSignature"] == sha1_signature(
                    self.token, fields["TimeStamp"], fields["Nonce"], fields["Encrypt"]
                ), "the reply's msg_signature does not match its Encrypt"
                inner, app_id = decrypt_frame(fields["Encrypt"], self.key)
                assert app_id == self.app_id
                fields = {child.tag: child.text or "" for child in ET.fromstring(inner)}
            reply.fields = fields
        return reply

    def ask(self, user: str, content: str, safe: bool = False) -> Reply:
        """Send a text message from `user`."""
        return self.post(text_message(user, content, new_msg_id()), safe=safe)


def user_texts(db: Path, sender: str) -> List[str]:
    """The user messages of a conversation as the bot received them."""
    return [e["text"] for e in stored_events(db, sender, "wechat") if e["event"] == "user"]


@pytest.fixture(scope="module")
def wechat(servers: Any, channel_env: Dict[str, str]) -> WeChatServer:
    """WeChat's side, talking to the running test bot."""
    return WeChatServer(servers.settings.rasa_url, channel_env)


def assert_plain_answer(content: str, bot: Dict[str, Any]) -> None:
    """The content is the bot's visible text with numbered suggestions, never the JSON payload."""
    payload = bot["custom"]
    assert content.startswith(bot["text"]), f"{content!r}\ndoes not start with\n{bot['text']!r}"
    lines = content.split("\n")
    assert any(payload["evidence"]["label"] in line for line in lines)
    for citation in payload["citations"]:
        assert f"[{citation['ref']}] {citation['short']}" in content
    for number, suggestion in enumerate(payload["suggestions"], 1):
        assert f"{number}. {suggestion['title']}" in lines
    assert '"type"' not in content and "{" not in content and "custom" not in content
    assert len(content.encode("utf-8")) <= LIMIT


def test_url_verification_needs_a_valid_signature(wechat: WeChatServer) -> None:
    query = wechat.query(echostr="4410112157386403525")
    assert wechat.http("GET", query)[:2] == (200, "4410112157386403525")
    forged = {**query, "signature": sha1_signature("wrong-token", query["timestamp"], query["nonce"])}
    assert wechat.http("GET", forged)[0] == 403
    assert wechat.http("GET", {"echostr": "1", "timestamp": "1", "nonce": "2"})[0] == 403


def test_plaintext_message_gets_a_passive_reply_with_grade_and_citations(
    wechat: WeChatServer, tracker_db: Path
) -> None:
    user = new_user()
    reply = wechat.ask(user, "Do exosomes help with Parkinson's disease?")
    assert reply.status == 200 and reply.elapsed < 4.5, (reply.status, reply.elapsed)
    assert reply.fields["ToUserName"] == user and reply.fields["FromUserName"] == ACCOUNT
    assert reply.fields["MsgType"] == "text" and reply.fields["CreateTime"].isdigit()
    bot = last_bot(tracker_db, user, "wechat")  # FromUserName is the conversation id
    assert bot["custom"]["type"] == "answer" and bot["custom"]["lang"] == "en"
    assert "\nEvidence: " in reply.content and "\nSources: [" in reply.content
    assert_plain_answer(reply.content, bot)


def test_safe_mode_message_is_decrypted_and_the_reply_encrypted(wechat: WeChatServer, tracker_db: Path) -> None:
    user = new_user()
    reply = wechat.ask(user, "外泌体对帕金森病有用吗？", safe=True)
    assert reply.status == 200 and reply.elapsed < 4.5, (reply.status, reply.body[:200])
    assert "<Encrypt>" in reply.body and "外泌体" not in reply.body  # only ciphertext on the wire
    assert reply.fields["ToUserName"] == user and reply.fields["FromUserName"] == ACCOUNT
    bot = last_bot(tracker_db, user, "wechat")
    assert bot["custom"]["lang"] == "zh-Hans"
    assert "\n证据等级：" in reply.content and "\n参考文献：[" in reply.content
    assert_plain_answer(reply.content, bot)


def test_forged_or_missing_signatures_are_refused_before_the_bot(wechat: WeChatServer, tracker_db: Path) -> None:
    users = [new_user() for _ in range(4)]
    query = wechat.query()
    forged = {**query, "signature": sha1_signature("not-the-token", query["timestamp"], query["nonce"])}
    assert wechat.post(text_message(users[0], "What are exosomes?", new_msg_id()), query=forged).status == 403
    missing = {k: v for k, v in wechat.query().items() if k != "signature"}
    assert wechat.post(text_message(users[1], "What are exosomes?", new_msg_id()), query=missing).status == 403
    # Safe mode: a valid URL signature but a msg_signature over another ciphertext.
    xml = text_message(users[2], "What are exosomes?", new_msg_id())
    encrypted = encrypt_frame(xml, wechat.key, wechat.app_id)
    query = wechat.query(encrypt_type="aes")
    query["msg_signature"] = sha1_signature(wechat.token, query["timestamp"], query["nonce"], encrypted + "x")
    body = f"<xml><ToUserName>{cdata(ACCOUNT)}</ToUserName><Encrypt>{cdata(encrypted)}</Encrypt></xml>"
    assert wechat.http("POST", query, body)[0] == 403
    # Safe mode: a frame encrypted for another AppID.
    xml = text_message(users[3], "What are exosomes?", new_msg_id())
    encrypted = encrypt_frame(xml, wechat.key, "wx_someone_else")
    query = wechat.query(encrypt_type="aes")
    query["msg_signature"] = sha1_signature(wechat.token, query["timestamp"], query["nonce"], encrypted)
    body = f"<xml><ToUserName>{cdata(ACCOUNT)}</ToUserName><Encrypt>{cdata(encrypted)}</Encrypt></xml>"
    assert wechat.http("POST", query, body)[0] == 403
    for user in users:
        assert stored_events(tracker_db, user, "wechat") == [], f"a refused message reached the bot ({user})"


@pytest.mark.parametrize("safe", [False, True], ids=["plaintext", "safe"])
def test_a_retried_msgid_is_answered_once(wechat: WeChatServer, tracker_db: Path, safe: bool) -> None:
    user, msg_id = new_user(), new_msg_id()
    xml = text_message(user, "Is exosome skincare safe?", msg_id)
    with ThreadPoolExecutor(max_workers=2) as pool:  # WeChat's retry can arrive while the first is in flight
        first = list(pool.map(lambda _: wechat.post(xml, safe=safe), range(2)))
    later = wechat.post(xml, safe=safe)
    contents = {r.content for r in first + [later]}
    assert len(contents) == 1, contents
    assert user_texts(tracker_db, user) == ["Is exosome skincare safe?"]
    assert len([e for e in stored_events(tracker_db, user, "wechat") if e["event"] == "bot"]) == 1


def test_an_overlong_answer_is_shortened_but_keeps_grade_and_citations(wechat: WeChatServer, tracker_db: Path) -> None:
    user = new_user()
    # Twelve full references are far longer than WeChat's limit.
    reply = wechat.ask(user, "Please give me " + ", ".join(f"reference {n}" for n in range(1, 13)) + " in full")
    bot = last_bot(tracker_db, user, "wechat")
    full = bot["text"]
    assert len(full.encode("utf-8")) > LIMIT, "precondition: this answer should be longer than WeChat allows"
    content = reply.content
    assert len(content.encode("utf-8")) <= LIMIT
    grade_line, sources_line = full.split("\n")[-2:]
    assert grade_line.startswith("Evidence: ") and sources_line.startswith("Sources: [")
    assert f"\n{grade_line}\n{sources_line}\n" in content + "\n"
    for citation in bot["custom"]["citations"]:
        assert f"[{citation['ref']}] {citation['short']}" in content
    assert default_texts().get("channels.shortened", "en") in content
    assert content.startswith(full.split("\n")[0])  # the answer starts as the bot wrote it


def test_all_23_sources_fit(wechat: WeChatServer, tracker_db: Path) -> None:
    user = new_user()
    content = wechat.ask(user, "your sources?").content
    bot = last_bot(tracker_db, user, "wechat")
    assert len(bot["custom"]["citations"]) == 23
    assert len(content.encode("utf-8")) <= LIMIT
    for citation in bot["custom"]["citations"]:
        assert f"[{citation['ref']}] {citation['short']}" in content
    assert bot["custom"]["evidence"]["label"] in content


def test_a_number_reply_picks_that_suggestion(wechat: WeChatServer, tracker_db: Path) -> None:
    user = new_user()
    first = wechat.ask(user, "外泌体是什么？").content
    suggestions = last_bot(tracker_db, user, "wechat")["custom"]["suggestions"]
    assert len(suggestions) >= 2 and f"2. {suggestions[1]['title']}" in first.split("\n")
    second = wechat.ask(user, "2").content
    assert user_texts(tracker_db, user)[-1] == suggestions[1]["payload"]
    bot = last_bot(tracker_db, user, "wechat")
    assert bot["custom"]["type"] in {"answer", "advice", "claim_check"}
    assert second.startswith(bot["text"])
    third = wechat.ask(user, "１").content  # full-width digits work too
    assert user_texts(tracker_db, user)[-1] == bot["custom"]["suggestions"][0]["payload"]
    assert third.startswith(last_bot(tracker_db, user, "wechat")["text"])


def test_subscribe_gets_a_bilingual_welcome_and_other_types_a_text_only_note(
    wechat: WeChatServer, tracker_db: Path
) -> None:
    texts, user = default_texts(), new_user()
    now = int(time.time())
    subscribe = (
        f"<xml><ToUserName>{cdata(ACCOUNT)}</ToUserName><FromUserName>{cdata(user)}</FromUserName>"
        f"<CreateTime>{now}</CreateTime><MsgType>{cdata('event')}</MsgType>"
        f"<Event>{cdata('subscribe')}</Event></xml>"
    )
    welcome = wechat.post(subscribe, safe=True).content
    assert texts.get("channels.welcome", "zh-Hans") in welcome and texts.get("channels.welcome", "en") in welcome
    video = (  # pictures are read (tests/test_ocr.py); a video gets the note
        f"<xml><ToUserName>{cdata(ACCOUNT)}</ToUserName><FromUserName>{cdata(user)}</FromUserName>"
        f"<CreateTime>{now}</CreateTime><MsgType>{cdata('video')}</MsgType>"
        f"<MediaId>{cdata('media_id')}</MediaId><ThumbMediaId>{cdata('thumb_id')}</ThumbMediaId>"
        f"<MsgId>{new_msg_id()}</MsgId></xml>"
    )
    note = wechat.post(video).content
    assert texts.get("channels.text_only", "zh-Hans") in note and texts.get("channels.text_only", "en") in note
    unsubscribe = subscribe.replace("subscribe", "unsubscribe").replace(str(now), str(now + 1))
    quiet = wechat.post(unsubscribe)
    assert quiet.status == 200 and quiet.body == "success"
    assert stored_events(tracker_db, user, "wechat") == []  # none of these needed the bot


def test_xml_entities_are_never_expanded(wechat: WeChatServer, tracker_db: Path) -> None:
    user = new_user()
    laughs = "".join(f'<!ENTITY l{i} "{"&l%d;" % (i - 1) * 10}">' for i in range(1, 10))
    bomb = (
        f'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY l0 "lol">{laughs}]>'
        f"<xml><ToUserName>{cdata(ACCOUNT)}</ToUserName><FromUserName>{cdata(user)}</FromUserName>"
        f"<CreateTime>1</CreateTime><MsgType>{cdata('text')}</MsgType><Content>&l9;</Content>"
        f"<MsgId>{new_msg_id()}</MsgId></xml>"
    )
    external = bomb.split("<!DOCTYPE")[0] + (
        '<!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        f"<xml><ToUserName>{cdata(ACCOUNT)}</ToUserName><FromUserName>{cdata(user)}</FromUserName>"
        f"<CreateTime>1</CreateTime><MsgType>{cdata('text')}</MsgType><Content>&x;</Content>"
        f"<MsgId>{new_msg_id()}</MsgId></xml>"
    )
    for body, safe in ((bomb, False), (external, False), (bomb, True)):
        reply = wechat.post(body, safe=safe)
        assert reply.status == 400 and reply.elapsed < 2, (reply.status, reply.elapsed)
        assert "lol" not in reply.body and "root:" not in reply.body
    # The same bomb in UTF-16: no "<!DOCTYPE" bytes to spot, so the parser itself must refuse the entities.
    utf16 = bomb.replace('<?xml version="1.0"?>', '<?xml version="1.0" encoding="UTF-16"?>').encode("utf-16")
    status, body, elapsed = wechat.http("POST", wechat.query(), utf16)
    assert status == 400 and elapsed < 2 and "lol" not in body
    assert stored_events(tracker_db, user, "wechat") == []
    assert wechat.ask(user, "What are exosomes?").status == 200  # the channel is still fine
    # Markup a user pastes is message text (inside CDATA), not a DTD: it reaches the bot as text.
    pasted = "<!DOCTYPE html><html><body>Exosome IV drips reverse aging!</body></html>"
    reply = wechat.ask(user, pasted, safe=True)
    assert reply.status == 200 and user_texts(tracker_db, user)[-1] == pasted
    assert reply.content.startswith(last_bot(tracker_db, user, "wechat")["text"])


def test_deliveries_of_one_message_share_one_answer_and_the_last_gives_up_in_time() -> None:
    """WeChat's retry timing, scaled down: the answer is computed once; the third delivery stops waiting."""
    from bot.channels.wechat import WeChatInput, WeChatSettings

    channel = WeChatInput(WeChatSettings(token="t", reply_budget=0.2), hold=2.0)
    runs: List[int] = []

    async def slow_answer() -> str:
        runs.append(1)
        await asyncio.sleep(0.8)
        return "<xml>answer</xml>"

    async def deliver_three_times() -> tuple:
        first = asyncio.ensure_future(channel._deliver("msg-1", slow_answer))
        await asyncio.sleep(0.05)
        second = asyncio.ensure_future(channel._deliver("msg-1", slow_answer))
        await asyncio.sleep(0.05)
        started = time.monotonic()
        third = await channel._deliver("msg-1", slow_answer)
        third_took = time.monotonic() - started
        return await first, await second, third, third_took, await channel._deliver("msg-1", slow_answer)

    first, second, third, third_took, later = asyncio.run(deliver_three_times())
    assert first == second == later == "<xml>answer</xml>"  # the early deliveries held on for the answer
    assert third is None and third_took < 0.6  # "success" within the budget instead of WeChat's error
    assert runs == [1]


def test_a_stale_or_future_timestamp_is_refused(wechat: WeChatServer) -> None:
    """Issue 12: a signed URL older (or newer) than five minutes is refused, so a captured one expires."""
    for shift in (-400, 400):
        timestamp, nonce = str(int(time.time()) + shift), uuid.uuid4().hex[:10]
        query = {"signature": sha1_signature(wechat.token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce}
        status, _, _ = wechat.http("POST", query, text_message(new_user(), "外泌体是什么？", new_msg_id()))
        assert status == 403


def test_a_replayed_signed_url_with_another_body_is_refused(wechat: WeChatServer) -> None:
    """Issue 12: in plaintext mode the signature does not cover the body; a second body on the same
    timestamp and nonce is a replay (403), the same body again is WeChat's retry (answered)."""
    query, user = wechat.query(), new_user()
    xml = text_message(user, "外泌体安全吗？", new_msg_id())
    first = wechat.post(xml, query=query)
    assert first.status == 200 and first.fields
    assert wechat.post(xml, query=query).content == first.content
    forged = text_message(new_user(), "/restart", new_msg_id())
    assert wechat.http("POST", query, forged)[0] == 403


def test_deep_xml_is_refused_with_400(wechat: WeChatServer) -> None:
    deep = "<xml>" + "<a>" * 8000 + "x" + "</a>" * 8000 + "</xml>"
    assert wechat.http("POST", wechat.query(), deep)[0] == 400


def test_the_same_msgid_from_two_followers_is_answered_for_each(wechat: WeChatServer, tracker_db: Path) -> None:
    """Issue 12: duplicates are keyed on (FromUserName, MsgId), not MsgId alone."""
    msg_id, one, two = new_msg_id(), new_user(), new_user()
    assert wechat.post(text_message(one, "外泌体是什么？", msg_id)).fields
    assert wechat.post(text_message(two, "What are exosomes?", msg_id)).fields
    assert user_texts(tracker_db, one) == ["外泌体是什么？"] and user_texts(tracker_db, two) == ["What are exosomes?"]


def test_a_rest_caller_cannot_reach_a_wechat_conversation(wechat: WeChatServer, ask: Any, tracker_db: Path) -> None:
    """Issue 12 / contract 1.1: conversation ids name their channel. A REST caller who knows a follower's
    OpenID, even written as the conversation id, writes into a REST conversation of its own."""
    user = new_user()
    wechat.ask(user, "外泌体点滴能抗衰老吗？")
    follower = stored_events(tracker_db, user, "wechat")
    assert follower, "precondition: the follower's conversation is stored under wechat:<openid>"
    for sender in (user, f"wechat:{user}"):
        messages = ask(sender, "出处是哪里？")
        assert all(m.get("recipient_id") == sender for m in messages), "REST answers its caller's own id"
        payload = next(m["custom"] for m in messages if m.get("custom"))
        # Not "the previous answer is based on ..." the follower's drip question: the caller has no history.
        assert payload["type"] == "reference" and len(payload["citations"]) == 23, payload["citations"]
        ask(sender, "/restart")
    assert stored_events(tracker_db, user, "wechat") == follower, "the follower's conversation was touched"
    assert [e["text"] for e in stored_events(tracker_db, f"wechat:{user}") if e["event"] == "user"][0] == "出处是哪里？"


@pytest.fixture(scope="module")
def late_wechat(bot_factory: Any, servers: Any, channel_env: Dict[str, str]) -> Any:
    """A second bot whose WeChat channel has the AppSecret and a passive-reply budget every answer misses,
    with WeChat's API faked on loopback; it shares the session's action server."""
    from tests.fake_wechat_api import FakeWeChatAPI

    api = FakeWeChatAPI(channel_env["WECHAT_APP_ID"], "exobot-test-app-secret")
    env = {
        **channel_env,
        "WECHAT_APP_SECRET": api.app_secret,
        "WECHAT_API_URL": api.url,
        "WECHAT_REPLY_BUDGET": "0.001",
    }
    bot = bot_factory(env=env, action_server=False, action_port=servers.settings.action_port)
    yield WeChatServer(bot.settings.rasa_url, channel_env), api, Path(bot.settings.env["TRACKER_SQLITE_PATH"])
    api.stop()


@pytest.mark.parametrize("safe", [False, True], ids=["plaintext", "safe"])
def test_an_answer_that_misses_the_window_arrives_by_the_customer_service_api(late_wechat: Any, safe: bool) -> None:
    """Issue 15, point 3: "success" at once, then the whole answer (grade and sources) through the
    customer-service API, with a cached access token that is renewed when WeChat says it expired."""
    wechat, api, db = late_wechat
    user = new_user()
    reply = wechat.post(text_message(user, "外泌体对帕金森病有用吗？", new_msg_id()), safe=safe)
    assert (reply.status, reply.body, reply.fields) == (200, "success", None) and reply.elapsed < 4.5
    (sent,) = api.wait_sent(user)
    bot = last_bot(db, user, "wechat")
    assert sent["msgtype"] == "text" and sent["text"]["content"].startswith(bot["text"])
    label = bot["custom"]["evidence"]["label"]
    assert default_texts().get("format.evidence_line", "zh-Hans", label=label) in sent["text"]["content"]
    assert len(sent["text"]["content"].encode("utf-8")) <= LIMIT
    # A second message reuses the cached token; after WeChat says it expired, a new one is fetched once.
    tokens = len(api.tokens)
    status, content, _ = wechat.http("POST", wechat.query(), text_message(user, "What are exosomes?", new_msg_id()))
    assert content == "success" and api.wait_sent(user, 2)[-1]["token"] == sent["token"] and len(api.tokens) == tokens
    api.expire_next = True
    status, content, _ = wechat.http("POST", wechat.query(), text_message(user, "安全吗？", new_msg_id()))
    assert content == "success" and len(api.wait_sent(user, 3)) == 3 and len(api.tokens) == tokens + 1
