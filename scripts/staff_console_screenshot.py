"""Take the README's screenshot of the staff console (docs/img/staff-console.png).

Starts the bot on free ports with a throw-away tracker store and staff token, asks the test panel the
Parkinson's question in Debian's headless Chromium (Playwright) and saves the page at 1280x900.

    .venv/bin/python scripts/staff_console_screenshot.py [--model models/x.tar.gz] [--out docs/img/staff-console.png]
"""

from __future__ import annotations

import argparse
import secrets
import socket
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.serve import DEFAULT_MODEL, BotServers, ServerSettings  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
QUESTION = "外泌体对帕金森病有用吗？"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def shoot(base: str, token: str, out: Path) -> None:
    """Sign in, ask the test panel, and save the screenshot."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN").new_page()
        page.goto(f"{base}/staff/")
        page.locator("#token").fill(token)
        page.locator("#token").press("Enter")
        page.locator("#test-text").fill(QUESTION)
        page.locator("#test-text").press("Enter")
        page.locator("#test-result").wait_for(timeout=60_000)
        page.locator("#test-text").blur()
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out))
        browser.close()


def main() -> int:
    """Start the servers, take the screenshot, stop the servers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="trained model (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "staff-console.png")
    args = parser.parse_args()
    if not CHROMIUM.is_file():
        print(f"error: {CHROMIUM} is missing; run scripts/install-system-deps (as root).", file=sys.stderr)
        return 2
    token = secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory(prefix="exobot-shot-") as tmp:
        folder = Path(tmp)
        folder.chmod(0o700)
        settings = ServerSettings(
            model=args.model,
            rasa_port=free_port(),
            action_port=free_port(),
            widget_port=free_port(),
            log_dir=folder / "logs",
            env={
                "TRACKER_SQLITE_PATH": str(folder / "tracker.db"),
                "STAFF_TOKEN": token,
                "STAFF_REVIEW_FILE": str(folder / "cases.csv"),
            },
        )
        with BotServers(settings) as servers:
            shoot(servers.settings.rasa_url, token, args.out)
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
