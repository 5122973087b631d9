"""The web chat widget: build widget/dist/widget.js and serve it, with the demo page, over HTTP.

`python -m bot.widget build` bundles socket.io-client (from widget/node_modules, installed by `npm ci`),
the widget's source (widget/src), its strings (data/widget_texts.yml, Traditional derived), the reference
list and the starter questions into one self-contained file. `python -m bot.widget serve` serves that
file and the demo page (widget/demo/index.html); bot.serve starts it next to the Rasa server.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import string
import subprocess
import sys
from functools import partial
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, List, Optional
from urllib.parse import parse_qs, urlsplit

import yaml

from bot.contract import LEVELS, MAX_MESSAGE_CHARS, MAX_REASON_CHARS, RATED_TYPES
from bot.lang import LANGS, localize
from bot.ocr import FORMATS as PICTURE_FORMATS
from bot.ocr import MAX_BYTES as PICTURE_MAX_BYTES
from bot.paths import DATA, ROOT

WIDGET_DIR = ROOT / "widget"
SOURCE_DIR = WIDGET_DIR / "src"
DIST_DIR = WIDGET_DIR / "dist"
DEMO_PAGE = WIDGET_DIR / "demo" / "index.html"
WIDGET_TEXTS_FILE = DATA / "widget_texts.yml"
SOCKETIO_CLIENT = WIDGET_DIR / "node_modules" / "socket.io-client" / "dist" / "socket.io.min.js"
# The widget's modules, one per concern, concatenated in this order into one private scope (helpers
# first, the shell that starts the widget last): helpers, storage (history, outbox, tabs), connection
# and delivery, rendering of messages, staff view, the panel itself.
SOURCES = ("util.js", "storage.js", "connection.js", "render.js", "staff.js", "pictures.js", "widget.js")
DEFAULT_SERVER = "http://localhost:5005"
# Defaults of the embed's data- attributes (widget/src/util.js readOptions): days the history is kept in
# the browser, seconds without an answer before a message is "not delivered", seconds without the
# server's receipt before the connection is taken for dead and re-opened.
HISTORY_DAYS = 30
REPLY_TIMEOUT = 60
ACK_TIMEOUT = 8
# Query parameters of the demo page passed on to the widget's data- attributes (numbers only).
DEMO_NUMBER_OPTIONS = {"history_days": "history-days", "reply_timeout": "reply-timeout", "ack_timeout": "ack-timeout"}
_HOSTNAME = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-]+)$")


class WidgetError(RuntimeError):
    """The widget cannot be built or served; the message says why and how to fix it."""


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def load_widget_texts(path: Optional[Path] = None) -> Dict[str, Dict[str, str]]:
    """The widget's own strings per language (`zh-Hans`, `zh-Hant`, `en`), checked like data/texts.yml."""
    path = Path(path or WIDGET_TEXTS_FILE)
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    entries = data.get("strings")
    if not isinstance(entries, dict) or not entries:
        raise WidgetError(f"{path}: no 'strings' section. Add the widget's strings with zh and en side by side.")
    out: Dict[str, Dict[str, str]] = {lang: {} for lang in LANGS}
    for key, entry in entries.items():
        if not isinstance(entry, dict) or not all(isinstance(entry.get(k), str) and entry[k] for k in ("zh", "en")):
            raise WidgetError(f"{path}: string '{key}' needs non-empty 'zh' and 'en' texts side by side.")
        names = {k: _placeholders(v) for k, v in entry.items()}
        if len({frozenset(v) for v in names.values()}) > 1:
            raise WidgetError(
                f"{path}: string '{key}' has different placeholders per language {names}. Use the same ones."
            )
        for lang in LANGS:
            out[lang][key] = localize(entry, lang)
    return out


def widget_data() -> Dict[str, Any]:
    """Everything the widget needs from the project's data: strings, starters, references, levels."""
    from bot.kb import default_knowledge_base
    from bot.texts import load_texts

    kb = default_knowledge_base()
    texts = load_texts()
    starters = {
        lang: [localize(kb.facts[f].question, lang) for f in texts.default_suggestions if f in kb.facts]
        for lang in LANGS
    }
    references = {
        str(r.n): {
            "authors": r.authors,
            "title": r.title,
            "journal": r.journal,
            "year": r.year,
            "doi": r.doi,
            "pmid": r.pmid,
        }
        for r in kb.references.values()
    }
    # The article passages each fact restates (issue 11, point 4): shown under a part, in the original Chinese.
    passages = {
        f.id: [{"section": p.section, "quote": p.quote} for p in f.source] for f in kb.facts.values() if f.source
    }
    return {
        "strings": load_widget_texts(),
        "starters": starters,
        "references": references,
        "passages": passages,
        "ratedTypes": sorted(RATED_TYPES),
        "levels": list(LEVELS),
        "maxMessageChars": MAX_MESSAGE_CHARS,
        "maxFeedbackChars": MAX_REASON_CHARS,
        "defaultLang": texts.default_lang,
        "defaultServer": DEFAULT_SERVER,
        "historyDays": HISTORY_DAYS,
        "replyTimeout": REPLY_TIMEOUT,
        "ackTimeout": ACK_TIMEOUT,
        # Pictures the widget may send (checked in the browser, and again by the server: bot/ocr.py).
        "pictureTypes": sorted(f"image/{kind.lower()}" for kind in PICTURE_FORMATS),
        "maxPictureBytes": PICTURE_MAX_BYTES,
    }


