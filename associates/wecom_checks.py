"""The WeCom checks that need Omni's stores and associates (see wecom.checks): the app's visible range covers every
store's department, and every associate has the customer-contact permission. Registered from AssociatesConfig.ready().
"""

from associates.models import Associate, Store
from wecom import constants as C
from wecom.checks import (
    CONSOLE_APP,
    CONSOLE_CONTACT,
    FAIL,
    OK,
    WARN,
    CheckContext,
    Verdict,
    names_listed,
    wecom_check,
)
from wecom.client import WeComError


@wecom_check("visible_range", title="应用可见范围", order=60)
def visible_range_check(context: CheckContext) -> Verdict:
    where = f"{CONSOLE_APP} → 可见范围 → 编辑"
    stores = list(Store.objects.filter(is_active=True).order_by("code"))
    if not stores:
        return Verdict(WARN, "还没有营业中的门店，无从核对")
    try:
        # The departments the app can see: those in its visible range, with their sub-departments.
        visible = {d["id"] for d in context.client.get("department/simplelist")["department_id"]}
    except WeComError as error:
        return Verdict(FAIL, f"读不到可见范围内的部门（{error.errcode}）：{error.errmsg}")
    unmapped = [store for store in stores if store.wecom_department_id is None]
    outside = [
        store for store in stores if store.wecom_department_id is not None and store.wecom_department_id not in visible
    ]
    tags = ((context.agent or {}).get("allow_tags") or {}).get("tagid") or []
    tag_note = f"；可见范围还含标签 {', '.join(map(str, tags))}，按标签可见的成员未计入" if tags else ""
    if outside:
        listed = names_listed([f"{s.name}（部门 {s.wecom_department_id}）" for s in outside])
        departments = ", ".join(str(s.wecom_department_id) for s in outside[:20])
        return Verdict(
            FAIL,
            f"{listed} 不在应用的可见范围内：这些门店的导购打不开侧边栏、登录不了 Omni；到 {where}，"
            f"加入部门 {departments}（或它们的上级部门）{tag_note}",
        )
    if unmapped:
        listed = names_listed([f"{s.name}（{s.code}）" for s in unmapped])
        return Verdict(
            WARN,
            f"{listed} 没有填企业微信部门 ID，无从核对："
            "在 Omni 后台 → 门店 中填写（部门ID 见 管理后台 → 通讯录 → 部门）"
            f"{tag_note}",
        )
    return Verdict(OK, f"全部 {len(stores)} 家营业门店的部门都在应用的可见范围内{tag_note}")


@wecom_check("customer_contact", title="客户联系权限", order=70)
def customer_contact_check(context: CheckContext) -> Verdict:
    try:
        allowed = set(context.client.external_contact.get_follow_user_list().get("follow_user") or [])
    except WeComError as error:
        if error.errcode == C.ERR_API_FORBIDDEN:
            return Verdict(
                FAIL,
                f"本应用不能调用客户联系接口（48002）："
                f"到 {CONSOLE_CONTACT} → 客户 → API → 可调用接口的应用，加入本应用",
            )
        return Verdict(
            FAIL,
            f"读不到配置了客户联系的成员（{error.errcode}）：{error.errmsg}",
        )
    associates = list(Associate.objects.filter(is_active=True).select_related("store").order_by("store__code", "name"))
    if not associates:
        return Verdict(WARN, "还没有在职导购，无从核对")
    missing = [a for a in associates if a.wecom_userid not in allowed]
    if missing:
        listed = names_listed([f"{a.name}（{a.wecom_userid}，{a.store.name}）" for a in missing])
        return Verdict(
            FAIL,
            f"{listed} 没有客户联系权限：加不了客户，读他们的客户时企业微信回 {C.ERR_NO_CONTACT_PRIVILEGE}；"
            f"到 {CONSOLE_CONTACT} → 权限配置 → 使用范围，加入这些成员（或他们门店的部门）",
        )
    return Verdict(OK, f"全部 {len(associates)} 名在职导购都有客户联系权限")
