"""Writes of the library: an associate's own quick replies, and sending a reply or a material into a chat.

Sending records a `SentMessage` (idempotent by the associate's request id) and answers the `sendChatMessage`
argument the sidebar puts in the chat: a reply's text with its variables filled for the customer, a material as
the right msgtype. Images and files go as WeCom temporary media, which WeCom keeps three days: a media_id is
uploaded again before it gets that old, and on `refresh_media` (WeCom said the media_id is invalid) at once; the
retry keeps the request id, so the record stays one."""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from associates.models import Associate
from customers.models import Customer
from library.models import Material, QuickReply, ReplyGroup, SentMessage
from library.selectors import reply_values_get
from library.variables import reply_text_fill, reply_text_variables
from omni.errors import ApplicationError
from wecom import constants as C
from wecom.client import WeComClient, WeComError, wecom_client

# Upload media again this long before WeCom forgets it, so a send never races the expiry.
MEDIA_REUSE_FOR = timedelta(seconds=C.MEDIA_TTL_SECONDS) - timedelta(hours=2)
TITLE_MAX, TEXT_MAX = 100, 1000


@dataclass(frozen=True)
class Sent:
    record: SentMessage
    created: bool


def _reply_fields_check(*, title: str, text: str) -> None:
    if not title.strip():
        raise ApplicationError("reply_title_required", "请填写话术标题。")
    if not text.strip():
        raise ApplicationError("reply_text_required", "请填写话术内容。")
    if len(title) > TITLE_MAX or len(text) > TEXT_MAX:
        raise ApplicationError("reply_too_long", f"标题最多 {TITLE_MAX} 字，内容最多 {TEXT_MAX} 字。")
    reply_text_variables(text)


def _group_visible(*, associate: Associate, group_id: int | None) -> ReplyGroup | None:
    if group_id is None:
        return None
    group = ReplyGroup.objects.visible_to(associate).filter(pk=group_id, is_active=True).first()
    if group is None:
        raise ApplicationError("group_not_found", "没有这个话术分组。", status_code=404)
    return group


def quick_reply_create(*, associate: Associate, title: str, text: str, group_id: int | None = None) -> QuickReply:
    """The associate's own reply (only they see it)."""
    _reply_fields_check(title=title, text=text)
    group = _group_visible(associate=associate, group_id=group_id)
    return QuickReply.objects.create(
        owner=associate, store_id=associate.store_id, group=group, title=title.strip(), text=text.strip()
    )


def _own_reply(*, associate: Associate, reply_id: int) -> QuickReply:
    reply = QuickReply.objects.visible_to(associate).filter(pk=reply_id).first()
    if reply is None:
        raise ApplicationError("reply_not_found", "没有这条话术。", status_code=404)
    if reply.owner_id != associate.pk:
        raise ApplicationError(
            "reply_read_only", "总部和门店的话术只能由总部或店长在后台修改，可以另存为自己的话术。", status_code=403
        )
    return reply


def quick_reply_update(
    *, associate: Associate, reply_id: int, title: str, text: str, group_id: int | None = None
) -> QuickReply:
    reply = _own_reply(associate=associate, reply_id=reply_id)
    _reply_fields_check(title=title, text=text)
    reply.group = _group_visible(associate=associate, group_id=group_id)
    reply.title, reply.text = title.strip(), text.strip()
    reply.save(update_fields=["group", "title", "text", "updated_at"])
    return reply


def quick_reply_delete(*, associate: Associate, reply_id: int) -> None:
    _own_reply(associate=associate, reply_id=reply_id).delete()


def _replayed(*, associate: Associate, request_id: str, kind: str, target_id: int) -> SentMessage | None:
    existing = SentMessage.objects.filter(associate=associate, request_id=request_id).first()
    if existing is None:
        return None
    if (
        existing.kind != kind
        or (existing.reply_id if kind == SentMessage.Kind.REPLY else existing.material_id) != target_id
    ):
        raise ApplicationError("request_id_reused", "这个请求号已用于另一条消息。", status_code=409)
    return existing


def _record(*, associate: Associate, customer: Customer, request_id: str, **fields) -> Sent:
    try:
        with transaction.atomic():
            record = SentMessage.objects.create(
                associate=associate, store_id=associate.store_id, customer=customer, request_id=request_id, **fields
            )
    except IntegrityError:
        # The same tap arrived twice at once: the first one's record is the answer.
        return Sent(SentMessage.objects.get(associate=associate, request_id=request_id), False)
    return Sent(record, True)


def quick_reply_send(*, associate: Associate, customer: Customer, reply_id: int, request_id: str) -> Sent:
    """Record the use of a reply and answer its text filled for the customer (a retry: the recorded text)."""
    existing = _replayed(associate=associate, request_id=request_id, kind=SentMessage.Kind.REPLY, target_id=reply_id)
    if existing is not None:
        return Sent(existing, False)
    reply = QuickReply.objects.visible_to(associate).filter(pk=reply_id, is_active=True).first()
    if reply is None:
        raise ApplicationError("reply_not_found", "没有这条话术。", status_code=404)
    text = reply_text_fill(reply.text, reply_values_get(associate=associate, customer=customer))
    return _record(
        associate=associate,
        customer=customer,
        request_id=request_id,
        kind=SentMessage.Kind.REPLY,
        reply=reply,
        title=reply.title,
        msgtype="text",
        message={"msgtype": "text", "enterChat": True, "text": {"content": text}},
    )


