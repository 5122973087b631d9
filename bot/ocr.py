"""Text from images, on this machine: checks an upload, then reads it with RapidOCR (PP-OCRv4 Chinese and
English models shipped inside the `rapidocr-onnxruntime` wheel), off the event loop and within limits.

Chosen over Tesseract (Debian's `tesseract-ocr` with `chi_sim`/`chi_tra`) on the same rendered ads
(`scripts/ocr_benchmark.py`, docs/operators.md "Images"): better on Chinese, noisy backgrounds and photos
taken at an angle, and faster. Its one weakness, English words run together ("agingfromwithin"), is mended
here by splitting long letter runs into words (`wordninja`, with the bot's own English terms added).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import functools
import io
import logging
import math
import os
import re
import threading
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

from bot.lang import detect_script, normalize

logger = logging.getLogger(__name__)

# The user message's metadata key that marks text read in an image (its value: what the reader measured).
IMAGE_KEY = "image"
# Formats an upload may have (what browsers, WeChat and Telegram send as pictures).
FORMATS = frozenset({"PNG", "JPEG", "WEBP", "GIF", "BMP"})
MAX_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 24_000_000  # a 6000 x 4000 phone photo; larger ones are refused before decoding
MAX_SIDE = 2000  # larger images are scaled down before reading (the recogniser reads 48-pixel lines)
TIMEOUT = 15.0
MIN_SCORE = 0.5  # recognised lines below this confidence are dropped
SECOND_READER_BUDGET = 1.5  # seconds Tesseract may spend re-reading the Traditional lines of one picture

# English terms of this bot that a general word list splits wrongly ("exosomes" -> "exo somes").
DOMAIN_WORDS = (
    "exosome",
    "exosomes",
    "iv",
    "infusion",
    "infusions",
    "serum",
    "serums",
    "antiaging",
    "skincare",
    "stem",
    "fda",
    "nmpa",
)
_LETTER_RUN = re.compile(r"[A-Za-z]{9,}")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


class ImageProblem(Exception):
    """An upload that cannot be read: `kind` is "not_image", "too_large", "no_text" or "failed"."""

    def __init__(self, kind: str, detail: str) -> None:
        """A problem of one kind, with a detail for the log (never shown to the user)."""
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


@dataclasses.dataclass(frozen=True)
class ImageText:
    """What was read in one image: its lines top to bottom, their mean confidence, and the time taken."""

    lines: Tuple[str, ...]
    score: float
    seconds: float
    size: Tuple[int, int]

    @property
    def text(self) -> str:
        """The lines as one message, joined with spaces: a poster's lines are fragments of one statement
        ("中风 帕金森" over "外泌体 有效治疗", "Our exosome therapy reverses" over "Alzheimer's in 8 weeks"),
        so a line break does not end a sentence or a clause; the lines' own punctuation does."""
        return " ".join(self.lines)


def check_image(data: bytes, max_bytes: int = MAX_BYTES, max_pixels: int = MAX_PIXELS) -> Tuple[str, int, int]:
    """The format, width and height of an upload; ImageProblem when it is too large or not a picture.

    Only the header is read (Pillow opens lazily), so a decompression bomb is refused before decoding.
    """
    from PIL import Image, UnidentifiedImageError

    if len(data) > max_bytes:
        raise ImageProblem("too_large", f"{len(data)} bytes, the limit is {max_bytes}")
    if not data:
        raise ImageProblem("not_image", "an empty upload")
    try:
        with Image.open(io.BytesIO(data)) as image:
            kind, (width, height) = str(image.format or ""), image.size
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as error:
        raise ImageProblem("not_image", f"not a picture Pillow can open ({type(error).__name__})") from None
    if kind not in FORMATS:
        raise ImageProblem("not_image", f"format {kind or 'unknown'}, accepted: {', '.join(sorted(FORMATS))}")
    if width * height > max_pixels:
        raise ImageProblem("too_large", f"{width}x{height} pixels, the limit is {max_pixels}")
    return kind, width, height


