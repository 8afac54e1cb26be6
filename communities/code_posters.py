"""The poster of a channel or store code (渠道活码): the store's name on the brand colour, what the code is for,
the 联系我 QR code and who answers — drawn like the community poster (`communities.posters`, the same CJK font),
registered with the client book's admin from `CommunitiesConfig.ready()`."""

import io

import requests
from PIL import Image, ImageDraw

from clientbook.models import ContactWay
from communities.posters import DEFAULT_BRAND, INK, MUTED, PAPER, POSTER_SIZE, QR_SIDE, _centered, _fit

QR_DOWNLOAD_TIMEOUT = 10


def code_poster_png(*, code: ContactWay) -> bytes:
    """The code's poster as PNG bytes (its QR as WeCom serves it)."""
    response = requests.get(code.qr_code, timeout=QR_DOWNLOAD_TIMEOUT)
    response.raise_for_status()
    width, height = POSTER_SIZE
    brand = DEFAULT_BRAND
    image = Image.new("RGB", POSTER_SIZE, brand)
    draw = ImageDraw.Draw(image)
    margin = 48
    inner = width - 2 * margin - 64
    y = _centered(draw, 80, _fit(code.store.name, 44, width - 2 * margin), 44, PAPER, bold=True)
    _centered(draw, y + 22, _fit(code.store.address or "欢迎到店", 26, width - 2 * margin), 26, PAPER)
    card_top, card_bottom = 250, height - 90
    draw.rounded_rectangle((margin, card_top, width - margin, card_bottom), radius=32, fill=PAPER)
    title = code.label or code.get_kind_display()
    y = _centered(draw, card_top + 80, _fit(title, 40, inner), 40, INK, bold=True)
    who = f"导购 {code.associate.name} 为您服务" if code.associate_id else "门店导购为您一对一服务"
    y = _centered(draw, y + 24, _fit(who, 28, inner), 28, MUTED)
    qr = Image.open(io.BytesIO(response.content)).convert("RGB").resize((QR_SIDE, QR_SIDE), Image.Resampling.NEAREST)
    qr_top = y + 64
    image.paste(qr, ((width - QR_SIDE) // 2, qr_top))
    y = _centered(draw, qr_top + QR_SIDE + 64, "微信扫码，添加专属导购", 30, brand, bold=True)
    _centered(draw, y + 32, "新客礼券、上新与活动第一时间告诉您", 26, MUTED)
    _centered(draw, height - 62, "可随时在微信中删除，不会打扰您", 22, PAPER)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
