"""The community invite poster: a PNG drawn with Pillow that the associate sends into the chat.

Store name on the brand colour, the community name, who invites, the 加入群聊 QR code and one line of copy.
WeCom takes image media as JPG or PNG of at most 10 MB (a 750×1334 PNG of flat colours is ~60 KB). Chinese is
drawn with the CJK font the coupon card uses (`coupons.images.cjk_font_file`), so it never shows empty boxes.
"""

import functools
import io
import re

from PIL import Image, ImageDraw, ImageFont

from coupons.images import cjk_font_file

POSTER_SIZE = (750, 1334)
QR_SIDE = 480
PAPER = (255, 255, 255)
INK = (31, 35, 41)
MUTED = (100, 106, 115)
DEFAULT_BRAND = (7, 193, 96)


def brand_rgb(color: str) -> tuple[int, int, int]:
    """#RRGGBB as a tuple; anything else falls back to WeCom green, so a typo never breaks a poster."""
    if not re.fullmatch(r"#[0-9a-fA-F]{6}", color or ""):
        return DEFAULT_BRAND
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


@functools.cache
def _font(size: int) -> ImageFont.FreeTypeFont:
    path, index = cjk_font_file()
    return ImageFont.truetype(path, size, index=index)


def _fit(text: str, size: int, width: int) -> str:
    """The text cut with an ellipsis so it fits `width` pixels in one line."""
    font = _font(size)
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + "…") > width:
        text = text[:-1]
    return text + "…"


def _centered(draw: ImageDraw.ImageDraw, y: int, text: str, size: int, fill, *, bold: bool = False) -> int:
    font = _font(size)
    stroke = max(1, size // 40) if bold else 0
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font, stroke_width=stroke)
    x = (POSTER_SIZE[0] - (right - left)) / 2 - left
    draw.text((x, y - top), text, font=font, fill=fill, stroke_width=stroke, stroke_fill=fill)
    return y + (bottom - top)


def community_poster_png(
    *, store_name: str, community_name: str, associate_name: str, copy_line: str, brand_color: str, qr_png: bytes
) -> bytes:
    """The poster as PNG bytes. `qr_png` is the join way's QR image as WeCom serves it."""
    width, height = POSTER_SIZE
    brand = brand_rgb(brand_color)
    image = Image.new("RGB", POSTER_SIZE, brand)
    draw = ImageDraw.Draw(image)
    margin = 48
    inner = width - 2 * margin - 64

    y = _centered(draw, 80, _fit(store_name, 44, width - 2 * margin), 44, PAPER, bold=True)
    _centered(draw, y + 22, "门店专属社群", 28, PAPER)

    card_top, card_bottom = 250, height - 90
    draw.rounded_rectangle((margin, card_top, width - margin, card_bottom), radius=32, fill=PAPER)
    y = _centered(draw, card_top + 80, _fit(community_name, 40, inner), 40, INK, bold=True)
    y = _centered(draw, y + 24, _fit(f"导购 {associate_name} 邀请您加入", 28, inner), 28, MUTED)

    qr = Image.open(io.BytesIO(qr_png)).convert("RGB")
    # Nearest-neighbour keeps the modules' edges sharp, so a phone camera reads the printed code.
    qr = qr.resize((QR_SIDE, QR_SIDE), Image.Resampling.NEAREST)
    qr_top = y + 64
    image.paste(qr, ((width - QR_SIDE) // 2, qr_top))
    draw.rectangle(
        ((width - QR_SIDE) // 2 - 2, qr_top - 2, (width + QR_SIDE) // 2 + 1, qr_top + QR_SIDE + 1), outline=brand
    )

    y = _centered(draw, qr_top + QR_SIDE + 64, "长按识别二维码，加入群聊", 30, brand, bold=True)
    _centered(draw, y + 32, _fit(copy_line, 26, inner), 26, MUTED)
    _centered(draw, height - 62, "本群由门店导购维护，可随时退出", 22, PAPER)

    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
