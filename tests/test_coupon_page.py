"""The customer's coupon page and coupon image: reached only by a valid signed link, showing only that person's
coupons (usable first), with a QR code and a Code128 barcode that decode to the exact code, and a PNG card that
draws Chinese with a real CJK font.

Symbols are decoded with zxing-cpp from pictures: the page's inline SVGs rasterised here, the PNG card, and (in a
real Chromium) screenshots of the page as a phone shows it; screenshots go to artifacts/.
"""

import datetime as dt
import io
import re
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
import zxingcpp
from django.conf import settings as django_settings
from django.core import signing
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from PIL import Image, ImageDraw, ImageFont

from coupons import images
from coupons.expiry import coupons_expire
from coupons.links import PAGE_MAX_AGE, coupon_page_token, coupon_page_url
from coupons.models import Coupon, code_display
from coupons.redemption import OrderIn, coupon_revoke
from coupons.sending import coupon_pack_send
from coupons.till import coupon_redeem
from customers.services import customer_merge
from tests.factories import (
    AssociateFactory,
    CouponPackItemFactory,
    CouponTemplateFactory,
    CustomerFactory,
    ProductFactory,
    StoreFactory,
)

ARTIFACTS = Path(django_settings.BASE_DIR) / "artifacts"
DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")  # Latin only
GONE = "链接已失效，请联系您的导购重新发送"


def _send(customer, associate, *, request_no, now=None, **template_fields):
    """Send a one-template pack through the real service; returns the coupon issued."""
    item = CouponPackItemFactory(template=CouponTemplateFactory(**template_fields), quantity=1)
    sent = coupon_pack_send(
        pack_id=item.pack_id, customer_id=customer.pk, request_no=request_no, associate=associate, now=now
    )
    return sent.coupons[0]


def _path(customer) -> str:
    return "/c/" + coupon_page_token(customer_id=customer.pk) + "/"


def _svgs(page: str, css_class: str) -> list[str]:
    return re.findall(rf'<svg class="{css_class}".*?</svg>', page, flags=re.S)


def _rasterise(svg: str, scale: int) -> Image.Image:
    """Draw one of the page's symbol SVGs (a viewBox and rectangles of a single path) as a PNG would show it."""
    width, height = (int(n) for n in re.search(r'viewBox="0 0 (\d+) (\d+)"', svg).groups())
    picture = Image.new("L", (width * scale, height * scale), 255)
    draw = ImageDraw.Draw(picture)
    for x, y, w, h in re.findall(r"M(\d+),(\d+)h(\d+)v(\d+)h-\d+z", svg):
        x, y, w, h = int(x), int(y), int(w), int(h)
        draw.rectangle((x * scale, y * scale, (x + w) * scale - 1, (y + h) * scale - 1), fill=0)
    return picture


def _decoded(picture: Image.Image, kind) -> list[str]:
    return [found.text for found in zxingcpp.read_barcodes(picture, formats=kind)]


# ---------------------------------------------------------------------------------------------------------------
# Who can see what


@pytest.mark.django_db
def test_the_page_shows_the_customers_coupons_with_value_rules_validity_and_code(client):
    store = StoreFactory(name="栖木 上海静安店")
    associate = AssociateFactory(store=store, name="林雨")
    customer = CustomerFactory()
    issued_at = dt.datetime(2026, 11, 20, 7, 0, tzinfo=dt.UTC)  # 15:00 in Shanghai
    coupon = _send(
        customer,
        associate,
        request_no="page-1",
        now=issued_at,
        valid_days=None,
        valid_from=issued_at,
        valid_until=timezone.now() + dt.timedelta(days=400),
        weekdays=[6, 7],
        categories=["dress", "shoes"],
        scope="categories",
        channels="store",
        day_starts=dt.time(10, 0),
        day_ends=dt.time(22, 0),
    )
    coupon.template.stores.add(store)

    path = _path(customer)

    response = client.get(path)

    assert response.status_code == 200
    page = response.content.decode()
    assert '<span class="pre">¥</span><span class="num">50</span>' in page
    assert '<div class="rule">满300减50</div>' in page and '<div class="cap">满300元可用</div>' in page
    assert "指定品类：连衣裙、鞋履" in page
    assert "仅限门店使用；门店限栖木 上海静安店" in page
    assert "每周六、日 每天 10:00–22:00" in page
    assert "2026-11-20 15:00 至" in page
    assert code_display(coupon.code) in page
    assert "导购 林雨 为您准备 · 1 张可用" in page
    assert f'href="{path}{coupon.code}.png">保存图片</a>' in page
    assert response["Cache-Control"] == "private, no-store"
    assert response["Referrer-Policy"] == "no-referrer"
    assert response["X-Robots-Tag"] == "noindex, nofollow"


