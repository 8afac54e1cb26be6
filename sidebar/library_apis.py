"""The sidebar's quick replies (话术库) and materials (素材库), under /api/v1/sidebar/: what the associate may send
the chat's customer (HQ's, their store's, their own), searched by keyword; sending one records it and answers the
`sendChatMessage` argument (a reply's text filled for the customer; a material as its msgtype, images and files
with a media_id WeCom keeps); the associate's own replies are written here, HQ's and the store's only in admin.
A retry with the same request_id records nothing new; with `refresh_media` (sendChatMessage said the media_id is
invalid) an image or file is uploaded again."""

import functools

from django.db import transaction
from django.db.models import Count, Q
from django.http import Http404, HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from customers.budget import marketing_contact_charge
from customers.models import ContactTouch
from library.models import Material, QuickReply, SentMessage
from library.selectors import (
    SEARCH_MAX_CHARS,
    material_visible_get,
    materials_list,
    quick_replies_list,
    reply_groups_visible,
    reply_values_get,
)
from library.services import material_send, quick_reply_create, quick_reply_delete, quick_reply_send, quick_reply_update
from library.variables import VARIABLES, reply_text_fill
from omni.openapi import error_responses
from sidebar.base import SidebarApi, moment_json

SEARCH = OpenApiParameter("q", str, description=f"Keyword in title or text (≤{SEARCH_MAX_CHARS} characters)")


