"""The staff console's pages: the sign-in form and the console (bot/staff/static), with their words from
data/staff_texts.yml in both languages."""

from __future__ import annotations

import functools
import html
import json
from pathlib import Path
from typing import Any, Dict

import yaml

from bot.lang import LANGS, localize
from bot.paths import DATA

STATIC = Path(__file__).resolve().parent / "static"
STAFF_TEXTS = DATA / "staff_texts.yml"


@functools.lru_cache(maxsize=1)
def staff_strings() -> Dict[str, Dict[str, str]]:
    """Every console string in zh-Hans, zh-Hant and en (checked: each entry has zh and en)."""
    entries = (yaml.safe_load(STAFF_TEXTS.read_text(encoding="utf-8")) or {}).get("strings") or {}
    for key, entry in entries.items():
        if not isinstance(entry, dict) or not entry.get("zh") or not entry.get("en"):
            raise ValueError(f"{STAFF_TEXTS}: entry '{key}' needs both zh and en texts.")
    return {lang: {key: localize(entry, lang) for key, entry in entries.items()} for lang in LANGS}


def _page(name: str, **values: Any) -> str:
    template = (STATIC / name).read_text(encoding="utf-8")
    for key, value in values.items():
        template = template.replace("{{" + key + "}}", value)
    return template


def sign_in_page(failed: bool = False) -> str:
    """The sign-in form (shown with 401 to anyone without the staff cookie)."""
    strings = staff_strings()
    zh, en = strings["zh-Hans"], strings["en"]
    note = (
        (
            f'<p class="error" role="alert">{html.escape(zh["sign_in_failed"])} '
            f'<span lang="en">{html.escape(en["sign_in_failed"])}</span></p>'
        )
        if failed
        else ""
    )
    return _page(
        "sign_in.html",
        note=note,
        **{k: html.escape(f"{zh[k]} / {en[k]}") for k in ("title", "sign_in_heading", "token_label", "sign_in")},
    )


def console_page() -> str:
    """The console: HTML, its script and styles, and the strings as JSON."""
    data = json.dumps({"strings": staff_strings()}, ensure_ascii=False).replace("</", "<\\/")
    return _page(
        "console.html",
        data=data,
        css=(STATIC / "console.css").read_text(encoding="utf-8"),
        script=(STATIC / "console.js").read_text(encoding="utf-8").replace("</script", "<\\/script"),
        title=html.escape(staff_strings()["zh-Hans"]["title"]),
    )
