"""The staff console's HTTP side, mounted at /staff in the Rasa server as a Rasa input channel.

Every /staff path needs the staff token (STAFF_TOKEN): the JSON API under /staff/api with
`Authorization: Bearer <token>`, the page with a sign-in that sets an HttpOnly, SameSite=Strict cookie.
Without it: 401. Without STAFF_TOKEN the console is off (503); `make run` generates one and prints it.

API (JSON):
- `POST /staff/api/test` `{"text"}`: the bot's reply to a consumer message, as each channel renders it, and
  why (intent ranking, entities, language, flags, fact ranking, parts).
- `POST /staff/api/review-cases` `{"question", "expect_topic", "expect_refs", "expect_flag", "expect_lang"}`:
  appends a case to the review file `bot review` reads (STAFF_REVIEW_FILE, default var/review/staff_cases.csv).
- `GET /staff/api/conversations` (filters: status, q, channel, lang, flagged, unanswered, low_confidence,
  not_helpful, since, until; `format=csv` for CSV): stored conversations, newest first.
- `GET /staff/api/conversations/<id>`: one conversation's messages with their payloads.
- `POST /staff/api/conversations/<id>/reply` `{"text"}`: a person replies; the state becomes "staff".
- `POST /staff/api/conversations/<id>/release`: the bot answers again.
- `GET /staff/api/review-runs`: the review runs (status running/passed/failed, progress, summary, report) and
  the review files a run may use; `POST` `{"file"}` starts `bot review <file> --url <this server>` on one of
  them (data/review/*.csv|yml or STAFF_REVIEW_FILE; others: 400); `GET .../review-runs/<id>` one run;
  `GET .../review-runs/<id>/report` its HTML report (`?file=` another report file inside that run's folder);
  `POST .../review-runs/<id>/compare` `{"with": "<earlier run id>"}` compares the two as `bot review --compare`.
"""

from __future__ import annotations

import asyncio
import csv
import hmac
import io
import logging
import os
import uuid
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.plain import PlainRenderer, utf8_bytes, utf16_units
from bot.explain import explanation
from bot.paths import VAR
from bot.reply import ReplyComposer
from bot.staff import STAFF
from bot.staff.conversations import conversation_rows, filter_rows, read_all
from bot.staff.handoff import HandoffError, staff_message, status_of
from bot.staff.page import console_page, sign_in_page
from bot.staff.review_runs import REPORT_TYPES, ReviewRunError, ReviewRuns
from bot.tools.questions import COLUMNS

logger = logging.getLogger(__name__)

COOKIE = "exobot_staff"
TEST_PREFIX = "staff:"  # conversations of the test panel; the staff tools leave them out
MAX_STAFF_TEXT = 2000


def _composer() -> ReplyComposer:
    from bot.kb import default_knowledge_base
    from bot.texts import default_texts

    return ReplyComposer(default_knowledge_base(), default_texts())