class ReplyOut(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    text = serializers.CharField(help_text="As written, with its {变量}")
    filled = serializers.CharField(help_text="The text filled for this customer (what a send puts in the chat)")
    group_id = serializers.IntegerField(allow_null=True)
    group = serializers.CharField(allow_blank=True)
    scope = serializers.ChoiceField(choices=["hq", "store", "personal"])
    scope_label = serializers.CharField()
    editable = serializers.BooleanField(help_text="The associate's own reply")
    my_uses = serializers.IntegerField(help_text="How often this associate sent it")


class RepliesOut(serializers.Serializer):
    groups = serializers.ListField(child=serializers.DictField(), help_text='[{"id", "name"}]')
    variables = serializers.DictField(child=serializers.CharField(), help_text="{name: what it is filled with}")
    replies = ReplyOut(many=True)


def _scope(row) -> str:
    return "personal" if row.owner_id else "store" if row.store_id else "hq"


def _reply_json(reply: QuickReply, *, associate, values: dict | None) -> dict:
    return {
        "id": reply.pk,
        "title": reply.title,
        "text": reply.text,
        "filled": reply_text_fill(reply.text, values) if values is not None else reply.text,
        "group_id": reply.group_id,
        "group": reply.group.name if reply.group_id else "",
        "scope": _scope(reply),
        "scope_label": reply.scope_label,
        "editable": reply.owner_id == associate.pk,
        "my_uses": getattr(reply, "my_uses", 0),
    }


def _keyword(request) -> str:
    """The search keyword `q`, read as every text field is: a NUL byte (PostgreSQL's text cannot hold one) is a 400."""
    return serializers.CharField(allow_blank=True, trim_whitespace=False).run_validation(
        request.query_params.get("q", "")
    )


class SidebarRepliesApi(SidebarApi):
    @extend_schema(operation_id="sidebar_customer_replies", parameters=[SEARCH], responses=RepliesOut, tags=["sidebar"])
    def get(self, request, customer_id: int):
        customer = self.customer(request, customer_id)
        associate = request.user
        values = reply_values_get(associate=associate, customer=customer)
        replies = quick_replies_list(associate=associate, keyword=_keyword(request)).annotate(
            my_uses=Count("sends", filter=Q(sends__associate=associate))
        )
        return Response(
            {
                "groups": [{"id": g.pk, "name": g.name} for g in reply_groups_visible(associate=associate)],
                "variables": VARIABLES,
                "replies": [_reply_json(r, associate=associate, values=values) for r in replies],
            }
        )


class SendIn(serializers.Serializer):
    request_id = serializers.CharField(max_length=64, help_text="Made by the client once per tap")


class SentOut(serializers.Serializer):
    id = serializers.IntegerField()
    sent_at = serializers.DateTimeField()
    message = serializers.DictField(help_text="The sendChatMessage argument: msgtype, enterChat and its content")


def _sent_json(record: SentMessage) -> dict:
    return {"id": record.pk, "sent_at": moment_json(record.sent_at), "message": record.message}


class SidebarReplySendApi(SidebarApi):
    @extend_schema(
        operation_id="sidebar_customer_reply_send",
        request=SendIn,
        responses={201: SentOut, 200: SentOut, **error_responses(404, 409)},
        tags=["sidebar"],
        description="Record the use (201; a retry with the same request_id: 200) and answer the filled text.",
    )
    def post(self, request, customer_id: int, reply_id: int):
        customer = self.customer(request, customer_id)
        data = SendIn(data=request.data)
        data.is_valid(raise_exception=True)
        sent = quick_reply_send(
            associate=request.user, customer=customer, reply_id=reply_id, request_id=data.validated_data["request_id"]
        )
        return Response(_sent_json(sent.record), status=201 if sent.created else 200)


class ReplyIn(serializers.Serializer):
    title = serializers.CharField(max_length=100, allow_blank=True, trim_whitespace=False)
    text = serializers.CharField(max_length=1000, allow_blank=True, trim_whitespace=False)
    group_id = serializers.IntegerField(required=False, allow_null=True, default=None)


class SidebarMyRepliesApi(SidebarApi):
    @extend_schema(
        operation_id="sidebar_reply_create",
        request=ReplyIn,
        responses={201: ReplyOut, **error_responses(404)},
        tags=["sidebar"],
        description="A reply of the associate's own (unknown variables: 400 reply_variable_unknown).",
    )
    def post(self, request):
        data = ReplyIn(data=request.data)
        data.is_valid(raise_exception=True)
        reply = quick_reply_create(associate=request.user, **data.validated_data)
        return Response(_reply_json(reply, associate=request.user, values=None), status=201)


class SidebarMyReplyApi(SidebarApi):
    @extend_schema(
        operation_id="sidebar_reply_update",
        request=ReplyIn,
        responses={200: ReplyOut, **error_responses(403, 404)},
        tags=["sidebar"],
        description="Only the associate's own reply: HQ's and the store's answer 403 reply_read_only.",
    )
    def put(self, request, reply_id: int):
        data = ReplyIn(data=request.data)
        data.is_valid(raise_exception=True)
        reply = quick_reply_update(associate=request.user, reply_id=reply_id, **data.validated_data)
        return Response(_reply_json(reply, associate=request.user, values=None))

    @extend_schema(
        operation_id="sidebar_reply_delete",
        request=None,
        responses={204: None, **error_responses(403, 404)},
        tags=["sidebar"],
    )
    def delete(self, request, reply_id: int):
        quick_reply_delete(associate=request.user, reply_id=reply_id)
        return Response(status=204)


class MaterialOut(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=Material.Kind.choices)
    kind_label = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    thumb_url = serializers.CharField(allow_blank=True, help_text="An image to show in the list, if any")
    scope = serializers.ChoiceField(choices=["hq", "store"])
    scope_label = serializers.CharField()


class MaterialsOut(serializers.Serializer):
    materials = MaterialOut(many=True)


def _thumb(material: Material) -> str:
    if material.kind == Material.Kind.IMAGE:
        return f"/api/v1/sidebar/materials/{material.pk}/content/"
    if material.kind == Material.Kind.PRODUCT and material.product_id:
        return material.cover_url or material.product.image_url
    return material.cover_url


class SidebarMaterialsApi(SidebarApi):
    @extend_schema(
        operation_id="sidebar_customer_materials",
        parameters=[SEARCH, OpenApiParameter("kind", str, enum=Material.Kind.values)],
        responses=MaterialsOut,
        tags=["sidebar"],
    )
    def get(self, request, customer_id: int):
        self.customer(request, customer_id)
        kind = request.query_params.get("kind", "")
        materials = materials_list(
            associate=request.user,
            keyword=_keyword(request),
            kind=kind if kind in Material.Kind.values else "",
        )
        return Response(
            {
                "materials": [
                    {
                        "id": m.pk,
                        "kind": m.kind,
                        "kind_label": m.get_kind_display(),
                        "title": m.title,
                        "description": m.description,
                        "thumb_url": _thumb(m),
                        "scope": _scope(m),
                        "scope_label": m.scope_label,
                    }
                    for m in materials
                ]
            }
        )


class MaterialSendIn(SendIn):
    refresh_media = serializers.BooleanField(default=False, help_text="Upload again (WeCom said media_id invalid)")


MARKETING_MATERIALS = (Material.Kind.PRODUCT, Material.Kind.LINK, Material.Kind.MINIPROGRAM)


class SidebarMaterialSendApi(SidebarApi):
    @extend_schema(
        operation_id="sidebar_customer_material_send",
        request=MaterialSendIn,
        responses={201: SentOut, 200: SentOut, **error_responses(404, 409, 502)},
        tags=["sidebar"],
        description="Record the send (201; a retry with the same request_id: 200) and answer the message to send.",
    )
    def post(self, request, customer_id: int, material_id: int):
        customer = self.customer(request, customer_id)
        data = MaterialSendIn(data=request.data)
        data.is_valid(raise_exception=True)
        send = functools.partial(
            material_send,
            associate=request.user,
            customer=customer,
            material_id=material_id,
            request_id=data.validated_data["request_id"],
            refresh_media=data.validated_data["refresh_media"],
        )
        kind = Material.objects.filter(pk=material_id).values_list("kind", flat=True).first()
        if kind not in MARKETING_MATERIALS:
            # Images and files (a size chart, a care guide) are service messages: neither refused nor counted.
            sent = send()
        else:
            # Product cards, links and mini-program pages are marketing: recorded first (a material she may not
            # send answers 404), then refused for an opted-out customer or charged to the week's contact budget;
            # a refusal undoes the record. Nothing here calls WeCom (only images and files are uploaded).
            with transaction.atomic():
                sent = send()
                marketing_contact_charge(
                    customer_id=customer.pk,
                    associate=request.user,
                    channel=ContactTouch.Channel.MATERIAL,
                    key=f"sidebar_material:{data.validated_data['request_id']}",
                )
        return Response(_sent_json(sent.record), status=201 if sent.created else 200)


class SidebarMaterialContentApi(SidebarApi):
    @extend_schema(
        operation_id="sidebar_material_content",
        responses={(200, "image/*"): bytes},
        tags=["sidebar"],
        description="An image material's picture (for the list's thumbnail).",
    )
    def get(self, request, material_id: int):
        material = material_visible_get(associate=request.user, material_id=material_id)
        if material is None or material.kind != Material.Kind.IMAGE or not material.content:
            raise Http404
        response = HttpResponse(bytes(material.content), content_type=material.content_type or "image/png")
        response["Cache-Control"] = "private, max-age=3600"
        return response
