"""The demo's admin accounts: the superuser, HQ (every store) and a manager for each store in the 店长 group, with
the permissions each works with in admin (MANAGER_PERMISSIONS for the group, HQ's on top); all but an existing
superuser share the published DEMO_PASSWORD."""

from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group, Permission

from demo.brand import (
    ADMIN_PASSWORD,
    ADMIN_USERNAME,
    DEMO_PASSWORD,
    DEMO_STORES,
    HISTORY_DAYS,
    HQ_USERNAME,
    DemoLogin,
    demo_logins,
)
from demo.communities import COMMUNITY_MANAGER_PERMISSIONS
from demo.library import LIBRARY_MANAGER_PERMISSIONS
from demo.world import DemoSummary
from omni.errors import ApplicationError

MANAGER_GROUP = "店长"

# What a store manager works with in admin. Identities and the audit log are evidence, so they are view-only.
MANAGER_PERMISSIONS = (
    "associates.view_store",
    "associates.view_associate",
    "associates.change_associate",
    "customers.view_customer",
    "customers.change_customer",
    "customers.view_identity",
    # Associates' identity claims for their stores' contacts come to the manager to review (One ID).
    "customers.view_identityconflict",
    "customers.change_identityconflict",
    "customers.view_auditlog",
    "customers.view_order",
    "customers.change_order",
    "customers.view_orderline",
    "customers.view_product",
    "customers.view_storestock",
    "customers.change_storestock",
    "customers.view_tag",
    "customers.add_tag",
    "customers.change_tag",
    "customers.view_customertag",
    "customers.add_customertag",
    "customers.delete_customertag",
    "customers.view_customernote",
    "customers.add_customernote",
    "customers.change_customernote",
    "suggestions.view_complementrule",
    "suggestions.view_suggestionmodel",
    "suggestions.view_outreach",
    # Coupons: managers send and run packs for their own stores; what a coupon is worth is HQ's (templates).
    "coupons.view_coupontemplate",
    "coupons.view_couponpack",
    "coupons.add_couponpack",
    "coupons.change_couponpack",
    "coupons.view_couponpackitem",
    "coupons.add_couponpackitem",
    "coupons.change_couponpackitem",
    "coupons.delete_couponpackitem",
    "coupons.view_coupon",
    "coupons.change_coupon",
    "coupons.view_issuerequest",
    "coupons.view_redemption",
    *COMMUNITY_MANAGER_PERMISSIONS,
    # Quick replies and materials of their stores; HQ's are read-only to them (library.admin).
    *LIBRARY_MANAGER_PERMISSIONS,
    # Campaigns: a manager drafts, submits and approves (never their own) campaigns for their stores.
    "campaigns.view_campaign",
    "campaigns.add_campaign",
    "campaigns.change_campaign",
    "campaigns.view_campaignrecipient",
    "campaigns.view_journeyconfig",
    "campaigns.change_journeyconfig",
    # Results and handovers of their stores; the attribution rule is HQ's.
    "insights.view_dailystats",
    "insights.view_attribution",
    "insights.view_attributionconfig",
    # Their stores' monthly targets (月度目标), typed or imported as CSV.
    "insights.view_salestarget",
    "insights.add_salestarget",
    "insights.change_salestarget",
    "insights.delete_salestarget",
    "clientbook.view_handover",
    "clientbook.add_handover",
    "clientbook.view_handoveritem",
    # Their stores' channel and store codes (渠道活码) with their schedules, posters and figures.
    "clientbook.view_contactway",
    "clientbook.add_contactway",
    "clientbook.change_contactway",
    "clientbook.view_contactwayslot",
    "clientbook.add_contactwayslot",
    "clientbook.change_contactwayslot",
    "clientbook.delete_contactwayslot",
    # Notices to their associates, and the associates' quiet hours and daily cap.
    "notices.view_notice",
    "notices.view_noticepreference",
    "notices.change_noticepreference",
    # Churn and consent: their stores' lost and lapsed customers, the consent ledger, the contact budget's store
    # override and the 1:1 contacts charged to it.
    "clientbook.view_lostcustomer",
    "campaigns.view_lapsedcustomer",
    "customers.view_consentchange",
    "customers.view_contacttouch",
    "customers.view_contactbudget",
    "customers.add_contactbudget",
    "customers.change_contactbudget",
    # Appointments: the store's slot templates and closed dates are the manager's to keep; appointments are read.
    "appointments.view_slottemplate",
    "appointments.add_slottemplate",
    "appointments.change_slottemplate",
    "appointments.view_closeddate",
    "appointments.add_closeddate",
    "appointments.change_closeddate",
    "appointments.delete_closeddate",
    "appointments.view_appointment",
)
HQ_PERMISSION = "associates.view_all_stores"
# Complement rules are brand-wide: HQ writes them (and may rebuild the model), store managers only read them.
HQ_EXTRA_PERMISSIONS = (
    "suggestions.add_complementrule",
    "suggestions.change_complementrule",
    "suggestions.delete_complementrule",
    "suggestions.rebuild_suggestionmodel",
    "coupons.add_coupontemplate",
    "coupons.change_coupontemplate",
    "insights.change_attributionconfig",
    # Claims and conflicts that name two stores' customers are HQ's to settle, and merges HQ's to undo.
    "customers.view_customermerge",
    "customers.change_customermerge",
    # The drafts the model wrote and the checker refused: HQ judges whether the configured model can be trusted.
    "drafts.view_draft",
)


