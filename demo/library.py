"""Demo data for the quick replies (话术库) and materials (素材库) of the sidebar (wired in by demo/seed.py and
demo/accounts.py): HQ's groups and replies for every store, a reply of the first store's, and a few materials —
a picture (uploaded to WeCom on its first send), a link card, a mini-program page and a product card."""

import io

from PIL import Image, ImageDraw

from associates.models import Store
from customers.models import Product
from library.models import Material, QuickReply, ReplyGroup

LIBRARY_MANAGER_PERMISSIONS = (
    "library.view_replygroup",
    "library.add_replygroup",
    "library.change_replygroup",
    "library.delete_replygroup",
    "library.view_quickreply",
    "library.add_quickreply",
    "library.change_quickreply",
    "library.delete_quickreply",
    "library.view_material",
    "library.add_material",
    "library.change_material",
    "library.delete_material",
    "library.view_sentmessage",
)

HQ_REPLIES = {
    "开场问候": [
        ("初次问候", "{客户称呼}您好，我是{门店}的{导购}，以后您有任何穿搭或尺码问题都可以直接问我～"),
        ("好久不见", "{客户称呼}，好久不见！店里上了新一季的款，有空来{门店}试试，我给您留好尺码。"),
    ],
    "优惠与活动": [
        ("提醒用券", "{客户称呼}，您账户里还有 {券包金额} 元可用的优惠券，到店或小程序下单都能用，别浪费啦～"),
    ],
    "售后与尺码": [
        ("尺码建议", "{客户称呼}，这款版型偏正常，平时穿 M 的选 M 就好；拿不准可以发我身高体重，我帮您看。"),
        ("退换说明", "收到后 7 天内吊牌完好都可以退换，线上订单也可以来{门店}办理。"),
    ],
}


def picture_png(*, color: str = "#C94838", size: tuple[int, int] = (600, 400)) -> bytes:
    """A simple poster-like picture (no text, so no font is needed)."""
    image = Image.new("RGB", size, "#F6EFE6")
    draw = ImageDraw.Draw(image)
    width, height = size
    draw.rectangle([0, height * 2 // 3, width, height], fill=color)
    draw.ellipse([width // 3, height // 6, width * 2 // 3, height // 6 + width // 3], fill="#E8B04B")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def library_demo_seed(*, store: Store) -> int:
    """HQ's replies and materials and the first store's own; returns how many replies and materials were made."""
    made = 0
    for position, (group_name, replies) in enumerate(HQ_REPLIES.items()):
        group = ReplyGroup.objects.create(name=group_name, position=position * 10)
        for index, (title, text) in enumerate(replies):
            QuickReply.objects.create(group=group, title=title, text=text, position=index)
            made += 1
    first = store
    group = ReplyGroup.objects.create(name="门店活动", store=first, position=5)
    QuickReply.objects.create(
        group=group,
        store=first,
        title="周末到店礼",
        text="{客户称呼}，这周末来{门店}试穿任意新品，送您一份精华小样，我是{导购}，到店找我就好～",
    )
    made += 1
    Material.objects.create(
        kind=Material.Kind.IMAGE,
        title="新品海报 · 秋冬系列",
        description="秋冬新品上市",
        content=picture_png(),
        filename="autumn.png",
        content_type="image/png",
    )
    Material.objects.create(
        kind=Material.Kind.LINK,
        title="秋冬穿搭指南",
        description="5 套通勤搭配，从衬衫到大衣",
        link_url="https://www.example.com/qimu/lookbook",
        cover_url="https://www.example.com/qimu/lookbook.jpg",
        position=20,
    )
    Material.objects.create(
        kind=Material.Kind.MINIPROGRAM,
        title="栖木会员中心",
        description="查积分、领券、看订单",
        miniprogram_appid="wxqimu0000demo001",
        miniprogram_page="pages/member/index",
        cover_url="https://www.example.com/qimu/member.jpg",
        position=30,
    )
    product = Product.objects.filter(is_active=True).order_by("-price", "sku").first()
    made += 3
    if product is not None:
        Material.objects.create(
            kind=Material.Kind.PRODUCT, title=product.name, product=product, store=first, position=40
        )
        made += 1
    return made
