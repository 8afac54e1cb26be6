"""One customer with one event of every timeline kind, made through the services where one exists (notes, tags,
tasks, product sends, coupon sends and redemptions) and as rows where the event comes from WeCom or a campaign run
(friendships, the welcome message, group joins and leaves, community invites, campaign receipts). Each event is then
set to its own day, so the timeline reads as a story."""

import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from associates.models import Associate, Store
from campaigns.models import Campaign, CampaignChunk, CampaignRecipient
from clientbook.followups import follow_up_task_done
from clientbook.models import FollowRelation, FollowUpTask
from clientbook.services import customer_tag_add, follow_up_task_create
from communities.models import Community, CommunityInviteCode, GroupChat, GroupMember, GroupMemberEvent, Invite
from coupons.models import Coupon, Redemption
from coupons.redemption import OrderIn
from coupons.sending import coupon_pack_send
from coupons.till import coupon_redeem
from customers.models import Channel, Customer, CustomerNote, CustomerTag, Order
from customers.services import customer_note_add
from library.models import SentMessage
from library.services import quick_reply_create, quick_reply_send
from suggestions.models import Outreach
from suggestions.services import outreach_record
from tests.factories import (
    CouponPackFactory,
    CouponPackItemFactory,
    CouponTemplateFactory,
    OrderFactory,
    OrderLineFactory,
    ProductFactory,
    UserFactory,
)

EXTERNAL_USERID = "wmTimelineChenJing00000000000001"


@dataclass(frozen=True)
class TimelineWorld:
    kinds: list[str]  # newest first, as the timeline shows them


def timeline_world_make(*, store: Store, associate: Associate, customer: Customer) -> TimelineWorld:
    now = timezone.now().replace(microsecond=0)

    def day(n: int, hour: int = 0):
        return now - timedelta(days=n, hours=hour)

    FollowRelation.objects.create(
        associate=associate,
        customer=customer,
        external_userid=EXTERNAL_USERID,
        add_way=1,
        contact_type=1,
        followed_at=day(30),
        welcome=FollowRelation.Welcome.SENT,
    )
    colleague = Associate.objects.create(store=store, name="王芳", wecom_userid="wangfang")
    FollowRelation.objects.create(
        associate=colleague,
        customer=customer,
        external_userid=EXTERNAL_USERID + "x",
        followed_at=day(29),
        ended_at=day(20),
        ended_reason=FollowRelation.Ended.CUSTOMER,
    )
    dress = ProductFactory(name="真丝连衣裙 黑色 M", category="dress", size="M", price=Decimal("1699.00"))
    belt = ProductFactory(name="细皮带 棕色", category="belt", price=Decimal("299.00"))
    bought = OrderFactory(
        customer=customer,
        channel=Channel.STORE_POS,
        store=store,
        associate=associate,
        placed_at=day(28),
        total_amount=Decimal("1699.00"),
    )
    OrderLineFactory(order=bought, line_no=1, product=dress, quantity=1, unit_price=Decimal("1699.00"))
    returned = OrderFactory(
        customer=customer,
        channel=Channel.ONLINE_MALL,
        store=None,
        placed_at=day(22),
        status=Order.Status.RETURNED,
        total_amount=Decimal("299.00"),
    )
    OrderLineFactory(order=returned, line_no=1, product=belt, quantity=1, unit_price=Decimal("299.00"))

    pack = CouponPackFactory(name="老客回店券包")
    CouponPackItemFactory(pack=pack, template=CouponTemplateFactory(name="满300减50"))
    sent = coupon_pack_send(pack_id=pack.pk, customer_id=customer.pk, request_no="TL-1", associate=associate)
    coupon = Coupon.objects.get(issue_request=sent.request)
    Coupon.objects.filter(pk=coupon.pk).update(issued_at=day(18), valid_from=day(18))
    coupon_redeem(
        code=coupon.code,
        order=OrderIn(channel="store", store=store, order_ref="POS-TL-2", amount=Decimal("399.00")),
        request_no="TL-R-1",
    )
    Redemption.objects.filter(coupon=coupon).update(created_at=day(15))

    community = Community.objects.create(store=store, name="静安店会员群")
    chat = GroupChat.objects.create(chat_id="wrTimelineChat01", name="静安店会员 1 群")
    community.chats.add(chat)
    code = CommunityInviteCode.objects.create(community=community, associate=associate, state="tl-invite")
    Invite.objects.create(
        request_id="TL-INV-1",
        associate=associate,
        customer=customer,
        community=community,
        store=store,
        invite_code=code,
        sent_at=day(14),
    )
    member = GroupMember.objects.create(
        chat=chat, userid=EXTERNAL_USERID, member_type=GroupMember.Type.EXTERNAL, customer=customer, joined_at=day(13)
    )
    GroupMemberEvent.objects.create(
        chat=chat, member=member, kind="join", at=day(13), key="tl-join", credited_associate=associate
    )
    GroupMemberEvent.objects.create(chat=chat, member=member, kind="leave", at=day(9), key="tl-leave")

    outreach_record(
        associate=associate,
        customer_id=customer.pk,
        sku=dress.sku,
        source=Outreach.Source.SUGGESTION,
        reason="买过同系列",
        request_id=uuid.uuid4(),
    )
    Outreach.objects.filter(customer=customer).update(sent_at=day(12))

    campaign = Campaign.objects.create(name="冬季新品上市", created_by=UserFactory())
    chunk = CampaignChunk.objects.create(campaign=campaign, associate=associate, index=0, size=1)
    CampaignRecipient.objects.create(
        campaign=campaign,
        customer=customer,
        associate=associate,
        chunk=chunk,
        external_userid=EXTERNAL_USERID,
        status=CampaignRecipient.Status.SENT,
        sent_at=day(7),
        created_at=day(7, 1),
    )

    customer_note_add(customer=customer, associate=associate, text="穿 M 码，喜欢黑色，周末到店")
    CustomerNote.objects.filter(customer=customer).update(created_at=day(5))
    customer_tag_add(customer=customer, associate=associate, name="真丝控")
    CustomerTag.objects.filter(customer=customer).update(created_at=day(4))
    task = follow_up_task_create(
        associate=associate, customer=customer, title="周六到店试穿提醒", due_on=timezone.localdate()
    )
    FollowUpTask.objects.filter(pk=task.pk).update(created_at=day(3))
    follow_up_task_done(viewer=associate, task_id=task.pk)
    FollowUpTask.objects.filter(pk=task.pk).update(done_at=day(1))
    reply = quick_reply_create(associate=associate, title="到店提醒", text="{客户称呼}，周六见")
    quick_reply_send(associate=associate, customer=customer, reply_id=reply.pk, request_id="TL-REPLY-1")
    SentMessage.objects.filter(customer=customer).update(sent_at=day(2))
    return TimelineWorld(
        kinds=[
            "task_done",
            "library_sent",
            "task_created",
            "tag_added",
            "note",
            "campaign",
            "community_leave",
            "product_sent",
            "community_join",
            "community_invite",
            "coupon_redeemed",
            "coupon_sent",
            "friend_deleted",
            "return",
            "purchase",
            "friend_added",  # the colleague's
            "message",  # the welcome message and the friendship share a moment: kind breaks the tie
            "friend_added",
        ]
    )
