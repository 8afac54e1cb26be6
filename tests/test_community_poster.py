"""The invite poster: an image WeCom accepts as image media (PNG, ≤10 MB), whose QR code a real decoder reads back
as the join URL, and whose Chinese text is drawn with real glyphs (not the empty boxes of a font without them)."""

import io

import pytest
import qrcode
import zxingcpp
from PIL import Image, ImageChops

from communities.posters import POSTER_SIZE, _font, brand_rgb, community_poster_png
from coupons.images import draws_glyph
from tests import test_community_groups as groups
from wecom import constants as C
from wecom.client import wecom_client

emulator = groups.emulator  # the fixture
JOIN_URL = "http://127.0.0.1:8765/scan/join_way/0123456789abcdef0123456789abcdef"
TEXTS = {
    "store_name": "上海静安店",
    "community_name": "静安会员俱乐部",
    "associate_name": "林雨",
    "copy_line": "扫码进群，新品速递和会员福利第一时间知道",
}


def _qr_png(text: str) -> bytes:
    out = io.BytesIO()
    qrcode.make(text, border=2).save(out, format="PNG")
    return out.getvalue()


def _poster(**changes) -> bytes:
    return community_poster_png(**{**TEXTS, "brand_color": "#C94838", "qr_png": _qr_png(JOIN_URL), **changes})


def test_the_poster_is_a_png_wecom_accepts_and_its_qr_decodes_to_the_join_url():
    png = _poster()

    image = Image.open(io.BytesIO(png))
    assert (image.format, image.size, image.mode) == ("PNG", POSTER_SIZE, "RGB")
    assert 5 <= len(png) <= C.MEDIA_IMAGE_MAX_BYTES
    found = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    assert [f.text for f in found] == [JOIN_URL]
    # The brand colour fills the top band.
    assert image.getpixel((10, 10)) == brand_rgb("#C94838")


def test_the_chinese_text_is_drawn_with_real_glyphs_and_changes_the_picture():
    for text in TEXTS.values():
        for char in text.replace("，", ""):
            assert draws_glyph(_font(28), char), char
    base = Image.open(io.BytesIO(_poster()))
    renamed = Image.open(io.BytesIO(_poster(community_name="徐汇会员俱乐部")))
    other_associate = Image.open(io.BytesIO(_poster(associate_name="赵敏")))

    # Each text lands in its own band: changing one changes that band and nothing else.
    name_box = ImageChops.difference(base, renamed).getbbox()
    associate_box = ImageChops.difference(base, other_associate).getbbox()
    assert name_box is not None and associate_box is not None
    assert 250 < name_box[1] < name_box[3] < associate_box[1]
    # And a band with text has ink in it: dark pixels on the white card.
    card_text = base.crop((60, name_box[1], POSTER_SIZE[0] - 60, name_box[3])).convert("L")
    assert card_text.getextrema()[0] < 80


def test_a_bad_brand_colour_falls_back_to_wecom_green():
    assert brand_rgb("red") == (7, 193, 96)
    assert brand_rgb("#0a0B0c") == (10, 11, 12)


@pytest.mark.django_db
def test_the_emulator_takes_the_poster_as_image_media(emulator):
    result = wecom_client().media_upload_image(content=_poster(), filename="poster.png")

    assert result["type"] == "image"
    assert len(result["media_id"]) > 10