def material_media_id(*, material: Material, client: WeComClient | None = None, force: bool = False) -> str:
    """The material's WeCom media_id: the stored one while WeCom surely keeps it, else a new upload; `force`
    uploads again (WeCom said the media_id is invalid)."""
    now = timezone.now()
    fresh = material.media_uploaded_at is not None and now - material.media_uploaded_at < MEDIA_REUSE_FOR
    if material.media_id and fresh and not force:
        return material.media_id
    content = Material.objects.filter(pk=material.pk).values_list("content", flat=True).first()
    if not content:
        raise ApplicationError("material_content_missing", "素材没有上传文件，请在后台补上。", status_code=409)
    client = client or wecom_client()
    content = bytes(content)
    try:
        if material.kind == Material.Kind.IMAGE:
            uploaded = client.media_upload_image(content=content, filename=material.filename or "image.png")
        else:
            uploaded = client.media_upload_file(
                content=content,
                filename=material.filename or "file",
                content_type=material.content_type or "application/octet-stream",
            )
    except WeComError as exc:
        raise ApplicationError(
            "wecom_media_upload_failed", f"素材上传到企业微信失败（{exc.errcode}），请稍后重试。", status_code=502
        ) from exc
    material.media_id, material.media_uploaded_at = uploaded["media_id"], now
    Material.objects.filter(pk=material.pk).update(media_id=material.media_id, media_uploaded_at=now)
    return material.media_id


def _product_message(material: Material) -> dict:
    """A product goes as a mini-program card when the brand has one configured, else as a news card (as the
    sidebar's suggestions do)."""
    product = material.product
    title = material.title or product.name
    if settings.WECOM_MINIPROGRAM_APPID:
        page = settings.WECOM_MINIPROGRAM_PAGE.replace("{sku}", product.sku)
        return {
            "msgtype": "miniprogram",
            "miniprogram": {
                "appid": settings.WECOM_MINIPROGRAM_APPID,
                "title": title,
                "imgUrl": material.cover_url or product.image_url,
                "page": page,
            },
        }
    return {
        "msgtype": "news",
        "news": {
            "link": settings.OMNI_PRODUCT_URL.replace("{sku}", product.sku),
            "title": title,
            "desc": material.description or f"¥{product.price}",
            "imgUrl": material.cover_url or product.image_url,
        },
    }


def material_message(*, material: Material, media_id: str = "") -> dict:
    """The sendChatMessage argument for a material."""
    kind = material.kind
    if kind in (Material.Kind.IMAGE, Material.Kind.FILE):
        message = {"msgtype": kind, kind: {"mediaid": media_id}}
    elif kind == Material.Kind.LINK:
        message = {
            "msgtype": "news",
            "news": {
                "link": material.link_url,
                "title": material.title,
                "desc": material.description,
                "imgUrl": material.cover_url,
            },
        }
    elif kind == Material.Kind.MINIPROGRAM:
        message = {
            "msgtype": "miniprogram",
            "miniprogram": {
                "appid": material.miniprogram_appid,
                "title": material.title,
                "imgUrl": material.cover_url,
                "page": material.miniprogram_page,
            },
        }
    else:
        message = _product_message(material)
    return {**message, "enterChat": True}


def material_send(
    *,
    associate: Associate,
    customer: Customer,
    material_id: int,
    request_id: str,
    refresh_media: bool = False,
    client: WeComClient | None = None,
) -> Sent:
    """Record the send of a material and answer its message; images and files with a media_id WeCom keeps.
    A retry answers the recorded message; with `refresh_media` an image or file is uploaded again and the record
    takes the new media_id."""
    existing = _replayed(
        associate=associate, request_id=request_id, kind=SentMessage.Kind.MATERIAL, target_id=material_id
    )
    if existing is not None and not (refresh_media and existing.msgtype in ("image", "file")):
        return Sent(existing, False)
    material = (
        Material.objects.visible_to(associate)
        .filter(pk=material_id, is_active=True)
        .select_related("product")
        .defer("content")
        .first()
    )
    if material is None:
        raise ApplicationError("material_not_found", "没有这个素材。", status_code=404)
    media_id = ""
    if material.kind in (Material.Kind.IMAGE, Material.Kind.FILE):
        media_id = material_media_id(material=material, client=client, force=refresh_media)
    message = material_message(material=material, media_id=media_id)
    if existing is not None:
        existing.message = message
        existing.save(update_fields=["message"])
        return Sent(existing, False)
    return _record(
        associate=associate,
        customer=customer,
        request_id=request_id,
        kind=SentMessage.Kind.MATERIAL,
        material=material,
        title=material.title,
        msgtype=message["msgtype"],
        message=message,
    )
