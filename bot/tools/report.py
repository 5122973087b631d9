"""Render the staff reports from the templates in bot/tools/templates (HTML and console text)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Dict, List, Mapping, Sequence

import jinja2

TEMPLATES = Path(__file__).resolve().parent / "templates"
REVIEW_STATUSES = ("pass", "fail", "error", "unchecked")
BAR_WIDTH = 320  # px of the longest bar in a chart


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The Jinja environment: HTML templates autoescaped, undefined names are errors."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "html.j2"), default_for_string=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render(template: str, **context: Any) -> str:
    """Render one template of bot/tools/templates with the given values."""
    return environment().get_template(template).render(**context)


def stacked_bars(
    rows: Mapping[str, Mapping[str, int]], order: Sequence[str], width: int = BAR_WIDTH
) -> List[Dict[str, Any]]:
    """Chart geometry: per row its segments (key, count, x, width) scaled so the longest bar is `width`."""
    longest = max((sum(counts.get(k, 0) for k in order) for counts in rows.values()), default=0) or 1
    bars = []
    for label, counts in rows.items():
        segments: List[Dict[str, Any]]
        x, segments = 0.0, []
        for key in order:
            count = counts.get(key, 0)
            if count:
                w = width * count / longest
                segments.append({"key": key, "count": count, "x": round(x, 1), "w": round(w, 1)})
                x += w
        bars.append(
            {"label": label, "total": sum(s["count"] for s in segments), "segments": segments, "end": round(x, 1)}
        )
    return bars


def review_html(run: Dict[str, Any], compare_file: str | None = None) -> str:
    """The HTML report of a review run (summary, charts, one row per question)."""
    summary = run["summary"]
    charts = {
        "languages": stacked_bars(summary["by_language"], REVIEW_STATUSES),
        "types": stacked_bars({t: {"count": c} for t, c in summary["by_type"].items()}, ("count",)),
    }
    return render(
        "review.html.j2",
        run=run,
        summary=summary,
        charts=charts,
        statuses=REVIEW_STATUSES,
        compare_file=compare_file,
        bar_width=BAR_WIDTH,
    )


def review_text(run: Dict[str, Any], paths: Mapping[str, Path]) -> str:
    """The console summary of a review run."""
    return render("review.txt.j2", run=run, summary=run["summary"], paths=paths)


def compare_html(comparison: Dict[str, Any]) -> str:
    """The HTML page of a comparison between two runs."""
    return render("compare.html.j2", c=comparison, summary=comparison["summary"])


def compare_text(comparison: Dict[str, Any], paths: Mapping[str, Path]) -> str:
    """The console summary of a comparison."""
    return render("compare.txt.j2", c=comparison, summary=comparison["summary"], paths=paths)


def insights_text(report: Dict[str, Any]) -> str:
    """The console report of `bot insights`."""
    return render("insights.txt.j2", r=report)
