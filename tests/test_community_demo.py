"""The demo's communities: one per store, and with the emulator running a group behind each, so an invite works."""

import pytest
from django.utils import timezone

from clientbook.models import FollowRelation
from communities.models import Community, GroupMember
from communities.services import community_invite_send
from demo.communities import communities_demo_emulator_load, communities_demo_seed
from tests import test_community_groups as groups
from tests.test_community_groups import CHEN, WANG, people

emulator = groups.emulator  # the fixture

pytestmark = pytest.mark.django_db


def test_the_demo_gives_each_store_a_community_with_a_group_and_an_invite_goes_out(emulator):
    associate, chen, wang = people(emulator)
    for customer, external_userid in ((chen, CHEN), (wang, WANG)):
        emulator.control("POST", "contacts/add", {"external_userid": external_userid, "userid": "linyu"})
        FollowRelation.objects.create(
            associate=associate, customer=customer, external_userid=external_userid, followed_at=timezone.now()
        )

    assert communities_demo_seed() == 1
    assert communities_demo_seed() == 0
    assert communities_demo_emulator_load(control_url=emulator.url + "/control", members=1) == 1
    assert communities_demo_emulator_load(control_url=emulator.url + "/control") == 0

    community = Community.objects.get()
    assert community.name == "上海静安店会员俱乐部"
    assert community.chats.get().name == "上海静安店老友群"
    assert GroupMember.objects.filter(is_member=True, customer=chen).count() == 1
    sent = community_invite_send(associate=associate, customer_id=wang.pk, request_id="demo-1")
    assert sent.invite.status == "sent"