@pytest.mark.django_db
def test_the_page_reads_each_kind_of_coupon_and_a_midnight_end_as_24_00(client):
    customer, associate = CustomerFactory(), AssociateFactory()
    gift = ProductFactory(name="真丝发圈")
    _send(customer, associate, request_no="k-1", kind="percent_off", value=Decimal("15"), max_discount=100, threshold=0)
    _send(customer, associate, request_no="k-2", kind="gift", value=Decimal("99"), gift_product=gift, threshold=500)
    relative = _send(customer, associate, request_no="k-3", kind="amount_off", value=Decimal("20"), threshold=0)

    page = client.get(_path(customer)).content.decode()

    assert '<span class="num">8.5</span><span class="suf">折</span>' in page and "最多减100元" in page
    assert '<span class="num word">赠品</span>' in page and "满500元赠真丝发圈" in page
    assert '<span class="pre">¥</span><span class="num">20</span>' in page and "无门槛" in page
    # Relative validity ends at local midnight, which the customer reads as 24:00 of the day before.
    last_day = timezone.localtime(relative.valid_until).date() - dt.timedelta(days=1)
    assert timezone.localtime(relative.valid_until).time() == dt.time(0, 0)
    assert f"至 {last_day:%Y-%m-%d} 24:00" in page
    # The short form names the year only when it is not this one (a 30-day coupon issued in December).
    year = "" if last_day.year == timezone.localdate().year else f"{last_day.year}年"
    assert f"有效期至 {year}{last_day.month}月{last_day.day}日 24:00" in page


@pytest.mark.django_db
def test_usable_coupons_come_first_soonest_end_on_top_then_ended_ones_greyed_with_their_status(client):
    store = StoreFactory(name="杭州湖滨店")
    associate, customer = AssociateFactory(store=store), CustomerFactory()
    now = timezone.now()
    long = _send(customer, associate, request_no="o-1", valid_days=60)
    short = _send(customer, associate, request_no="o-2", valid_days=2)
    later = _send(customer, associate, request_no="o-3", valid_days=30, valid_delay_days=3)
    used = _send(customer, associate, request_no="o-4", valid_days=30)
    revoked = _send(customer, associate, request_no="o-5", valid_days=30)
    lapsed = _send(customer, associate, request_no="o-6", valid_days=3, now=now - dt.timedelta(days=10))
    unswept = _send(customer, associate, request_no="o-7", valid_days=3, now=now - dt.timedelta(days=5))
    order = OrderIn(channel="store", store=store, order_ref="POS-1", amount=Decimal("800"))
    coupon_redeem(code=used.code, order=order, request_no="redeem-1")
    coupon_revoke(coupon_id=revoked.pk)
    coupons_expire(now=now - dt.timedelta(days=6))  # the nightly job saw `lapsed`, not yet `unswept`

    response = client.get(_path(customer))

    page = response.content.decode()
    usable_part, ended_part = page.split('<h3 class="section">')
    usable_codes = re.findall(r'<article class="ticket" id="coupon-\w+" data-code="(\w+)"', usable_part)
    ended_codes = re.findall(r'<article class="ticket ended" data-code="(\w+)"', ended_part)
    assert usable_codes == [short.code, long.code, later.code]
    assert ended_codes == [used.code, revoked.code, unswept.code, lapsed.code]
    assert Coupon.objects.get(pk=lapsed.pk).status == "expired"
    assert Coupon.objects.get(pk=unswept.pk).status == "issued"
    today = f"{timezone.localtime(now):%Y-%m-%d}"
    assert f"{today} 于杭州湖滨店使用" in ended_part
    assert ended_part.count('<span class="stamp">已过期</span>') == 2
    assert ended_part.count('<span class="stamp">已作废</span>') == 1
    assert ended_part.count('<span class="stamp">已使用</span>') == 1
    assert "未生效" in usable_part and "即将过期" in usable_part
    # Only usable coupons carry symbols to scan.
    assert len(_svgs(page, "qr")) == 3 and len(_svgs(ended_part, "qr")) == 0