def install_node_modules() -> None:
    """Run `npm ci` in widget/ when socket.io-client is missing or older than package-lock.json."""
    lock = WIDGET_DIR / "package-lock.json"
    marker = WIDGET_DIR / "node_modules" / ".package-lock.json"
    if SOCKETIO_CLIENT.is_file() and marker.is_file() and marker.stat().st_mtime >= lock.stat().st_mtime:
        return
    npm = shutil.which("npm")
    if npm is None:
        raise WidgetError(
            "npm is not installed, so socket.io-client cannot be installed for the widget. "
            "Install Node.js with npm (Debian: apt-get install npm) and run `make run` again."
        )
    result = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=WIDGET_DIR, capture_output=True, text=True
    )
    if result.returncode != 0 or not SOCKETIO_CLIENT.is_file():
        raise WidgetError(
            f"`npm ci` in {WIDGET_DIR} failed (exit {result.returncode}), so socket.io-client is missing:\n"
            f"{result.stderr[-2000:]}\nCheck that the npm registry is reachable and run it again."
        )


def _js_string(value: Any) -> str:
    """A JSON literal that is also safe inside a <script> element."""
    return (
        json.dumps(value, ensure_ascii=False)
        .replace("</", "<\\/")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def bundle() -> str:
    """The widget as one script: socket.io-client and our code in a private scope, data and CSS inlined."""
    install_node_modules()
    socketio = SOCKETIO_CLIENT.read_text(encoding="utf-8")
    socketio = re.sub(r"\n//# sourceMappingURL=\S+\s*$", "\n", socketio)
    version = json.loads((SOCKETIO_CLIENT.parent.parent / "package.json").read_text(encoding="utf-8"))["version"]
    unlisted = sorted(p.name for p in SOURCE_DIR.glob("*.js") if p.name not in SOURCES)
    if unlisted:
        raise WidgetError(
            f"{SOURCE_DIR}: {', '.join(unlisted)} not in bot.widget.SOURCES; add each module there, in order."
        )
    sources = "\n".join(
        f"// ---- widget/src/{name}\n" + (SOURCE_DIR / name).read_text(encoding="utf-8") for name in SOURCES
    )
    css = (SOURCE_DIR / "widget.css").read_text(encoding="utf-8")
    return (
        f"/*! exobot chat widget. Built by `python -m bot.widget build` from widget/src and data/; "
        f"includes socket.io-client {version} (MIT License, (c) Guillermo Rauch). */\n"
        "(function () {\n"
        "// socket.io-client's UMD build sees CommonJS here, so it does not touch the page's `io`.\n"
        "var module = { exports: {} }, exports = module.exports, define;\n"
        f"{socketio}\n"
        "var io = module.exports;\n"
        f"var WIDGET_DATA = {_js_string(widget_data())};\n"
        f"var WIDGET_CSS = {_js_string(css)};\n"
        f"{sources}\n"
        "})();\n"
    )


def build_widget(dist: Path = DIST_DIR) -> Path:
    """Write widget/dist/widget.js; returns its path."""
    dist.mkdir(parents=True, exist_ok=True)
    target = dist / "widget.js"
    target.write_text(bundle(), encoding="utf-8")
    return target


def _page_hostname(host_header: str) -> str:
    """The host name the browser used for the demo page (Host header without port), or 127.0.0.1."""
    host = host_header.strip()
    if host.startswith("["):
        name = host.split("]", 1)[0] + "]"
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return name if _HOSTNAME.match(name) else "127.0.0.1"


def render_demo(host_header: str, query: str, rasa_port: int, rasa_url: Optional[str] = None) -> bytes:
    """The demo page, pointing the widget at the Rasa server (`?debug=1` staff view, `?lang=en`; `?history_days=`,
    `?reply_timeout=` and `?ack_timeout=` set the widget's data- attributes of the same names)."""
    params = parse_qs(query)
    hostname = _page_hostname(host_header)
    server = rasa_url or f"http://{hostname}:{rasa_port}"
    port = host_header.strip().rsplit(":", 1)[-1] if re.search(r":\d+$", host_header.strip()) else ""
    widget_src = f"http://{hostname}{':' + port if port else ''}/widget.js"
    lang = params.get("lang", ["zh"])[0]
    debug = params.get("debug", ["0"])[0] in ("1", "true", "yes")
    page = DEMO_PAGE.read_text(encoding="utf-8")
    page = page.replace("{{server}}", html.escape(server, quote=True))
    page = page.replace("{{widget_src}}", html.escape(widget_src, quote=True))
    page = page.replace("{{lang}}", "en" if lang == "en" else "zh-Hant" if lang == "zh-Hant" else "zh")
    page = page.replace("{{debug}}", "1" if debug else "0")
    numbers = []
    for name, attribute in DEMO_NUMBER_OPTIONS.items():
        value = params.get(name, [""])[0]
        if re.fullmatch(r"\d{1,4}(\.\d{1,3})?", value):
            numbers.append(f' data-{attribute}="{value}"')
    page = page.replace("{{options}}", "".join(numbers))
    return page.encode("utf-8")


class WidgetHandler(BaseHTTPRequestHandler):
    """Serves `/` (demo page), `/widget.js` (the built widget) and `/health`; nothing else."""

    server_version = "exobot-widget"

    def __init__(self, *args: Any, rasa_port: int, rasa_url: Optional[str], dist: Path, **kwargs: Any) -> None:
        """A handler bound to one Rasa server and one dist folder."""
        self.rasa_port, self.rasa_url, self.dist = rasa_port, rasa_url, dist
        super().__init__(*args, **kwargs)

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Access-Control-Allow-Origin", "*")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        """Answer one GET request."""
        url = urlsplit(self.path)
        if url.path in ("/", "/index.html"):
            page = render_demo(self.headers.get("Host", ""), url.query, self.rasa_port, self.rasa_url)
            self._send(HTTPStatus.OK, page, "text/html; charset=utf-8")
        elif url.path == "/widget.js":
            script = self.dist / "widget.js"
            if script.is_file():
                self._send(HTTPStatus.OK, script.read_bytes(), "text/javascript; charset=utf-8")
            else:
                message = (
                    f"The widget is not built: {script} is missing. Run `make run` or `python -m bot.widget build`."
                )
                self._send(
                    HTTPStatus.SERVICE_UNAVAILABLE,
                    f"console.error({json.dumps(message)});".encode(),
                    "text/javascript; charset=utf-8",
                )
        elif url.path == "/favicon.ico":
            self._send(HTTPStatus.NO_CONTENT, b"", "image/x-icon")
        elif url.path == "/health":
            self._send(HTTPStatus.OK, b'{"status": "ok"}', "application/json")
        else:
            self._send(HTTPStatus.NOT_FOUND, b"not found", "text/plain; charset=utf-8")

    do_HEAD = do_GET

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's signature)
        """One line per request on stderr (the launcher sends it to var/logs/widget-server.log)."""
        sys.stderr.write(f"{self.address_string()} {format % args}\n")


def make_server(
    host: str, port: int, rasa_port: int, rasa_url: Optional[str] = None, dist: Path = DIST_DIR
) -> ThreadingHTTPServer:
    """A threaded HTTP server for the widget and demo page (call serve_forever() on it)."""
    handler = partial(WidgetHandler, rasa_port=rasa_port, rasa_url=rasa_url, dist=dist)
    return ThreadingHTTPServer((host, port), handler)


def server_command(host: str, port: int, rasa_port: int) -> List[str]:
    """Command line that runs the widget server in a subprocess (used by bot.serve.BotServers)."""
    return [
        sys.executable,
        "-m",
        "bot.widget",
        "serve",
        "--host",
        host,
        "--port",
        str(port),
        "--rasa-port",
        str(rasa_port),
    ]


def main(argv: Optional[List[str]] = None) -> int:
    """`build` the widget or `serve` it with the demo page."""
    parser = argparse.ArgumentParser(prog="python -m bot.widget", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("build", help="bundle widget/dist/widget.js")
    serve = commands.add_parser("serve", help="serve the widget and the demo page")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=5080)
    serve.add_argument("--rasa-port", type=int, default=5005)
    serve.add_argument(
        "--rasa-url",
        default=None,
        help="Rasa server address for the demo page (default: the page's host name and --rasa-port)",
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            print(f"built {build_widget().relative_to(ROOT)}")
            return 0
        server = make_server(args.host, args.port, args.rasa_port, args.rasa_url)
    except (WidgetError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if not (DIST_DIR / "widget.js").is_file():
        print(f"warning: {DIST_DIR / 'widget.js'} is missing; run `python -m bot.widget build`.", file=sys.stderr)
    print(f"widget server on http://{args.host}:{args.port}/", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