def logins_create(*, summary: DemoSummary, reference: datetime) -> dict[str, AbstractBaseUser]:
    """The admin, HQ and per-store manager accounts; returns the manager's user per store code."""
    User = get_user_model()
    joined = reference - timedelta(days=HISTORY_DAYS + 30)
    logins = {login.username: login for login in demo_logins()}
    if User.objects.filter(username=ADMIN_USERNAME).exists():
        summary.logins.append(DemoLogin(ADMIN_USERNAME, "（已存在，密码未改动）", logins[ADMIN_USERNAME].role))
    else:
        User.objects.create_superuser(ADMIN_USERNAME, "admin@qimu.example", ADMIN_PASSWORD, date_joined=joined)
        summary.logins.append(logins[ADMIN_USERNAME])
        summary.add("后台账号", 1)

    group, _ = Group.objects.get_or_create(name=MANAGER_GROUP)
    group.permissions.add(*_permissions(MANAGER_PERMISSIONS))
    # The demo accounts share one published password: hashing it once saves seconds of PBKDF2 per seed.
    demo_hash = make_password(DEMO_PASSWORD)

    def staff_user(username: str, name: str, email: str) -> AbstractBaseUser:
        user = User.objects.create(
            username=username,
            password=demo_hash,
            first_name=name[1:],
            last_name=name[0],
            email=email,
            is_staff=True,
            date_joined=joined,
        )
        user.groups.add(group)
        summary.add("后台账号", 1)
        return user

    hq = staff_user(HQ_USERNAME, "总部运营", "hq@qimu.example")
    hq.user_permissions.add(*_permissions((HQ_PERMISSION, *HQ_EXTRA_PERMISSIONS)))
    summary.logins.append(logins[HQ_USERNAME])
    managers = {}
    for store in DEMO_STORES:
        name, userid = store.staff[0]
        managers[store.code] = staff_user(store.manager_username, name, f"{userid}@qimu.example")
        summary.logins.append(logins[store.manager_username])
    return managers


def _permissions(names: tuple[str, ...]) -> list[Permission]:
    """Permissions by "app_label.codename", in the order given."""
    found = {
        f"{p.content_type.app_label}.{p.codename}": p
        for p in Permission.objects.filter(codename__in=[n.split(".")[1] for n in names]).select_related("content_type")
    }
    missing = [name for name in names if name not in found]
    if missing:
        raise ApplicationError("demo_permissions_missing", f"缺少权限 {', '.join(missing)}：请先运行 migrate。")
    return [found[name] for name in names]