@functools.lru_cache(maxsize=1)
def _splitter() -> Any:
    """wordninja's English model with the bot's own terms put first (most frequent)."""
    import gzip
    import tempfile
    from pathlib import Path

    import wordninja

    words = list(DOMAIN_WORDS) + [w for w in wordninja.DEFAULT_LANGUAGE_MODEL._wordcost if w not in DOMAIN_WORDS]  # noqa: SLF001
    # LanguageModel reads a gzip word list ordered by frequency; its costs are computed from the ranks.
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "words.txt.gz"
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            handle.write("\n".join(words))
        return wordninja.LanguageModel(str(path))


def split_run_together(line: str) -> str:
    """English words the recogniser ran together, split again ("Reverse agingfromwithin" -> "... aging from within")."""

    def split(match: "re.Match[str]") -> str:
        run = match.group(0)
        words = _splitter().split(run.lower())
        if len(words) < 2:
            return run
        # Keep the capitals of the original letters.
        out, at = [], 0
        for word in words:
            out.append(run[at : at + len(word)])
            at += len(word)
        return " ".join(out)

    return _LETTER_RUN.sub(split, line)


Box = Tuple[Sequence[Sequence[float]], str, float]


def _rows(boxes: Sequence[Box]) -> List[List[Tuple[float, float, float, str, float, Sequence[Sequence[float]]]]]:
    """Recognised boxes grouped into lines, top to bottom and left to right: a box joins the line whose
    centre lies within half a box height of its own (the box's own height, also when it is tilted)."""
    rows: List[List[Tuple[float, float, float, str, float, Sequence[Sequence[float]]]]] = []
    for corners, text, score in boxes:
        cx = sum(p[0] for p in corners) / 4
        cy = sum(p[1] for p in corners) / 4
        height = math.dist(corners[0], corners[3])
        item = (cx, cy, height, text.strip(), float(score), corners)
        row = next((r for r in rows if abs(cy - r[0][1]) < 0.5 * min(height, r[0][2])), None)
        if row is None:
            rows.append([item])
        else:
            row.append(item)
    rows.sort(key=lambda row: row[0][1])
    for row in rows:
        row.sort(key=lambda item: item[0])
    return rows


def _join(words: Sequence[str]) -> str:
    """The texts of one line's boxes: a space between them, except between two Chinese characters."""
    text = ""
    for word in words:
        if text and not (_CJK.search(text[-1]) and _CJK.search(word[:1])):
            text += " "
        text += word
    return text


@functools.lru_cache(maxsize=1)
def _char_counts() -> Dict[str, int]:
    """How common each (Simplified) character is: the summed frequencies of jieba's dictionary words."""
    import collections

    import jieba

    jieba.dt.check_initialized()
    counts: Dict[str, int] = collections.Counter()
    for word, frequency in jieba.dt.FREQ.items():
        for char in word:
            counts[char] += frequency
    return dict(counts)


RARE_CHAR = 2000  # a character this uncommon in RapidOCR's reading is likely a stand-in ("胍" for "脈")


