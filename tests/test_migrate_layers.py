"""A database made before the apps took their floors (issue 20) migrates forward with its rows, ids and permissions
intact: ContactWay, FollowRelation, FollowUpTask (from `associates`) and Handover, HandoverItem (from `insights`) now
belong to `clientbook`, GroupChat to `communities`, on the same tables."""

import datetime as dt

import pytest
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from clientbook.models import ContactWay, FollowRelation, FollowUpTask, Handover, HandoverItem
from communities.models import Community, GroupChat, GroupMember

# The leaves of the moved apps' migrations on main before the move; clientbook did not exist.
BEFORE = [
    ("associates", "0005_groupchat_dismissed_at_groupchat_member_version_and_more"),
    ("insights", "0001_initial"),
    ("communities", "0002_member_wecom_join_time"),
    ("clientbook", None),
]
MOVED = {
    "contactway": ("associates", "clientbook"),
    "followrelation": ("associates", "clientbook"),
    "followuptask": ("associates", "clientbook"),
    "groupchat": ("associates", "communities"),
    "handover": ("insights", "clientbook"),
    "handoveritem": ("insights", "clientbook"),
}


def migrate(targets) -> "MigrationExecutor":
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return MigrationExecutor(connection)


def latest() -> list[tuple[str, str]]:
    executor = MigrationExecutor(connection)
    return executor.loader.graph.leaf_nodes()


@pytest.mark.django_db(transaction=True)
def test_rows_written_before_the_move_are_read_by_the_moved_models():
    permissions_before = {
        model: Permission.objects.get(content_type__model=model, codename=f"view_{model}").pk for model in MOVED
    }
    try:
        old = migrate(BEFORE).loader.project_state(BEFORE[:3]).apps
        for model, (old_app, _) in MOVED.items():
            assert ContentType.objects.get(model=model).app_label == old_app

        Store, Associate = old.get_model("associates", "Store"), old.get_model("associates", "Associate")
        Customer = old.get_model("customers", "Customer")
        store = Store.objects.create(code="S1", name="一店")
        anna = Associate.objects.create(store=store, name="Anna", wecom_userid="anna")
        ben = Associate.objects.create(store=store, name="Ben", wecom_userid="ben")
        customer = Customer.objects.create(name="Lin", primary_store=store, primary_associate=anna)
        way = old.get_model("associates", "ContactWay").objects.create(store=store, associate=anna, state="s-1")
        follow = old.get_model("associates", "FollowRelation").objects.create(
            associate=anna, customer=customer, external_userid="wm-1", contact_way=way, followed_at=timezone.now()
        )
        task = old.get_model("associates", "FollowUpTask").objects.create(
            associate=anna, customer=customer, title="回访", due_on=dt.date(2026, 12, 8)
        )
        chat = old.get_model("associates", "GroupChat").objects.create(chat_id="wr-1", name="一店福利群", owner=anna)
        community = old.get_model("communities", "Community").objects.create(store=store, name="一店社群")
        community.chats.add(chat)
        member = old.get_model("communities", "GroupMember").objects.create(
            chat=chat, userid="wm-1", member_type=2, customer=customer
        )
        handover = old.get_model("insights", "Handover").objects.create(
            from_associate=anna, to_associate=ben, kind="onjob"
        )
        item = old.get_model("insights", "HandoverItem").objects.create(
            handover=handover, customer=customer, external_userid="wm-1"
        )
    finally:
        migrate(latest())

    assert FollowRelation.objects.get(pk=follow.pk).contact_way == ContactWay.objects.get(pk=way.pk)
    assert FollowRelation.objects.get(pk=follow.pk).customer_id == customer.pk
    assert FollowUpTask.objects.get(pk=task.pk).title == "回访"
    assert GroupChat.objects.get(pk=chat.pk).owner_id == anna.pk
    assert list(Community.objects.get(pk=community.pk).chats.all()) == [GroupChat.objects.get(pk=chat.pk)]
    assert GroupMember.objects.get(pk=member.pk).chat_id == chat.pk
    assert HandoverItem.objects.get(pk=item.pk).handover == Handover.objects.get(pk=handover.pk)
    for model, (_, new_app) in MOVED.items():
        permission = Permission.objects.get(pk=permissions_before[model])
        assert (permission.content_type.app_label, permission.codename) == (new_app, f"view_{model}")
        assert ContentType.objects.filter(model=model).count() == 1
