"""The sidebar's community API (/api/v1/sidebar/customers/<id>/community/…): is the customer in the store
community, and invite them. Inviting records the invite and answers the poster's media_id; the page then puts
the poster in the chat with `sendChatMessage`. A retry with the same request_id sends nothing new; with
`refresh_media` (sendChatMessage said the media_id is invalid) it answers a freshly uploaded poster."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from communities.models import Invite
from communities.selectors import customer_community_get
from communities.services import community_invite_send
from omni.openapi import error_responses
from sidebar.base import SidebarApi, moment_json


class MembershipOut(serializers.Serializer):
    chat = serializers.CharField()
    joined_at = serializers.DateTimeField(allow_null=True)
    invited_by = serializers.CharField(allow_blank=True)


class InviteOut(serializers.Serializer):
    id = serializers.IntegerField()
    request_id = serializers.CharField()
    status = serializers.ChoiceField(choices=Invite.Status.choices)
    status_label = serializers.CharField()
    sent_at = serializers.DateTimeField()
    joined_at = serializers.DateTimeField(allow_null=True)
    associate = serializers.CharField()


class CommunityOut(serializers.Serializer):
    community = serializers.DictField(allow_null=True, help_text='{"id", "name", "store"} or null without one')
    in_community = serializers.BooleanField()
    memberships = MembershipOut(many=True)
    invites = InviteOut(many=True)


def _invite_json(invite: Invite) -> dict:
    return {
        "id": invite.pk,
        "request_id": invite.request_id,
        "status": invite.status,
        "status_label": invite.get_status_display(),
        "sent_at": moment_json(invite.sent_at),
        "joined_at": moment_json(invite.joined_at),
        "associate": invite.associate.name,
    }


class SidebarCommunityApi(SidebarApi):
    @extend_schema(operation_id="sidebar_customer_community_get", responses=CommunityOut, tags=["sidebar"])
    def get(self, request, customer_id: int):
        customer = self.head(request, customer_id)
        found = customer_community_get(associate=request.user, customer_id=customer.pk)
        community = found.community
        return Response(
            {
                "community": {"id": community.pk, "name": community.name, "store": community.store.name}
                if community
                else None,
                "in_community": found.in_community,
                "memberships": [
                    {
                        "chat": m.chat.name or m.chat.chat_id,
                        "joined_at": moment_json(m.joined_at),
                        "invited_by": m.invite_code.associate.name if m.invite_code else "",
                    }
                    for m in found.memberships
                ],
                "invites": [_invite_json(i) for i in found.invites],
            }
        )


class InviteIn(serializers.Serializer):
    request_id = serializers.CharField(max_length=64, help_text="Made by the client once per tap")
    refresh_media = serializers.BooleanField(default=False, help_text="Upload the poster again (media_id invalid)")


class InviteSentOut(serializers.Serializer):
    invite = InviteOut()
    image = serializers.DictField(help_text='sendChatMessage image: {"mediaid": "…"}')


class SidebarCommunityInviteApi(SidebarApi):
    @extend_schema(
        operation_id="sidebar_customer_community_invite",
        request=InviteIn,
        responses={201: InviteSentOut, 200: InviteSentOut, **error_responses(409)},
        tags=["sidebar"],
        description="Record the invite (201; a retry with the same request_id: 200) and answer the poster to send.",
    )
    def post(self, request, customer_id: int):
        customer = self.head(request, customer_id)
        data = InviteIn(data=request.data)
        data.is_valid(raise_exception=True)
        sent = community_invite_send(
            associate=request.user,
            customer_id=customer.pk,
            request_id=data.validated_data["request_id"],
            refresh_media=data.validated_data["refresh_media"],
        )
        return Response(
            {"invite": _invite_json(sent.invite), "image": {"mediaid": sent.invite.media_id}},
            status=201 if sent.created else 200,
        )
