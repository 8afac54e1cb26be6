"""Pictures of a coupon: the QR code and Code128 barcode a till scans (inline SVG on the coupon page), and the
shareable PNG card drawn with Pillow.

Both symbols encode exactly the stored code, without the display spaces: that is what `coupon_by_code` looks up.
The card needs a font with Chinese glyphs or it shows empty boxes; `cjk_font_file` finds one: the pinned
noto-cjk-sans-otc wheel first (so `./run demo` works on a bare machine), then Debian's fonts-noto-cjk, then
whatever fontconfig offers for zh-cn.
"""

import functools
import io
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

import barcode
import qrcode
from PIL import Image, ImageDraw, ImageFont

DEBIAN_NOTO_CJK = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
# A scanner needs a margin of light modules around each symbol: 4 for QR, 10 for Code128.
QR_QUIET = 4
BARCODE_QUIET = 10
BARCODE_HEIGHT = 48  # in modules; Code128 wants at least 15% of its width

CARD_SIZE = (750, 1000)
INK = (31, 35, 41)
MUTED = (100, 106, 115)
ACCENT = (201, 72, 56)
PAPER = (255, 255, 255)
LINE = (229, 230, 235)


# ---------------------------------------------------------------------------------------------------------------
# Symbols


def qr_modules(text: str) -> list[list[bool]]:
    """The QR symbol of `text` as rows of dark (True) and light modules, without the quiet zone."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
    code.add_data(text)
    code.make(fit=True)
    return code.get_matrix()


def barcode_modules(text: str) -> list[bool]:
    """The Code128 symbol of `text` as bars (True) and spaces, one module each, without the quiet zone."""
    return [bit == "1" for bit in barcode.get("code128", text).build()[0]]


def _svg(
    rows: Sequence[Sequence[bool]], *, margin: tuple[int, int], row_height: int, label: str, css_class: str
) -> str:
    """An inline SVG in module units, each horizontal run of dark modules one rectangle of a single path;
    `margin` is the light quiet zone (left and right, top and bottom) a scanner needs around the symbol."""
    mx, my = margin
    width, height = len(rows[0]) + 2 * mx, len(rows) * row_height + 2 * my
    runs = []
    for y, row in enumerate(rows):
        x = 0
        while x < len(row):
            if not row[x]:
                x += 1
                continue
            start = x
            while x < len(row) and row[x]:
                x += 1
            runs.append(f"M{start + mx},{my + y * row_height}h{x - start}v{row_height}h-{x - start}z")
    return (
        f'<svg class="{css_class}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{label}" shape-rendering="crispEdges">'
        f'<rect width="{width}" height="{height}" fill="#fff"/><path fill="#000" d="{"".join(runs)}"/></svg>'
    )


def qr_svg(text: str) -> str:
    return _svg(qr_modules(text), margin=(QR_QUIET, QR_QUIET), row_height=1, label="券码二维码", css_class="qr")


def barcode_svg(text: str) -> str:
    return _svg(
        [barcode_modules(text)],
        margin=(BARCODE_QUIET, 0),
        row_height=BARCODE_HEIGHT,
        label="券码条形码",
        css_class="bar",
    )


# ---------------------------------------------------------------------------------------------------------------
# Fonts


def glyph_pixels(font: ImageFont.FreeTypeFont, char: str) -> bytes:
    """The pixels of one character as the font draws it, on a square twice the font size."""
    image = Image.new("L", (int(font.size) * 2, int(font.size) * 2))
    ImageDraw.Draw(image).text((font.size / 2, font.size / 2), char, font=font, fill=255)
    return image.tobytes()


def draws_glyph(font: ImageFont.FreeTypeFont, char: str) -> bool:
    """Whether the font has its own glyph for `char`, not the empty box it draws for what it lacks."""
    missing = "\uffff"  # a noncharacter: every font draws its .notdef box for it
    return glyph_pixels(font, char) != glyph_pixels(font, missing)


def _fontconfig_zh() -> tuple[str, int] | None:
    try:
        found = subprocess.run(
            ["fc-match", "-f", "%{file}:%{index}", "sans-serif:lang=zh-cn"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    path, _, index = found.rpartition(":")
    return (path, int(index)) if path and index.isdigit() else None


def _simplified_chinese_face(path: str) -> int:
    """The face of a font collection drawn for Simplified Chinese (Noto's .ttc holds JP, KR, SC, TC, …)."""
    index = 0
    while True:
        try:
            family = ImageFont.truetype(path, 12, index=index).getname()[0] or ""
        except OSError:
            return 0
        if family.endswith(" SC"):
            return index
        index += 1


def _font_candidates() -> Iterator[tuple[str, int]]:
    try:
        import noto_cjk_sans_otc
    except ImportError:
        pass
    else:
        path = str(noto_cjk_sans_otc.FONT_PATH)
        yield path, _simplified_chinese_face(path)
    if DEBIAN_NOTO_CJK.exists():
        yield str(DEBIAN_NOTO_CJK), _simplified_chinese_face(str(DEBIAN_NOTO_CJK))
    if (found := _fontconfig_zh()) is not None:
        yield found


@functools.cache
def cjk_font_file() -> tuple[str, int]:
    """A font file (and its face index) that draws Chinese: the pinned wheel, Debian's Noto CJK, or fontconfig's."""
    for path, index in _font_candidates():
        try:
            font = ImageFont.truetype(path, 24, index=index)
        except OSError:
            continue
        # fontconfig answers with its best font even when none has Chinese.
        if draws_glyph(font, "券"):
            return path, index
    raise RuntimeError("No font with Chinese glyphs: pip install noto-cjk-sans-otc (requirements.txt).")


@functools.cache
def _font(size: int) -> ImageFont.FreeTypeFont:
    path, index = cjk_font_file()
    return ImageFont.truetype(path, size, index=index)


# ---------------------------------------------------------------------------------------------------------------
# The shareable card


def _centered(draw: ImageDraw.ImageDraw, y: int, text: str, size: int, fill, *, bold: bool = False) -> int:
    """Draw one line centred on the card; return the y below it."""
    font = _font(size)
    stroke = max(1, size // 40) if bold else 0
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font, stroke_width=stroke)
    draw.text(
        ((CARD_SIZE[0] - (right - left)) / 2 - left, y - top),
        text,
        font=font,
        fill=fill,
        stroke_width=stroke,
        stroke_fill=fill,
    )
    return y + (bottom - top)


def _fit(text: str, size: int, width: int) -> str:
    """The text cut with an ellipsis so it fits `width` pixels in one line."""
    font = _font(size)
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + "…") > width:
        text = text[:-1]
    return text + "…"