def mend(primary: str, second: str, known: Any) -> str:
    """`primary` (RapidOCR's line) with the Chinese characters it could not give filled in from `second`
    (Tesseract's reading of the same line). RapidOCR's model lacks some Traditional characters (認, 說, 脈):
    it drops them ("政府官方證" for "政府官方認證") or puts another in their place ("静胍" for "靜脈"). So a
    character or two that `second` has between stretches both agree on is inserted, and a character of
    `second` that RapidOCR cannot give replaces RapidOCR's when that is its Simplified form or a rare one."""
    import difflib

    def squeeze(text: str) -> str:
        return re.sub(r"(?<=[\u3400-\u9fff]) (?=[\u3400-\u9fff])", "", text)

    primary, second = squeeze(primary), squeeze(second)
    counts = _char_counts()
    out = []
    matcher = difflib.SequenceMatcher(None, primary, second, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        ours, theirs = primary[i1:i2], second[j1:j2]
        chinese = bool(theirs) and all(_CJK.match(c) for c in theirs)
        if op == "insert" and chinese and j2 - j1 <= 2 and 0 < i1 < len(primary):
            out.append(theirs)
        elif (
            op == "replace"
            and chinese
            and len(ours) == len(theirs)
            and all(c not in known for c in theirs)
            and all(
                normalize(a) == normalize(b) or counts.get(normalize(a), 0) < RARE_CHAR for a, b in zip(ours, theirs)
            )
        ):
            out.append(theirs)
        else:
            out.append(ours)
    return "".join(out)


class ImageReader:
    """Reads text in images with RapidOCR, one image at a time on its own thread, within a time limit."""

    def __init__(
        self,
        max_bytes: int = MAX_BYTES,
        max_pixels: int = MAX_PIXELS,
        timeout: float = TIMEOUT,
        min_score: float = MIN_SCORE,
        threads: int = 2,
        second_reader: Optional[bool] = None,
    ) -> None:
        """A reader with limits: upload size, pixel count, seconds per image; the engine loads on first use."""
        self.max_bytes = max_bytes
        self.max_pixels = max_pixels
        self.timeout = timeout
        self.min_score = min_score
        self.threads = threads
        # Tesseract re-reads the lines of Traditional Chinese pictures (see `mend`) when it is installed.
        self.second_reader = tesseract_available() if second_reader is None else second_reader
        self._engine: Any = None
        self._lock = threading.Lock()
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="ocr")

    def _load(self) -> Any:
        """The OCR engine (about half a second to load its three models)."""
        with self._lock:
            if self._engine is None:
                from rapidocr_onnxruntime import RapidOCR

                self._engine = RapidOCR(intra_op_num_threads=self.threads, inter_op_num_threads=1)
            return self._engine

    def read(self, data: bytes) -> ImageText:
        """The text of one image (blocking); ImageProblem when it is not a picture, too large or has no text."""
        from PIL import Image, ImageOps

        started = time.perf_counter()
        check_image(data, self.max_bytes, self.max_pixels)
        try:
            with Image.open(io.BytesIO(data)) as opened:
                image = ImageOps.exif_transpose(opened).convert("RGB")
        except (OSError, ValueError, Image.DecompressionBombError) as error:
            raise ImageProblem("not_image", f"the picture could not be decoded ({type(error).__name__})") from None
        if max(image.size) > MAX_SIDE:
            image.thumbnail((MAX_SIDE, MAX_SIDE))
        import numpy

        pixels = numpy.asarray(image)[:, :, ::-1]  # RapidOCR takes OpenCV's BGR order
        engine = self._load()
        result, _ = engine(pixels, unclip_ratio=2.2)
        rows = _rows(result or [])
        lines = [(_join([item[3] for item in row]), sum(item[4] for item in row) / len(row)) for row in rows]
        if self.second_reader and detect_script(" ".join(text for text, _ in lines)) == "zh-Hant":
            known = set(engine.text_rec.postprocess_op.character)
            # Top lines first (an ad's headline and claims), within SECOND_READER_BUDGET seconds: a long
            # screenshot keeps RapidOCR's reading of the lines left over.
            deadline = time.monotonic() + SECOND_READER_BUDGET

            def second_reading(n: int) -> str:
                left = deadline - time.monotonic()
                return _join([tesseract_line(pixels, item[5], left) for item in rows[n]]) if left > 0.1 else ""

            chinese = [n for n, (text, _) in enumerate(lines) if _CJK.search(text)]
            with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:  # one Tesseract process per core
                for n, second in zip(chinese, pool.map(second_reading, chinese)):
                    if second:
                        lines[n] = (mend(lines[n][0], second, known), lines[n][1])
        lines = [(split_run_together(text), score) for text, score in lines if score >= self.min_score and text]
        if not lines:
            raise ImageProblem("no_text", f"no line read with confidence >= {self.min_score}")
        return ImageText(
            lines=tuple(text for text, _ in lines),
            score=round(sum(score for _, score in lines) / len(lines), 3),
            seconds=round(time.perf_counter() - started, 3),
            size=image.size,
        )

    async def read_async(self, data: bytes) -> ImageText:
        """`read` on the reader's own thread, so the event loop keeps serving; ImageProblem("failed") after
        the time limit."""
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._pool, self.read, data)
        try:
            return await asyncio.wait_for(future, timeout=self.timeout)
        except asyncio.TimeoutError:
            raise ImageProblem("failed", f"reading took longer than {self.timeout:.0f} s") from None
        except ImageProblem:
            raise
        except Exception as error:  # the engine's own failures (a corrupt frame inside a valid header)
            logger.exception("OCR failed on an image.")
            raise ImageProblem("failed", f"the OCR engine failed ({type(error).__name__})") from None