def _token_made(monkeypatch, *, customer_id: int, ago: dt.timedelta) -> str:
    """A real token, signed as the signer would have signed it `ago` (the signer's clock turned back)."""
    real_time = time.time
    monkeypatch.setattr(signing.time, "time", lambda: real_time() - ago.total_seconds())
    token = coupon_page_token(customer_id=customer_id)
    monkeypatch.setattr(signing.time, "time", real_time)
    return token


@pytest.mark.django_db
def test_an_altered_forged_or_expired_link_gets_the_expired_page_and_no_coupon(client, monkeypatch):
    owner, other = CustomerFactory(), CustomerFactory()
    coupon = _send(owner, AssociateFactory(), request_no="t-1")
    payload, stamp, signature = coupon_page_token(customer_id=owner.pk).split(":")
    other_payload = coupon_page_token(customer_id=other.pk).split(":")[0]
    expired = _token_made(monkeypatch, customer_id=owner.pk, ago=PAGE_MAX_AGE + dt.timedelta(minutes=1))
    almost_expired = _token_made(monkeypatch, customer_id=owner.pk, ago=PAGE_MAX_AGE - dt.timedelta(minutes=1))
    bad_tokens = [
        f"{payload}:{stamp}:{signature[:-1]}{'B' if signature.endswith('A') else 'A'}",  # signature altered
        f"{other_payload}:{stamp}:{signature}",  # another customer's id under this signature
        f"{payload}:{stamp}",  # no signature
        signing.dumps({"c": owner.pk}),  # signed with the project key, but not for this page
        expired,
        "nonsense",
    ]

    for token in bad_tokens:
        response = client.get(f"/c/{token}/")
        image = client.get(f"/c/{token}/{coupon.code}.png")

        page = response.content.decode()
        assert response.status_code == 404, token
        assert GONE in page and coupon.code not in page and code_display(coupon.code) not in page
        assert image.status_code == 404 and image["Content-Type"] == "text/html; charset=utf-8"
        assert response["Cache-Control"] == image["Cache-Control"] == "private, no-store"
        assert response["Referrer-Policy"] == "no-referrer"
    assert client.get(f"/c/{almost_expired}/").status_code == 200


@pytest.mark.django_db
def test_another_customers_coupon_is_not_reachable_from_a_token(client):
    associate = AssociateFactory()
    mine, theirs = CustomerFactory(), CustomerFactory()
    my_coupon = _send(mine, associate, request_no="x-1")
    their_coupon = _send(theirs, associate, request_no="x-2")

    page = client.get(_path(mine)).content.decode()
    their_image = client.get(f"{_path(mine)}{their_coupon.code}.png")
    my_image = client.get(f"{_path(mine)}{my_coupon.code}.png")

    assert code_display(my_coupon.code) in page
    assert their_coupon.code not in page and code_display(their_coupon.code) not in page
    assert their_image.status_code == 404 and GONE in their_image.content.decode()
    assert my_image.status_code == 200 and my_image["Content-Type"] == "image/png"
    assert my_image["Cache-Control"] == "private, no-store"


@pytest.mark.django_db
def test_a_used_coupon_has_no_image_to_show_at_the_till(client):
    store = StoreFactory()
    customer = CustomerFactory()
    coupon = _send(customer, AssociateFactory(store=store), request_no="u-1")
    coupon_redeem(
        code=coupon.code,
        order=OrderIn(channel="store", store=store, order_ref="POS-9", amount=Decimal("400")),
        request_no="u-redeem",
    )

    response = client.get(f"{_path(customer)}{coupon.code}.png")

    assert response.status_code == 404


@pytest.mark.django_db
def test_a_merged_customer_sees_the_coupons_of_every_record_of_the_person_from_either_link(client):
    associate = AssociateFactory()
    kept, retired, stranger = CustomerFactory(), CustomerFactory(), CustomerFactory()
    before = _send(retired, associate, request_no="m-1")
    kept_own = _send(kept, associate, request_no="m-2")
    _send(stranger, associate, request_no="m-3")
    customer_merge(source=retired, target=kept, reason="同一手机号")
    # Sent to the retired id after the merge: the service issues it to the kept record.
    after = _send(retired, associate, request_no="m-4")

    from_old_link = client.get(_path(retired)).content.decode()
    from_new_link = client.get(_path(kept)).content.decode()
    image_from_old_link = client.get(f"{_path(retired)}{kept_own.code}.png")

    assert after.customer_id == kept.pk
    for page in (from_old_link, from_new_link):
        codes = set(re.findall(r'data-code="(\w+)"', page))
        assert codes == {before.code, kept_own.code, after.code}
    assert image_from_old_link.status_code == 200


