"""Render advertising texts into images for the OCR tests: posters on plain and noisy backgrounds, and
"photos" of a poster taken at an angle (perspective, blur, uneven light, JPEG). Deterministic per seed.

Fonts come from Debian packages (scripts/install-system-deps): WenQuanYi Micro Hei and Zen Hei (sans) and
AR PL UMing (a Ming/serif face) for Chinese, DejaVu for English.
"""

from __future__ import annotations

import io
import random
from pathlib import Path
from typing import List, Sequence, Tuple

from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONTS = {
    "microhei": Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    "zenhei": Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
    "uming": Path("/usr/share/fonts/truetype/arphic/uming.ttc"),
    "dejavu-bold": Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
    "dejavu-serif": Path("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf"),
}
CJK_FONTS = ("microhei", "zenhei", "uming")
LATIN_FONTS = ("dejavu-bold", "dejavu-serif", "microhei")
STYLES = ("plain", "noisy", "photo")

_PALETTES: Sequence[Tuple[Tuple[int, int, int], Tuple[int, int, int]]] = (
    ((255, 255, 255), (20, 20, 20)),
    ((250, 240, 225), (120, 30, 30)),
    ((20, 40, 80), (250, 250, 250)),
    ((235, 245, 250), (10, 60, 110)),
    ((255, 228, 235), (90, 10, 60)),
)


def missing_fonts() -> List[str]:
    """The font files this renderer needs that are not installed."""
    return [str(path) for path in FONTS.values() if not path.is_file()]


def _poster(lines: Sequence[str], font_name: str, size: int, palette: int, rng: random.Random) -> Image.Image:
    """The ad's lines centred on a poster, the first line larger (a headline)."""
    background, ink = _PALETTES[palette % len(_PALETTES)]
    fonts = [ImageFont.truetype(str(FONTS[font_name]), int(size * (1.3 if i == 0 else 1.0))) for i in range(len(lines))]
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    boxes = [probe.textbbox((0, 0), line, font=font) for line, font in zip(lines, fonts)]
    width = max(box[2] - box[0] for box in boxes) + 2 * size
    gap = size // 2
    height = sum(box[3] - box[1] for box in boxes) + gap * (len(lines) - 1) + 2 * size
    image = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(image)
    y = size
    for line, font, box in zip(lines, fonts, boxes):
        x = (width - (box[2] - box[0])) // 2 - box[0]
        draw.text((x, y - box[1]), line, font=font, fill=ink)
        y += box[3] - box[1] + gap
    return image


def _noise(image: Image.Image, rng: random.Random) -> Image.Image:
    """A colour gradient, speckles and a few decorative strokes behind and over the text."""
    width, height = image.size
    gradient = Image.linear_gradient("L").resize((width, height)).rotate(rng.choice([0, 90, 180, 270]))
    tint = Image.new("RGB", (width, height), tuple(rng.randrange(120, 256) for _ in range(3)))  # type: ignore[arg-type]
    image = Image.composite(image, Image.blend(image, tint, 0.35), gradient.point(lambda v: 255 - v // 2))
    draw = ImageDraw.Draw(image)
    for _ in range(width * height // 400):
        x, y = rng.randrange(width), rng.randrange(height)
        shade = rng.randrange(0, 256)
        draw.point((x, y), fill=(shade, shade, shade))
    for _ in range(4):
        points = [(rng.randrange(width), rng.randrange(height)) for _ in range(2)]
        colour = tuple(rng.randrange(0, 256) for _ in range(3))
        draw.line(points, fill=colour, width=rng.randrange(1, 3))  # type: ignore[arg-type]
    return image


def _photo(image: Image.Image, rng: random.Random) -> Image.Image:
    """The poster as photographed: on a table, turned, in perspective, lit unevenly, slightly blurred."""
    width, height = image.size
    margin = max(width, height) // 5
    table = Image.new("RGB", (width + 2 * margin, height + 2 * margin), (rng.randrange(60, 140),) * 3)
    table.paste(image, (margin, margin))
    table = table.rotate(rng.uniform(-12, 12), resample=Image.Resampling.BICUBIC, expand=False, fillcolor=(90, 90, 90))
    w, h = table.size
    skew = [rng.uniform(0, 0.06) * w for _ in range(4)]
    # Perspective: the four corners of the output come from slightly moved corners of the input.
    quad = (skew[0], skew[1] * 0.5, skew[2] * 0.3, h - skew[3] * 0.5, w - skew[1] * 0.3, h, w - skew[0] * 0.5, 0)
    table = table.transform((w, h), Image.Transform.QUAD, quad, resample=Image.Resampling.BICUBIC)
    light = Image.linear_gradient("L").resize((w, h)).rotate(rng.choice([45, 135, 225, 315]), expand=False)
    dark = Image.new("RGB", (w, h), (0, 0, 0))
    table = Image.composite(table, Image.blend(table, dark, 0.35), light.point(lambda v: 128 + v // 2))
    return table.filter(ImageFilter.GaussianBlur(rng.uniform(0.4, 1.0)))


def render(lines: Sequence[str], script: str, style: str, seed: int) -> bytes:
    """One ad as an image file (PNG for posters, JPEG for photos), the same bytes for the same arguments."""
    if style not in STYLES:
        raise ValueError(f"Unknown image style {style!r}: use one of {', '.join(STYLES)}.")
    rng = random.Random(seed)
    faces = LATIN_FONTS if script == "en" else CJK_FONTS
    image = _poster(lines, faces[seed % len(faces)], rng.choice([30, 34, 40]), seed, rng)
    if style == "noisy":
        image = _noise(image, rng)
    elif style == "photo":
        image = _photo(image, rng)
    out = io.BytesIO()
    if style == "photo":
        image.save(out, format="JPEG", quality=rng.choice([70, 80, 90]))
    else:
        image.save(out, format="PNG")
    return out.getvalue()