def coupon_card_png(
    *,
    heading: str,
    value: str,
    caption: str,
    name: str,
    rule: str,
    validity: str,
    code: str,
    code_display: str,
) -> bytes:
    """A 750×1000 PNG of one coupon to save and share: who it is from, its value and rule, when it is good, and
    its QR code and grouped code to show at the till."""
    width, height = CARD_SIZE
    image = Image.new("RGB", CARD_SIZE, ACCENT)
    draw = ImageDraw.Draw(image)
    margin, inner = 40, width - 2 * 40 - 80

    _centered(draw, 44, _fit(heading, 30, width - 2 * margin), 30, PAPER)
    ticket_top, ticket_bottom = 110, height - 40
    draw.rounded_rectangle((margin, ticket_top, width - margin, ticket_bottom), radius=28, fill=PAPER)

    y = _centered(draw, ticket_top + 40, _fit(name, 30, inner), 30, MUTED)
    y = _centered(draw, y + 26, value, 112, ACCENT, bold=True)
    y = _centered(draw, y + 26, _fit(caption, 30, inner), 30, INK)
    y = _centered(draw, y + 16, _fit(rule, 26, inner), 26, MUTED)

    # The tear line of a paper ticket: notches cut into both edges and a dashed rule between them.
    tear = y + 36
    for cx in (margin, width - margin):
        draw.ellipse((cx - 18, tear - 18, cx + 18, tear + 18), fill=ACCENT)
    for x in range(margin + 34, width - margin - 34, 22):
        draw.line((x, tear, x + 11, tear), fill=LINE, width=3)

    modules = qr_modules(code)
    scale = min(360 // len(modules), 14)
    side = len(modules) * scale
    qr = Image.new("1", (len(modules), len(modules)), 1)
    qr.putdata([0 if dark else 1 for row in modules for dark in row])
    qr_top = tear + 44
    image.paste(qr.resize((side, side), Image.Resampling.NEAREST).convert("RGB"), ((width - side) // 2, qr_top))

    y = _centered(draw, qr_top + side + 34, code_display, 44, INK)
    y = _centered(draw, y + 22, _fit(validity, 26, inner), 26, MUTED)
    _centered(draw, ticket_bottom - 58, "到店出示二维码 · 线上下单输入券码", 24, MUTED)

    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