@pytest.mark.django_db
def test_the_pages_queries_do_not_grow_with_the_number_of_coupons(client):
    store = StoreFactory()
    associate, customer = AssociateFactory(store=store), CustomerFactory()
    for n in range(2):
        _send(customer, associate, request_no=f"q-{n}", scope="skus").template.products.add(ProductFactory())
    with CaptureQueriesContext(connection) as few:
        client.get(_path(customer))
    for n in range(2, 8):
        coupon = _send(customer, associate, request_no=f"q-{n}", scope="all" if n % 2 else "categories")
        coupon.template.stores.add(store)
        if n % 2:
            coupon_redeem(
                code=coupon.code,
                order=OrderIn(channel="store", store=store, order_ref=f"POS-q{n}", amount=Decimal("500")),
                request_no=f"q-redeem-{n}",
            )

    with CaptureQueriesContext(connection) as many:
        response = client.get(_path(customer))

    assert response.content.decode().count("<article") == 8
    # The person's records, their coupons (with templates, stores, senders), their ledgers, the member's standing.
    assert len(_page_queries(many)) == len(_page_queries(few)) == 7


def _page_queries(captured: CaptureQueriesContext) -> list[dict]:
    """The page's own queries, without the throttle's read of the cache (a table of the embedded database)."""
    return [query for query in captured.captured_queries if "omni_cache" not in query["sql"]]


# ---------------------------------------------------------------------------------------------------------------
# What a scanner reads


@pytest.mark.django_db
def test_the_pages_qr_code_and_barcode_decode_to_the_exact_code(client):
    customer = CustomerFactory()
    coupons = [_send(customer, AssociateFactory(), request_no=f"s-{n}") for n in range(2)]

    page = client.get(_path(customer)).content.decode()

    qrs, bars = _svgs(page, "qr"), _svgs(page, "bar")
    assert len(qrs) == len(bars) == 2
    shown = re.findall(r'data-code="(\w+)"', page)
    assert sorted(shown) == sorted(c.code for c in coupons)
    for code, qr, bar in zip(shown, qrs, bars, strict=True):
        assert _decoded(_rasterise(qr, 8), zxingcpp.BarcodeFormat.QRCode) == [code]
        assert _decoded(_rasterise(bar, 3), zxingcpp.BarcodeFormat.Code128) == [code]


# ---------------------------------------------------------------------------------------------------------------
# The shareable image


def _glyph(font: ImageFont.FreeTypeFont, char: str) -> bytes:
    picture = Image.new("L", (96, 96))
    ImageDraw.Draw(picture).text((24, 24), char, font=font, fill=255)
    return picture.tobytes()


def test_the_card_font_draws_chinese_glyphs_not_empty_boxes():
    path, index = images.cjk_font_file()
    font = ImageFont.truetype(path, 48, index=index)
    latin_only = ImageFont.load_default(size=48)  # Pillow's own font has no Chinese: the control
    text = "专属优惠券有效期至门店使用"

    box = _glyph(font, "\uffff")
    glyphs = {_glyph(font, char) for char in text}
    assert box not in glyphs
    assert len(glyphs) == len(set(text))  # every character its own shape; missing ones all share the same box
    assert {_glyph(latin_only, char) for char in "券码"} == {_glyph(latin_only, "\uffff")}
    assert images.draws_glyph(font, "券") is True and images.draws_glyph(latin_only, "券") is False


def test_the_card_font_is_noto_sans_cjk_sc_from_the_pinned_wheel():
    import noto_cjk_sans_otc

    path, index = images.cjk_font_file.__wrapped__()

    assert (path, index) == (str(noto_cjk_sans_otc.FONT_PATH), 2)
    assert ImageFont.truetype(path, 12, index=index).getname() == ("Noto Sans CJK SC", "Regular")


