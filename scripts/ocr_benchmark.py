#!/usr/bin/env python
"""Compare the OCR engines on the rendered ads of tests/ocr/ads.yml: RapidOCR alone, Tesseract alone, and the
bot's reader (RapidOCR, with Tesseract filling in the Traditional characters RapidOCR's model lacks).

Every ad is rendered in each style (plain poster, noisy poster, photo at an angle); character accuracy is
1 - edit distance / length on letters and characters only (case and punctuation ignored). Prints a table per
script and style, and writes results/ocr_benchmark.json. Usage: .venv/bin/python scripts/ocr_benchmark.py
"""

from __future__ import annotations

import io
import json
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rapidfuzz.distance import Levenshtein  # noqa: E402

from bot.ocr import ImageProblem, ImageReader  # noqa: E402
from tests.ocr.render import STYLES, missing_fonts, render  # noqa: E402

TESSERACT_LANGS = {"zh-Hans": "chi_sim", "zh-Hant": "chi_tra", "en": "eng"}


def accuracy(expected: str, read: str) -> float:
    """1 - edit distance / length, on letters and characters only (case and punctuation ignored)."""
    want, got = (re.sub(r"[\W_]+", "", s).casefold() for s in (expected, read))
    return max(0.0, 1 - Levenshtein.distance(want, got) / max(1, len(want)))


def tesseract(data: bytes, script: str) -> str:
    """Tesseract on the whole picture, with the model of the ad's script (it is told the language)."""
    done = subprocess.run(
        ["tesseract", "stdin", "stdout", "-l", TESSERACT_LANGS[script], "--psm", "6"],
        input=data,
        capture_output=True,
        timeout=60,
    )
    return done.stdout.decode("utf-8", "replace")


def main() -> int:
    """Run the comparison and print it."""
    if missing_fonts() or not shutil.which("tesseract"):
        print("error: fonts or tesseract missing; run scripts/install-system-deps first.", file=sys.stderr)
        return 1
    ads = yaml.safe_load((ROOT / "tests" / "ocr" / "ads.yml").read_text(encoding="utf-8"))["ads"]
    ours, rapid = ImageReader(second_reader=True), ImageReader(second_reader=False)

    def read_with(reader: ImageReader) -> Callable[[bytes, str], str]:
        def read(data: bytes, _script: str) -> str:
            try:
                return reader.read(data).text
            except ImageProblem:
                return ""

        return read

    engines: Dict[str, Callable[[bytes, str], str]] = {
        "rapidocr": read_with(rapid),
        "tesseract": tesseract,
        "bot (rapidocr + tesseract for Traditional)": read_with(ours),
    }
    rows: List[Dict[str, object]] = []
    for number, ad in enumerate(ads):
        for style in STYLES:
            data = render(ad["lines"], ad["script"], style, number)
            for engine, read in engines.items():
                started = time.perf_counter()
                text = read(data, ad["script"])
                rows.append(
                    {
                        "engine": engine,
                        "ad": ad["id"],
                        "script": ad["script"],
                        "style": style,
                        "accuracy": round(accuracy("".join(ad["lines"]), text), 4),
                        "seconds": round(time.perf_counter() - started, 3),
                    }
                )
    out = io.StringIO()
    print(
        f"{len(ads)} ads x {len(STYLES)} styles; character accuracy (mean) and seconds per picture (median)", file=out
    )
    groups = [(s, st) for s in TESSERACT_LANGS for st in STYLES] + [("all", "all")]
    print(f"{'engine':44} " + " ".join(f"{s[:7]}/{st[:5]:5}" for s, st in groups) + "  s/pic", file=out)
    for engine in engines:
        mine = [r for r in rows if r["engine"] == engine]
        cells = []
        for script, style in groups:
            chosen = [r for r in mine if script in ("all", r["script"]) and style in ("all", r["style"])]
            cells.append(f"{statistics.mean(float(r['accuracy']) for r in chosen):13.3f}")  # type: ignore[arg-type]
        seconds = statistics.median(float(r["seconds"]) for r in mine)  # type: ignore[arg-type]
        print(f"{engine:44} " + " ".join(cells) + f"  {seconds:5.2f}", file=out)
    print(out.getvalue())
    results = ROOT / "results"
    results.mkdir(exist_ok=True)
    (results / "ocr_benchmark.json").write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