TESSERACT_LANG = "chi_tra"


@functools.lru_cache(maxsize=1)
def tesseract_available() -> bool:
    """True when Debian's `tesseract` with the Traditional Chinese model is installed (else logged once)."""
    import shutil
    import subprocess

    if shutil.which("tesseract"):
        try:
            listed = subprocess.run(["tesseract", "--list-langs"], capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            listed = ""
        if TESSERACT_LANG in listed.split():
            return True
    logger.warning(
        "Tesseract with %s is not installed: Traditional Chinese pictures are read by RapidOCR alone, which "
        "drops some characters (認, 說, 脈). Install it with scripts/install-system-deps (tesseract-ocr-chi-tra).",
        TESSERACT_LANG,
    )
    return False


def tesseract_line(pixels: Any, corners: Sequence[Sequence[float]], timeout: float = 5.0) -> str:
    """Tesseract's reading of one text line: the box cut out straight, enlarged to 64 pixels high, with a
    margin; "" when Tesseract fails."""
    import subprocess

    import cv2
    import numpy

    width = int(max(math.dist(corners[0], corners[1]), math.dist(corners[3], corners[2])))
    height = int(max(math.dist(corners[0], corners[3]), math.dist(corners[1], corners[2])))
    if width < 4 or height < 4:
        return ""
    target = numpy.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=numpy.float32)
    warp = cv2.getPerspectiveTransform(numpy.array(corners, dtype=numpy.float32), target)
    crop = cv2.warpPerspective(pixels, warp, (width, height), borderMode=cv2.BORDER_REPLICATE)
    scale = 64 / height
    crop = cv2.resize(crop, (max(1, int(width * scale)), 64), interpolation=cv2.INTER_CUBIC)
    crop = cv2.copyMakeBorder(crop, 16, 16, 16, 16, cv2.BORDER_REPLICATE)
    ok, png = cv2.imencode(".png", crop)
    if not ok:
        return ""
    try:
        done = subprocess.run(
            ["tesseract", "stdin", "stdout", "-l", TESSERACT_LANG, "--psm", "7"],
            input=png.tobytes(),
            capture_output=True,
            timeout=timeout,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return "".join(done.stdout.decode("utf-8", "replace").split())


@functools.lru_cache(maxsize=1)
def shared_reader() -> ImageReader:
    """The process's one reader (one OCR engine in memory), with limits from IMAGE_MAX_BYTES and
    IMAGE_OCR_TIMEOUT."""
    return ImageReader(max_bytes=_setting("IMAGE_MAX_BYTES", MAX_BYTES), timeout=_setting("IMAGE_OCR_TIMEOUT", TIMEOUT))


def _setting(name: str, default: Any) -> Any:
    """A positive number from the environment, else `default`; a clear error for a wrong value."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = type(default)(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise ValueError(f"{name} must be a positive {type(default).__name__}, not {raw!r} (unset it for {default}).")
    return value


def short_quote(text: str, limit: int = 80) -> str:
    """The read text for the reply's first line: whitespace collapsed, cut at `limit` characters with "…"."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


__all__ = ["IMAGE_KEY", "ImageProblem", "ImageReader", "ImageText", "check_image", "shared_reader", "short_quote"]
