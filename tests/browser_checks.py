"""Checks shared by the browser tests (widget and staff console): accessibility with axe-core."""

from __future__ import annotations

from typing import Any, Dict, List

from bot.widget import WIDGET_DIR, install_node_modules

AXE = WIDGET_DIR / "node_modules" / "axe-core" / "axe.min.js"


def axe_violations(page: Any) -> List[Dict[str, Any]]:
    """Serious and critical axe-core violations of the page as it is (axe-core from widget/node_modules)."""
    if not AXE.is_file():
        install_node_modules()
    assert AXE.is_file(), f"{AXE} is missing: run `npm ci` in widget/"
    if not page.evaluate("() => !!window.axe"):
        page.add_script_tag(path=str(AXE))
    result = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5], "help": v["help"]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
