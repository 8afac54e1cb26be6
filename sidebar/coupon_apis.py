"""The sidebar's coupon API (/api/v1/sidebar/…): the packs an associate may send a customer and the coupons the
customer holds, and sending a pack. Sending issues the coupons first and answers with the chat card (a news card
to the customer's coupon page); the page then sends the card with `sendChatMessage`. A retry with the same
`request_no` returns the same coupons and card, so a card that failed to go out can be sent again."""

from django.db import transaction
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from clientbook.followups import follow_up_tasks_close_by_send
from clientbook.models import FollowUpTask
from coupons.links import coupon_card_image_url, coupon_page_url
from coupons.models import Coupon, IssueRequest
from coupons.sending import coupon_pack_send
from customers.budget import marketing_contact_charge
from customers.models import ContactTouch
from omni.openapi import error_responses
from sidebar.base import SidebarApi, moment_json, money_json
from sidebar.coupon_offers import sidebar_customer_coupons, sidebar_pack_offers

_STATUS_LABELS = dict(Coupon.Status.choices)


class PackItemOut(serializers.Serializer):
    name = serializers.CharField()
    rule_text = serializers.CharField(help_text="e.g. 满300减50")
    quantity = serializers.IntegerField()


class PackOfferOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    face_value = serializers.DecimalField(max_digits=14, decimal_places=2)
    items = PackItemOut(many=True)
    sent_today = serializers.IntegerField()
    daily_quota = serializers.IntegerField()
    blocked = serializers.CharField(allow_blank=True, help_text="Empty when it can be sent now, else a stable code")
    blocked_text = serializers.CharField(allow_blank=True)


class HeldCouponOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    rule_text = serializers.CharField()
    status = serializers.ChoiceField(choices=Coupon.Status.choices)
    status_label = serializers.CharField()
    valid_until = serializers.DateTimeField()
    redeemed_at = serializers.DateTimeField(allow_null=True)
    sent_by = serializers.CharField(allow_blank=True)


class SidebarCouponsOut(serializers.Serializer):
    packs = PackOfferOut(many=True)
    coupons = HeldCouponOut(many=True)


def _coupon_json(coupon: Coupon, now) -> dict:
    state = coupon.state_at(now)
    return {
        "id": coupon.pk,
        "name": coupon.template.name,
        "rule_text": coupon.template.rule_text,
        "status": state,
        "status_label": _STATUS_LABELS[state],
        "valid_until": moment_json(coupon.valid_until),
        "redeemed_at": moment_json(coupon.redeemed_at),
        "sent_by": coupon.associate.name if coupon.associate else "",
    }


class SidebarCouponsApi(SidebarApi):
    @extend_schema(operation_id="sidebar_customer_coupons_get", responses=SidebarCouponsOut, tags=["sidebar"])
    def get(self, request, customer_id: int):
        customer = self.head(request, customer_id)
        now = timezone.now()
        offers = sidebar_pack_offers(associate=request.user, customer_id=customer.pk, now=now)
        return Response(
            {
                "packs": [
                    {
                        "id": offer.pack.pk,
                        "name": offer.pack.name,
                        "description": offer.pack.description,
                        "face_value": money_json(offer.face_value),
                        "items": [
                            {
                                "name": item.template.name,
                                "rule_text": item.template.rule_text,
                                "quantity": item.quantity,
                            }
                            for item in offer.items
                        ],
                        "sent_today": offer.sent_today,
                        "daily_quota": offer.pack.daily_quota,
                        "blocked": offer.blocked,
                        "blocked_text": offer.blocked_text,
                    }
                    for offer in offers
                ],
                "coupons": [_coupon_json(c, now) for c in sidebar_customer_coupons(customer_id=customer.pk, now=now)],
            }
        )


class PackSendIn(serializers.Serializer):
    request_no = serializers.CharField(
        max_length=64, help_text="Made by the client once per tap; a retry with it returns the same coupons"
    )


class ChatCardOut(serializers.Serializer):
    title = serializers.CharField()
    desc = serializers.CharField()
    link = serializers.URLField(help_text="The customer's coupon page (signed, expiring)")
    imgUrl = serializers.URLField()  # the name the news card of sendChatMessage uses


class PackSentOut(serializers.Serializer):
    request_no = serializers.CharField()
    coupons = HeldCouponOut(many=True)
    page_url = serializers.URLField()
    card = ChatCardOut()


class SidebarPackSendApi(SidebarApi):
    @extend_schema(
        operation_id="sidebar_customer_coupon_pack_send",
        request=PackSendIn,
        responses={201: PackSentOut, 200: PackSentOut, **error_responses(409)},
        tags=["sidebar"],
        description="Issue the pack's coupons to the customer (201; a retry with the same request_no: 200) and "
        "answer with the news card to send into the chat.",
    )
    def post(self, request, customer_id: int, pack_id: int):
        customer = self.head(request, customer_id)
        data = PackSendIn(data=request.data)
        data.is_valid(raise_exception=True)
        # A coupon pack is marketing: refused for an opted-out customer, charged to their week's contact budget
        # (once per request_no), in the send's transaction so a refused issue gives the unit back.
        with transaction.atomic():
            marketing_contact_charge(
                customer_id=customer.pk,
                associate=request.user,
                channel=ContactTouch.Channel.COUPON,
                key=f"sidebar_coupon:{request.user.pk}:{data.validated_data['request_no']}",
            )
            sent = coupon_pack_send(
                pack_id=pack_id,
                customer_id=customer.pk,
                request_no=data.validated_data["request_no"],
                associate=request.user,
                source=IssueRequest.Source.SIDEBAR,
            )
        now = timezone.now()
        page_url = coupon_page_url(customer_id=sent.request.customer_id)
        pack = sent.request.pack
        store = request.user.store.name
        names = "、".join(dict.fromkeys(coupon.template.rule_text for coupon in sent.coupons))
        # A task done by this send closes itself (a retry finds it closed already).
        follow_up_tasks_close_by_send(
            associate=request.user,
            customer_id=sent.request.customer_id,
            action=FollowUpTask.Action.SEND_COUPON,
            note=f"从侧边栏发送券包「{pack.name}」",
        )
        return Response(
            {
                "request_no": sent.request.request_no,
                "coupons": [_coupon_json(c, now) for c in sent.coupons],
                "page_url": page_url,
                "card": {
                    "title": f"{store}送您的专属券包：{pack.name}",
                    "desc": pack.description or f"{len(sent.coupons)} 张券：{names}。点开查看，到店或线上使用。",
                    "link": page_url,
                    "imgUrl": coupon_card_image_url(),
                },
            },
            status=201 if sent.created else 200,
        )