class StaffInput(InputChannel):
    """The staff console and its API, under /staff (not under /webhooks like the consumer channels)."""

    @classmethod
    def name(cls) -> Text:
        """Channel name."""
        return "staff"

    def url_prefix(self) -> Text:
        """An absolute prefix: Rasa joins it to /webhooks/, which keeps it as /staff."""
        return "/staff"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "StaffInput":
        """The console, with the token and review file from the environment."""
        return cls(
            os.environ.get("STAFF_TOKEN", "").strip(),
            Path(os.environ.get("STAFF_REVIEW_FILE") or VAR / "review" / "staff_cases.csv"),
        )

    def __init__(self, token: str, review_file: Path) -> None:
        """A console for staff holding `token`."""
        self.token, self.review_file = token, review_file
        self.composer = _composer()
        self.renderer = PlainRenderer(self.composer.texts)
        self.review_runs = ReviewRuns(review_file)
        if not token:
            logger.warning("Staff console: off, because STAFF_TOKEN is not set (make run generates one).")

    # -- access -----------------------------------------------------------------------------

    def _authorised(self, request: Request) -> bool:
        given = ""
        header = request.headers.get("authorization") or ""
        if header.lower().startswith("bearer "):
            given = header[7:].strip()
        elif request.cookies.get(COOKIE):
            given = request.cookies.get(COOKIE) or ""
        return bool(self.token) and hmac.compare_digest(given.encode(), self.token.encode())

    def _refused(self, request: Request, api: bool) -> Optional[HTTPResponse]:
        if not self.token:
            return response.json({"error": "the staff console is off: set STAFF_TOKEN"}, status=503)
        if self._authorised(request):
            return None
        if api:
            return response.json(
                {"error": "staff token missing or wrong (Authorization: Bearer <token>)"},
                status=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        return response.html(sign_in_page(), status=401)

    # -- routes -----------------------------------------------------------------------------

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """The page, the sign-in and the API."""
        staff = Blueprint("staff_console", __name__)

        def guarded(api: bool = True) -> Callable:
            def wrap(handler: Callable[..., Awaitable[HTTPResponse]]) -> Callable[..., Awaitable[HTTPResponse]]:
                async def checked(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
                    refused = self._refused(request, api)
                    return refused if refused is not None else await handler(request, *args, **kwargs)

                checked.__name__ = handler.__name__
                return checked

            return wrap

        @staff.route("/", methods=["GET"])
        @guarded(api=False)
        async def page(request: Request) -> HTTPResponse:
            return response.html(console_page(), headers={"Cache-Control": "no-store"})

        @staff.route("/login", methods=["POST"])
        async def login(request: Request) -> HTTPResponse:
            if not self.token:
                return response.json({"error": "the staff console is off: set STAFF_TOKEN"}, status=503)
            given = (
                (request.form.get("token") if request.form else None)
                or ((request.json or {}).get("token") if _is_json(request) else None)
                or ""
            )
            if not hmac.compare_digest(str(given).encode(), self.token.encode()):
                return response.html(sign_in_page(failed=True), status=401)
            answer = response.redirect("/staff/")
            answer.cookies[COOKIE] = self.token
            cookie = answer.cookies[COOKIE]
            cookie["httponly"], cookie["samesite"], cookie["path"] = True, "Strict", "/staff"
            cookie["secure"] = request.scheme == "https"
            return answer

        @staff.route("/logout", methods=["POST"])
        async def logout(request: Request) -> HTTPResponse:
            answer = response.redirect("/staff/")
            # Expire the sign-in cookie on the path it was set for (a plain delete would name path "/").
            answer.cookies[COOKIE] = ""
            cookie = answer.cookies[COOKIE]
            cookie["max-age"], cookie["path"], cookie["httponly"], cookie["samesite"] = 0, "/staff", True, "Strict"
            return answer

        @staff.route("/api/test", methods=["POST"])
        @guarded()
        async def test(request: Request) -> HTTPResponse:
            body = _json_object(request)
            text = body.get("text") if body else None
            if not isinstance(text, str) or not text.strip():
                return response.json({"error": "'text' must be the message to test"}, status=400)
            return response.json(await self._test(request, on_new_message, text[:MAX_STAFF_TEXT]))

        @staff.route("/api/review-cases", methods=["POST"])
        @guarded()
        async def review_case(request: Request) -> HTTPResponse:
            body = _json_object(request)
            if not body or not isinstance(body.get("question"), str) or not body["question"].strip():
                return response.json({"error": "'question' must be the question to review"}, status=400)
            row = {column: _cell(body.get(column)) for column in COLUMNS}
            self._append_case(row)
            return response.json({"saved": True, "file": str(self.review_file), "case": row})

        @staff.route("/api/conversations", methods=["GET"])
        @guarded()
        async def conversations(request: Request) -> HTTPResponse:
            agent = request.app.ctx.agent
            status = request.args.get("status")
            rows = filter_rows(await conversation_rows(agent, exclude_prefix=TEST_PREFIX, status=status), request.args)
            if request.args.get("format") == "csv":
                return response.text(
                    _csv(rows),
                    content_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="conversations.csv"'},
                )
            return response.json({"conversations": rows})

        @staff.route("/api/conversations/<conversation:path>", methods=["GET"])
        @guarded()
        async def conversation(request: Request, conversation: str) -> HTTPResponse:
            agent = request.app.ctx.agent
            found = await read_all(agent, ids=[conversation])
            if not found:
                return response.json({"error": f"no conversation {conversation!r}"}, status=404)
            tracker = await agent.tracker_store.retrieve(conversation)
            return response.json({**found[0], "status": status_of(tracker)})

        @staff.route("/api/handoff/<conversation:path>/reply", methods=["POST"])
        @staff.route("/api/conversations/<conversation:path>/reply", methods=["POST"])
        @guarded()
        async def reply(request: Request, conversation: str) -> HTTPResponse:
            body = _json_object(request)
            text = body.get("text") if body else None
            if not isinstance(text, str) or not text.strip() or len(text) > MAX_STAFF_TEXT:
                return response.json(
                    {"error": f"'text' must be the reply, at most {MAX_STAFF_TEXT} characters"}, status=400
                )
            return await self._staff_says(request, conversation, "replies.staff_message", STAFF, text=text.strip())

        @staff.route("/api/conversations/<conversation:path>/release", methods=["POST"])
        @guarded()
        async def release(request: Request, conversation: str) -> HTTPResponse:
            return await self._staff_says(request, conversation, "replies.handoff_released", None)

        @staff.route("/api/review-runs", methods=["GET"])
        @guarded()
        async def review_runs(request: Request) -> HTTPResponse:
            runs = await asyncio.to_thread(self.review_runs.runs)
            return response.json({"runs": runs, "files": self.review_runs.files()})

        @staff.route("/api/review-runs", methods=["POST"])
        @guarded()
        async def start_review_run(request: Request) -> HTTPResponse:
            body = _json_object(request) or {}
            return await _run_answer(self.review_runs.start, body.get("file"), _server_url(request), status=202)

        @staff.route("/api/review-runs/<run_id>", methods=["GET"])
        @guarded()
        async def review_run(request: Request, run_id: str) -> HTTPResponse:
            return await _run_answer(self.review_runs.run, run_id)

        @staff.route("/api/review-runs/<run_id>/compare", methods=["POST"])
        @guarded()
        async def compare_review_runs(request: Request, run_id: str) -> HTTPResponse:
            body = _json_object(request) or {}
            return await _run_answer(self.review_runs.compare, run_id, body.get("with"))

        @staff.route("/api/review-runs/<run_id>/report", methods=["GET"])
        @guarded()
        async def review_report(request: Request, run_id: str) -> HTTPResponse:
            try:
                path = await asyncio.to_thread(self.review_runs.report_file, run_id, request.args.get("file"))
            except ReviewRunError as error:
                return response.json({"error": str(error)}, status=error.status)
            return response.raw(
                path.read_bytes(), content_type=REPORT_TYPES[path.suffix.lower()], headers=REPORT_HEADERS
            )

        return staff

    # -- work -------------------------------------------------------------------------------

    async def _staff_says(
        self, request: Request, conversation: str, key: str, status: Optional[str], **values: Any
    ) -> HTTPResponse:
        try:
            delivery, payload = await staff_message(
                request.app.ctx.agent,
                request.app.ctx.input_channels,
                self.composer,
                conversation,
                key,
                status,
                **values,
            )
        except HandoffError as error:
            return response.json({"error": str(error)}, status=404)
        return response.json(
            {
                "delivered": delivery.delivered,
                "reason": delivery.reason or None,
                "status": status or "bot",
                "payload": payload,
            }
        )

    async def _test(
        self, request: Request, on_new_message: Callable[[UserMessage], Awaitable[Any]], text: str
    ) -> Dict[str, Any]:
        """Run `text` as a consumer turn in a throw-away conversation; the reply per channel, and why."""
        sender = f"{TEST_PREFIX}{uuid.uuid4().hex}"
        collector = CollectingOutputChannel()
        await on_new_message(UserMessage(text, collector, sender, input_channel=self.name()))
        tracker = await request.app.ctx.agent.tracker_store.retrieve(sender)
        parse = dict(tracker.latest_message.parse_data) if tracker and tracker.latest_message else {}
        messages = collector.messages
        payload = next((m.get("custom") for m in messages if isinstance(m.get("custom"), dict)), None)
        why = explanation(parse, payload)
        wechat = self.renderer.render(messages, 2048, utf8_bytes, numbered=True)
        telegram = self.renderer.render(messages, 4096, utf16_units, numbered=False)
        return {
            "text": text,
            "payload": payload,
            "channels": {
                "widget": {"text": "\n".join(m.get("text") or "" for m in messages).strip(), "payload": payload},
                "wechat": {"text": wechat.text},
                "telegram": {"text": telegram.text, "buttons": [s["title"] for s in telegram.suggestions]},
            },
            "why": {
                **why,
                "parts": [{**part, "passages": self._passages(part.get("fact"))} for part in why["parts"]],
            },
        }

    def _passages(self, fact_id: Optional[str]) -> List[Dict[str, Any]]:
        """The article passages a fact restates (section, verbatim quote, the markers there)."""
        fact = self.composer.kb.facts.get(fact_id or "")
        return [{"section": p.section, "quote": p.quote, "refs": list(p.refs)} for p in fact.source] if fact else []

    def _append_case(self, row: Dict[str, str]) -> None:
        """Append one case to the review file (with its header when new)."""
        self.review_file.parent.mkdir(parents=True, exist_ok=True)
        new = not self.review_file.exists() or self.review_file.stat().st_size == 0
        with self.review_file.open("a", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=COLUMNS)
            if new:
                writer.writeheader()
            writer.writerow(row)


# A report is a document to read: no scripts, nothing loaded from elsewhere, not framed by other sites.
REPORT_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'self'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


async def _run_answer(work: Callable[..., Dict[str, Any]], *args: Any, status: int = 200) -> HTTPResponse:
    """Do review-run `work` off the event loop; its result as JSON, or its error with the error's status."""
    try:
        return response.json(await asyncio.to_thread(work, *args), status=status)
    except ReviewRunError as error:
        return response.json({"error": str(error)}, status=error.status)
    except OSError as error:
        logger.exception("Staff console: a review run failed to start or be read")
        return response.json(
            {
                "error": f"the review run could not be started or read ({error}); check that the "
                "`bot` command is installed (make setup) and var/ is writable"
            },
            status=500,
        )


def _server_url(request: Request) -> str:
    """This server's address as the machine itself reaches it: the socket the request arrived on."""
    info = request.conn_info
    sockname = getattr(info, "sockname", None)
    if isinstance(sockname, tuple) and len(sockname) >= 2:
        assert info is not None  # it has a socket name
        host = f"[{sockname[0]}]" if ":" in str(sockname[0]) else str(sockname[0])
        return f"{'https' if info.ssl else 'http'}://{host}:{sockname[1]}"
    return f"{request.scheme}://{request.host}"


def _is_json(request: Request) -> bool:
    return "json" in (request.content_type or "")


def _json_object(request: Request) -> Optional[Dict[str, Any]]:
    try:
        body = request.json
    except Exception:
        return None
    return body if isinstance(body, dict) else None


def _cell(value: Any) -> str:
    """A CSV cell of a review case: lists as "1;2", booleans as yes/no, None as empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ";".join(str(v) for v in value)
    return " ".join(str(value).split())


def _csv(rows: List[Dict[str, Any]]) -> str:
    fields = [
        "id",
        "channel",
        "status",
        "started",
        "ended",
        "user_messages",
        "languages",
        "flagged",
        "unanswered",
        "low_confidence",
        "not_helpful",
        "first_question",
        "last_message",
    ]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {
                **row,
                "languages": ";".join(row.get("languages") or []),
                "last_message": (row.get("last_message") or {}).get("text", ""),
            }
        )
    return out.getvalue()
