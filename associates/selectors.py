"""Reads about stores and who may see them."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection

from associates.models import Store


def user_store_ids(*, user: AbstractBaseUser) -> frozenset[int] | None:
    """The stores a staff user may see and manage; None means every store (superusers and HQ, who hold the
    `associates.view_all_stores` permission directly or through a group, as Django's ModelBackend reads it).

    A store manager's every sidebar request asks this, so it is one statement instead of the four that
    `user.has_perm` and the managers relation would take; admin, which asks from many places while rendering one
    page, reads it once per request through `associates.scoping.request_store_ids`."""
    return user_id_store_ids(user_id=user.pk)


def user_id_store_ids(*, user_id: int) -> frozenset[int] | None:
    """`user_store_ids` by the user's id, without loading the user."""
    user_model = get_user_model()
    holds = f"""
        SELECT 1 FROM {Permission._meta.db_table} p
        JOIN {ContentType._meta.db_table} ct ON ct.id = p.content_type_id
        WHERE ct.app_label = 'associates' AND p.codename = 'view_all_stores' AND p.id IN (
            SELECT permission_id FROM {user_model.user_permissions.through._meta.db_table} WHERE user_id = %s
            UNION ALL
            SELECT gp.permission_id FROM {Group.permissions.through._meta.db_table} gp
            JOIN {user_model.groups.through._meta.db_table} ug ON ug.group_id = gp.group_id
            WHERE ug.user_id = %s
        )
    """
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT NULL FROM {user_model._meta.db_table} u
            WHERE u.id = %s AND u.is_active AND (u.is_superuser OR EXISTS ({holds}))
            UNION ALL
            SELECT store_id FROM {Store.managers.through._meta.db_table} WHERE user_id = %s
            """,
            [user_id] * 4,
        )
        rows = [store_id for (store_id,) in cursor.fetchall()]
    return None if None in rows else frozenset(rows)