@pytest.mark.skipif(
    not (images.DEBIAN_NOTO_CJK.exists() and DEJAVU.exists()),
    reason="install Debian's fonts-noto-cjk and fonts-dejavu-core",
)
def test_without_the_wheel_the_card_font_is_debians_noto_then_a_chinese_font_from_fontconfig(monkeypatch):
    monkeypatch.setitem(sys.modules, "noto_cjk_sans_otc", None)  # as if the wheel were not installed
    from_debian = images.cjk_font_file.__wrapped__()
    monkeypatch.setattr(images, "DEBIAN_NOTO_CJK", Path("/nonexistent/NotoSansCJK-Regular.ttc"))
    from_fontconfig = images.cjk_font_file.__wrapped__()
    monkeypatch.setattr(images, "_fontconfig_zh", lambda: (str(DEJAVU), 0))  # fontconfig's best has no Chinese

    with pytest.raises(RuntimeError, match="No font with Chinese glyphs"):
        images.cjk_font_file.__wrapped__()

    assert from_debian == ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2)
    assert images.draws_glyph(ImageFont.truetype(from_fontconfig[0], 24, index=from_fontconfig[1]), "券") is True


@pytest.mark.django_db
def test_the_coupon_image_is_a_png_card_whose_qr_decodes_to_the_code(client):
    customer = CustomerFactory()
    coupon = _send(customer, AssociateFactory(store=StoreFactory(name="栖木 上海静安店")), request_no="img-1")

    response = client.get(f"{_path(customer)}{coupon.code}.png")

    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert response["Content-Disposition"] == f'inline; filename="coupon-{coupon.code}.png"'
    card = Image.open(io.BytesIO(response.content))
    assert card.format == "PNG" and card.size == images.CARD_SIZE
    assert _decoded(card, zxingcpp.BarcodeFormat.QRCode) == [coupon.code]
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "coupon_image.png").write_bytes(response.content)


# ---------------------------------------------------------------------------------------------------------------
# On a phone


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_on_a_phone_the_page_shows_the_coupons_and_its_symbols_scan(live_server, browser, settings):
    settings.OMNI_PUBLIC_URL = live_server.url
    store = StoreFactory(name="栖木 QIMU 上海静安嘉里中心店")
    associate, customer = AssociateFactory(store=store, name="林雨"), CustomerFactory(name="陈静")
    now = timezone.now()
    first = _send(customer, associate, request_no="b-1", name="秋冬新品 满300减50", valid_days=2)
    _send(
        customer,
        associate,
        request_no="b-2",
        name="会员专享 85折",
        kind="percent_off",
        value=Decimal("15"),
        max_discount=Decimal("200"),
        threshold=0,
        scope="categories",
        categories=["coat", "knitwear"],
    )
    used = _send(customer, associate, request_no="b-3", name="到店礼 立减20", kind="amount_off", value=20, threshold=0)
    _send(customer, associate, request_no="b-4", name="生日礼", valid_days=3, now=now - dt.timedelta(days=20))
    coupon_redeem(
        code=used.code,
        order=OrderIn(channel="store", store=store, order_ref="POS-77", amount=Decimal("300")),
        request_no="b-redeem",
    )
    page = browser.new_page(viewport={"width": 375, "height": 812}, device_scale_factor=2)

    page.goto(coupon_page_url(customer_id=customer.pk))

    assert page.locator("article.ticket:not(.ended)").count() == 2
    assert page.locator("article.ticket.ended").count() == 2
    assert page.locator("article.ticket").first.get_attribute("data-code") == first.code
    qr_box = page.locator("svg.qr").first.bounding_box()
    assert qr_box["width"] >= 200  # big enough to scan off a phone screen
    assert page.evaluate("document.documentElement.scrollWidth") <= 375  # nothing wider than the phone
    qr = Image.open(io.BytesIO(page.locator("svg.qr").first.screenshot()))
    bar = Image.open(io.BytesIO(page.locator("svg.bar").first.screenshot()))
    assert _decoded(qr, zxingcpp.BarcodeFormat.QRCode) == [first.code]
    assert _decoded(bar, zxingcpp.BarcodeFormat.Code128) == [first.code]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "coupon_page.png"), full_page=True)

    page.locator("a.save").first.click()

    page.wait_for_load_state()
    assert page.url.endswith(f"/{first.code}.png")
    page.screenshot(path=str(ARTIFACTS / "coupon_image_in_browser.png"))
    page.goto(coupon_page_url(customer_id=customer.pk)[:-3] + "x/")
    assert page.get_by_text(GONE).is_visible()
    page.screenshot(path=str(ARTIFACTS / "coupon_page_gone.png"))
