"""Coupon admin: store scoping, money edits through the services (compare-and-set), actions, ledgers and exports."""

import csv
import io
import re
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from coupons.managing import coupon_pack_budget_set
from coupons.models import Coupon, CouponPack, CouponTemplate, IssueRequest, Redemption, code_display
from coupons.redemption import OrderIn, coupon_return
from coupons.sending import coupon_pack_send
from coupons.till import coupon_redeem
from tests.factories import (
    AssociateFactory,
    CouponPackFactory,
    CouponPackItemFactory,
    CouponTemplateFactory,
    CustomerFactory,
    ProductFactory,
    StoreFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

MANAGER_PERMISSIONS = [
    "view_coupontemplate",
    "view_couponpack",
    "add_couponpack",
    "change_couponpack",
    "view_coupon",
    "change_coupon",
    "view_issuerequest",
    "view_redemption",
]


class _Form(HTMLParser):
    """The fields of the page's main form as a browser would post them (empty inline templates left out)."""

    def __init__(self):
        super().__init__()
        self.data: dict[str, list[str]] = {}
        self._select: str | None = None
        self._textarea: str | None = None

    def _add(self, name: str, value: str) -> None:
        if "__prefix__" not in name:
            self.data.setdefault(name, []).append(value)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        name = attrs.get("name")
        if tag == "input" and name and name != "csrfmiddlewaretoken":
            if attrs.get("type") in ("checkbox", "radio"):
                if "checked" in attrs:
                    self._add(name, attrs.get("value", "on"))
            elif attrs.get("type") not in ("submit", "button"):
                self._add(name, attrs.get("value") or "")
        elif tag == "select" and name:
            self._select = name
            self.data.setdefault(name, [])
        elif tag == "option" and self._select and "selected" in attrs:
            self._add(self._select, attrs.get("value", ""))
        elif tag == "textarea" and name:
            self._textarea = name
            self._add(name, "")

    def handle_data(self, data):
        if self._textarea:
            self.data[self._textarea][-1] += data.strip("\n")

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def _submit(client, url: str, **changes):
    """Load the form at url, change some fields, post it back (as the browser would)."""
    page = client.get(url)
    assert page.status_code == 200
    form = _Form()
    form.feed(page.content.decode())
    data = {name: values for name, values in form.data.items() if values or name in changes}
    for name, value in changes.items():
        data[name] = value if isinstance(value, list) else [str(value)]
    return client.post(url, data, follow=True)


def _errors(response) -> list[str]:
    """Every error the form shows, field and non-field, in page order."""
    lists = re.findall(r'<ul class="errorlist[^"]*"[^>]*>(.*?)</ul>', response.content.decode(), re.S)
    return [re.sub(r"<[^>]+>", "", item) for errors in lists for item in re.findall(r"<li>(.*?)</li>", errors, re.S)]


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


@pytest.fixture
def shop():
    """Two stores; a manager of the first; a pack for each store and one for every store; a send and a redemption
    in each store."""
    store_a, store_b = StoreFactory(code="SH01", name="上海静安店"), StoreFactory(code="BJ01", name="北京三里屯店")
    manager = UserFactory(username="manager_a")
    manager.user_permissions.set(Permission.objects.filter(codename__in=MANAGER_PERMISSIONS))
    store_a.managers.add(manager)
    template = CouponTemplateFactory(name="满300减50", per_customer_limit=5)
    pack_a, pack_b, pack_all = (
        CouponPackFactory(name="静安店券包", budget=Decimal("1000.00")),
        CouponPackFactory(name="三里屯券包"),
        CouponPackFactory(name="全国券包"),
    )
    pack_a.stores.add(store_a)
    pack_b.stores.add(store_b)
    for pack in (pack_a, pack_b, pack_all):
        CouponPackItemFactory(pack=pack, template=template)
    associate_a = AssociateFactory(store=store_a, name="王丽", wecom_userid="wangli")
    associate_b = AssociateFactory(store=store_b, name="李娜", wecom_userid="lina")
    customer_a, customer_b = CustomerFactory(name="张三"), CustomerFactory(name="李四")
    sent_a = coupon_pack_send(pack_id=pack_a.pk, customer_id=customer_a.pk, request_no="send-a", associate=associate_a)
    spare_a = coupon_pack_send(
        pack_id=pack_a.pk, customer_id=customer_a.pk, request_no="send-a2", associate=associate_a
    )
    sent_b = coupon_pack_send(pack_id=pack_b.pk, customer_id=customer_b.pk, request_no="send-b", associate=associate_b)
    redeemed_a = coupon_redeem(
        code=sent_a.coupons[0].code,
        order=OrderIn(channel="store", store=store_a, order_ref="POS-A-1", amount=Decimal("320.00")),
        request_no="redeem-a",
    )
    coupon_redeem(
        code=sent_b.coupons[0].code,
        order=OrderIn(channel="store", store=store_b, order_ref="POS-B-1", amount=Decimal("300.00")),
        request_no="redeem-b",
    )
    return {
        "a": store_a,
        "b": store_b,
        "manager": manager,
        "root": UserFactory(username="root", is_superuser=True),
        "template": template,
        "pack_a": pack_a,
        "pack_b": pack_b,
        "pack_all": pack_all,
        "associate_a": associate_a,
        "coupon_a": sent_a.coupons[0],
        "spare_a": spare_a.coupons[0],
        "coupon_b": sent_b.coupons[0],
        "request_a": sent_a.request,
        "redemption_a": redeemed_a.redemption,
    }


# ---------------------------------------------------------------------------------------------------------------
# Pages and scoping


@pytest.mark.parametrize("who", ["root", "manager"])
@pytest.mark.parametrize(
    "url",
    [
        "/admin/coupons/coupontemplate/",
        "/admin/coupons/couponpack/",
        "/admin/coupons/issuerequest/",
        "/admin/coupons/coupon/",
        "/admin/coupons/redemption/",
        "/admin/coupons/couponpack/add/",
        "/admin/coupons/coupontemplate/{template.pk}/change/",
        "/admin/coupons/couponpack/{pack_a.pk}/change/",
        "/admin/coupons/couponpack/{pack_all.pk}/change/",
        "/admin/coupons/issuerequest/{request_a.pk}/change/",
        "/admin/coupons/coupon/{coupon_a.pk}/change/",
        "/admin/coupons/redemption/{redemption_a.pk}/change/",
    ],
)
def test_every_coupon_admin_page_loads(client, shop, who, url):
    client.force_login(shop[who])

    response = client.get(url.format(**shop))

    assert response.status_code == 200


def test_the_counter_tables_have_no_admin(client, shop):
    client.force_login(shop["root"])

    html = client.get("/admin/coupons/").content.decode()

    for name in ("templateday", "customerholding", "associatepackday", "couponorder"):
        assert f"/admin/coupons/{name}/" not in html
    assert client.get("/admin/coupons/customerholding/").status_code == 404


def test_a_manager_sees_only_their_stores_coupons_sends_and_redemptions(client, shop):
    CouponTemplateFactory(name="三里屯专享券").stores.add(shop["b"])
    CouponTemplateFactory(name="静安专享券").stores.add(shop["a"])
    client.force_login(shop["manager"])

    coupons = client.get("/admin/coupons/coupon/").content.decode()
    sends = client.get("/admin/coupons/issuerequest/").content.decode()
    redemptions = client.get("/admin/coupons/redemption/").content.decode()
    packs = client.get("/admin/coupons/couponpack/").content.decode()
    templates = client.get("/admin/coupons/coupontemplate/").content.decode()

    assert code_display(shop["coupon_a"].code) in coupons
    assert code_display(shop["coupon_b"].code) not in coupons
    assert "send-a" in sends and "send-b" not in sends
    assert "POS-A-1" in redemptions and "POS-B-1" not in redemptions
    assert "北京三里屯店" not in redemptions  # not even as a filter choice
    assert "静安店券包" in packs and "全国券包" in packs
    assert "三里屯券包" not in packs
    assert "静安专享券" in templates and "满300减50" in templates  # theirs, and one for every store
    assert "三里屯专享券" not in templates


@pytest.mark.parametrize(
    "url",
    [
        "/admin/coupons/coupon/{coupon_b.pk}/change/",
        "/admin/coupons/couponpack/{pack_b.pk}/change/",
        "/admin/coupons/redemption/{redemption_b}/change/",
        "/admin/coupons/issuerequest/{request_b}/change/",
    ],
)
def test_a_manager_gets_404_on_another_stores_rows(client, shop, url):
    client.force_login(shop["manager"])
    ids = {
        "redemption_b": Redemption.objects.get(request_no="redeem-b").pk,
        "request_b": IssueRequest.objects.get(request_no="send-b").pk,
    }

    response = client.get(url.format(**shop, **ids))

    assert response.status_code == 404


def test_a_redemption_credited_to_the_managers_store_is_theirs_wherever_it_was_made(client, shop):
    (coupon,) = coupon_pack_send(
        pack_id=shop["pack_all"].pk, customer_id=CustomerFactory().pk, request_no="s-x", associate=shop["associate_a"]
    ).coupons
    coupon_redeem(
        code=coupon.code,
        order=OrderIn(channel="store", store=shop["b"], order_ref="POS-B-2", amount=Decimal("300.00")),
        request_no="redeem-x",
    )
    client.force_login(shop["manager"])

    html = client.get("/admin/coupons/redemption/").content.decode()

    assert "POS-B-2" in html
    assert "POS-B-1" not in html


def test_a_pack_for_every_store_is_read_only_for_a_manager(client, shop):
    client.force_login(shop["manager"])
    pack = shop["pack_all"]
    url = f"/admin/coupons/couponpack/{pack.pk}/change/"

    page = client.get(url)
    post = client.post(url, {"name": "改名", "budget": "1", "initial-budget": str(pack.budget)})

    assert 'name="_save"' not in page.content.decode()
    assert post.status_code == 403
    pack.refresh_from_db()
    assert (pack.name, pack.budget) == ("全国券包", Decimal("100000.00"))


def test_templates_are_read_only_for_a_manager(client, shop):
    client.force_login(shop["manager"])
    template = shop["template"]

    page = client.get(f"/admin/coupons/coupontemplate/{template.pk}/change/")
    add = client.get("/admin/coupons/coupontemplate/add/")

    assert 'name="_save"' not in page.content.decode()
    assert add.status_code == 403


# ---------------------------------------------------------------------------------------------------------------
# Pack budget: compare-and-set through coupon_pack_budget_set


def test_a_manager_raises_their_packs_budget(client, shop):
    client.force_login(shop["manager"])
    pack = shop["pack_a"]

    response = _submit(client, f"/admin/coupons/couponpack/{pack.pk}/change/", budget="1500.00")

    assert response.status_code == 200
    assert _errors(response) == []
    pack.refresh_from_db()
    assert (pack.budget, pack.spent) == (Decimal("1500.00"), Decimal("100.00"))


def test_a_budget_below_what_is_spent_is_refused_and_nothing_is_saved(client, shop):
    client.force_login(shop["manager"])
    pack = shop["pack_a"]

    response = _submit(client, f"/admin/coupons/couponpack/{pack.pk}/change/", budget="80.00", name="改名的券包")

    assert response.status_code == 200
    assert _errors(response) == ["预算不能低于已使用的 100.00 元。"]
    pack.refresh_from_db()
    assert (pack.name, pack.budget, pack.spent) == ("静安店券包", Decimal("1000.00"), Decimal("100.00"))


def test_a_budget_changed_since_the_page_was_loaded_is_refused(client, shop):
    client.force_login(shop["manager"])
    pack = shop["pack_a"]
    url = f"/admin/coupons/couponpack/{pack.pk}/change/"
    page = client.get(url).content.decode()
    loaded = re.search(r'name="initial-budget" value="([\d.]+)"', page).group(1)
    coupon_pack_budget_set(pack_id=pack.pk, expected=Decimal("1000.00"), budget=Decimal("2000.00"))  # someone else

    response = client.post(
        url,
        {
            "name": pack.name,
            "budget": "1200.00",
            "initial-budget": loaded,
            "stores": [shop["a"].pk],
            "sender_role": pack.sender_role,
            "daily_quota": pack.daily_quota,
            "items-TOTAL_FORMS": "0",
            "items-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 200
    assert _errors(response) == ["预算刚被修改为 2000.00 元，请刷新后重试。"]
    pack.refresh_from_db()
    assert pack.budget == Decimal("2000.00")
    assert pack.items.count() == 1


def test_the_budget_form_never_writes_the_spent_amount(client, shop):
    client.force_login(shop["root"])
    pack = shop["pack_a"]
    url = f"/admin/coupons/couponpack/{pack.pk}/change/"
    page = client.get(url)
    coupon_pack_send(pack_id=pack.pk, customer_id=CustomerFactory().pk, request_no="s-during", associate=None)

    form = _Form()
    form.feed(page.content.decode())
    response = client.post(url, {**form.data, "description": "改了说明"}, follow=True)

    assert _errors(response) == []
    pack.refresh_from_db()
    assert (pack.description, pack.budget, pack.spent) == ("改了说明", Decimal("1000.00"), Decimal("150.00"))


def test_a_manager_creates_a_pack_only_for_their_own_stores(client, shop):
    client.force_login(shop["manager"])
    template = shop["template"]
    base = {
        "name": "静安新券包",
        "status": "running",
        "budget": "500.00",
        "sender_role": "any",
        "daily_quota": "10",
        "items-TOTAL_FORMS": "1",
        "items-INITIAL_FORMS": "0",
        "items-0-template": str(template.pk),
        "items-0-quantity": "1",
    }

    no_store = client.post("/admin/coupons/couponpack/add/", base)
    other_store = client.post("/admin/coupons/couponpack/add/", {**base, "stores": [shop["b"].pk]})
    own_store = client.post("/admin/coupons/couponpack/add/", {**base, "stores": [shop["a"].pk]}, follow=True)

    assert _errors(no_store) == ["请选择可发送门店：店长只能为自己的门店设置券包。"]
    assert _errors(other_store) == [f"选择一个有效的选项。 {shop['b'].pk} 不在可用的选项中。"]
    assert _errors(own_store) == []
    pack = CouponPack.objects.get(name="静安新券包")
    assert list(pack.stores.all()) == [shop["a"]]
    assert (pack.budget, pack.spent, [item.template for item in pack.items.all()]) == (
        Decimal("500.00"),
        Decimal("0.00"),
        [template],
    )


# ---------------------------------------------------------------------------------------------------------------
# Pack and template status: actions through the services


def test_pack_actions_move_the_status_of_the_managers_packs_only(client, shop):
    client.force_login(shop["manager"])
    pack_a, pack_all = shop["pack_a"], shop["pack_all"]

    response = client.post(
        "/admin/coupons/couponpack/",
        {"action": "pause", "_selected_action": [pack_a.pk, pack_all.pk]},
        follow=True,
    )

    assert sorted(_messages(response)) == ["全国券包：您只能管理自己门店的券包。", "已暂停 1 个券包。"]
    assert CouponPack.objects.get(pk=pack_a.pk).status == CouponPack.Status.PAUSED
    assert CouponPack.objects.get(pk=pack_all.pk).status == CouponPack.Status.RUNNING


def test_stopping_a_pack_is_final(client, shop):
    client.force_login(shop["root"])
    pack = shop["pack_b"]
    stopped = client.post("/admin/coupons/couponpack/", {"action": "stop", "_selected_action": [pack.pk]}, follow=True)

    response = client.post(
        "/admin/coupons/couponpack/", {"action": "resume", "_selected_action": [pack.pk]}, follow=True
    )

    assert _messages(stopped) == ["已停止 1 个券包。"]
    assert _messages(response) == ["券包「三里屯券包」当前是已停止，不能改为该状态。"]
    assert CouponPack.objects.get(pk=pack.pk).status == CouponPack.Status.STOPPED


def test_template_actions_pause_resume_and_stop(client, shop):
    client.force_login(shop["root"])
    template = shop["template"]

    def act(action):
        response = client.post(
            "/admin/coupons/coupontemplate/", {"action": action, "_selected_action": [template.pk]}, follow=True
        )
        return _messages(response), CouponTemplate.objects.get(pk=template.pk).status

    assert act("pause") == (["已暂停 1 个优惠券批次。"], "paused")
    assert act("resume") == (["已恢复 1 个优惠券批次。"], "running")
    assert act("stop") == (["已停止 1 个优惠券批次。"], "stopped")
    assert act("resume") == (["满300减50：当前是已停止，无需恢复。"], "stopped")


def test_starting_an_incomplete_template_shows_its_problems(client, shop):
    client.force_login(shop["root"])
    draft = CouponTemplateFactory(name="八五折", kind="percent_off", value=Decimal("15"), threshold=0, status="draft")

    response = client.post(
        "/admin/coupons/coupontemplate/", {"action": "start", "_selected_action": [draft.pk]}, follow=True
    )

    assert _messages(response) == ["八五折：折扣券必须设置封顶金额。"]
    assert CouponTemplate.objects.get(pk=draft.pk).status == CouponTemplate.Status.DRAFT


# ---------------------------------------------------------------------------------------------------------------
# Template form: validation by coupon_template_problems, rules fixed once issued, stock by compare-and-set


def _new_template(**fields) -> dict:
    return {
        "name": "新客85折",
        "status": "running",
        "kind": "percent_off",
        "value": "15",
        "threshold": "0",
        "max_discount": "",
        "scope": "all",
        "categories": "[]",
        "stacking": "exclusive",
        "restore_on_return": "never",
        "channels": "both",
        "valid_days": "30",
        "valid_delay_days": "0",
        "weekdays": "[]",
        "total_stock": "100",
        "per_customer_limit": "1",
        **fields,
    }


def test_a_new_running_template_with_problems_is_refused_with_them(client, shop):
    client.force_login(shop["root"])

    response = client.post("/admin/coupons/coupontemplate/add/", _new_template(scope="skus"))

    assert response.status_code == 200
    assert _errors(response) == ["折扣券必须设置封顶金额。", "请选择适用商品。"]
    assert not CouponTemplate.objects.filter(name="新客85折").exists()


def test_a_complete_template_is_created_running(client, shop):
    client.force_login(shop["root"])
    product = ProductFactory()

    response = client.post(
        "/admin/coupons/coupontemplate/add/",
        _new_template(scope="skus", products=[product.pk], max_discount="100"),
        follow=True,
    )

    assert _errors(response) == []
    template = CouponTemplate.objects.get(name="新客85折")
    assert (template.status, template.rule_text, list(template.products.all())) == (
        CouponTemplate.Status.RUNNING,
        "8.5折，最多减100元",
        [product],
    )


def test_an_incomplete_template_can_be_kept_as_a_draft(client, shop):
    client.force_login(shop["root"])

    response = client.post("/admin/coupons/coupontemplate/add/", _new_template(status="draft"), follow=True)

    assert _errors(response) == []
    assert CouponTemplate.objects.get(name="新客85折").status == CouponTemplate.Status.DRAFT


def test_saving_a_running_template_into_an_incomplete_one_is_refused(client, shop):
    client.force_login(shop["root"])
    template = CouponTemplateFactory(name="未发放", kind="amount_off", value=Decimal("20"), threshold=0)

    response = _submit(client, f"/admin/coupons/coupontemplate/{template.pk}/change/", kind="threshold")

    assert _errors(response) == ["满减券的门槛必须大于减免金额。"]
    template.refresh_from_db()
    assert (template.kind, template.status) == ("amount_off", "running")


def test_rules_are_read_only_once_a_coupon_was_issued(client, shop):
    client.force_login(shop["root"])
    template = shop["template"]
    url = f"/admin/coupons/coupontemplate/{template.pk}/change/"

    page = client.get(url).content.decode()
    response = _submit(client, url, value="80.00", name="满300减50（改名）")

    assert 'name="value"' not in page
    assert 'name="threshold"' not in page
    assert _errors(response) == ["已发出 3 张券，优惠规则不能再修改。"]
    template.refresh_from_db()
    assert (template.name, template.value, template.threshold) == ("满300减50", Decimal("50.00"), Decimal("300.00"))


def test_rules_posted_from_a_page_loaded_before_the_first_issue_are_refused(client, shop):
    client.force_login(shop["root"])
    template = CouponTemplateFactory(name="立减20", kind="amount_off", value=Decimal("20"), threshold=0)
    url = f"/admin/coupons/coupontemplate/{template.pk}/change/"
    form = _Form()
    form.feed(client.get(url).content.decode())
    item = CouponPackItemFactory(template=template)
    coupon_pack_send(pack_id=item.pack_id, customer_id=CustomerFactory().pk, request_no="s-1", associate=None)

    changed = client.post(url, {**form.data, "value": "80.00", "name": "立减80"}, follow=True)
    renamed = client.post(url, {**form.data, "name": "立减20元"}, follow=True)

    assert _errors(changed) == ["已发出 1 张券，优惠规则不能再修改。"]
    assert _errors(renamed) == []
    template.refresh_from_db()
    assert (template.name, template.value) == ("立减20元", Decimal("20.00"))


def test_stock_below_what_is_issued_is_refused(client, shop):
    client.force_login(shop["root"])
    template = shop["template"]

    response = _submit(client, f"/admin/coupons/coupontemplate/{template.pk}/change/", total_stock="2")

    assert _errors(response) == ["库存不能低于已发放的 3 张。"]
    assert CouponTemplate.objects.get(pk=template.pk).total_stock == 1000


def test_stock_is_set_against_what_the_page_showed(client, shop):
    client.force_login(shop["root"])
    template = shop["template"]
    url = f"/admin/coupons/coupontemplate/{template.pk}/change/"

    raised = _submit(client, url, total_stock="1200")
    CouponTemplate.objects.filter(pk=template.pk).update(total_stock=1500)  # another manager, meanwhile
    stale = _submit(client, url, total_stock="1300", **{"initial-total_stock": "1200"})

    assert _errors(raised) == []
    assert _errors(stale) == ["库存刚被修改为 1500 张，请刷新后重试。"]
    assert CouponTemplate.objects.get(pk=template.pk).total_stock == 1500


# ---------------------------------------------------------------------------------------------------------------
# Coupons: search, story, revoke


def test_a_coupon_is_found_by_its_code_typed_with_spaces_in_lower_case(client, shop):
    client.force_login(shop["manager"])
    coupon = shop["coupon_a"]

    response = client.get("/admin/coupons/coupon/", {"q": f" {code_display(coupon.code).lower()} "})

    assert [row.pk for row in response.context["cl"].result_list] == [coupon.pk]


def test_the_coupon_page_tells_its_story(client, shop):
    coupon = shop["coupon_a"]
    coupon_return(code=coupon.code, channel="store", order_ref="POS-A-1", request_no="return-a")
    client.force_login(shop["manager"])

    html = client.get(f"/admin/coupons/coupon/{coupon.pk}/change/").content.decode()

    issued = timezone.localtime(coupon.issued_at).strftime("%Y-%m-%d %H:%M")
    assert f"{issued} 由 王丽（wangli）（上海静安店（SH01））通过侧边栏发出，券包「静安店券包」" in html
    assert ">send-a</a>" in html
    assert ">张三</a>" in html
    rows = [re.findall(r"<td>(.*?)</td>", row)[1:] for row in re.findall(r"<tr>(<td>.*?)</tr>", html)]
    used = ["门店", "上海静安店（SH01）", "POS-A-1", "320.00", "50.00", "王丽（wangli）"]
    assert rows == [["核销", *used, "redeem-a"], ["退回", *used, "return-a"]]


def test_revoking_cancels_unused_coupons_and_explains_the_rest(client, shop):
    client.force_login(shop["manager"])
    spare, used = shop["spare_a"], shop["coupon_a"]

    response = client.post(
        "/admin/coupons/coupon/", {"action": "revoke", "_selected_action": [spare.pk, used.pk]}, follow=True
    )

    assert sorted(_messages(response)) == sorted([f"{used}：只有未使用的券可以作废。", "已作废 1 张优惠券。"])
    assert Coupon.objects.get(pk=spare.pk).status == Coupon.Status.REVOKED
    assert Coupon.objects.get(pk=used.pk).status == Coupon.Status.REDEEMED


# ---------------------------------------------------------------------------------------------------------------
# CSV exports


def _csv(response) -> list[list[str]]:
    body = b"".join(response.streaming_content)
    assert body.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def test_the_redemption_export_has_the_managers_rows_with_exact_values(client, shop):
    coupon = shop["coupon_a"]
    coupon_return(code=coupon.code, channel="store", order_ref="POS-A-1", request_no="return-a")
    client.force_login(shop["manager"])

    response = client.get("/admin/coupons/redemption/export/")

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="coupon-redemptions-')
    rows = _csv(response)
    when = {
        r.request_no: timezone.localtime(r.created_at).strftime("%Y-%m-%d %H:%M:%S") for r in Redemption.objects.all()
    }
    common = [coupon.code, "满300减50", "门店", "上海静安店（SH01）", "POS-A-1", "320.00", "50.00"]
    credit = ["王丽（wangli）", "上海静安店（SH01）"]
    assert rows == [
        [
            "时间",
            "类型",
            "请求号",
            "券码",
            "批次",
            "渠道",
            "核销门店",
            "订单号",
            "订单金额",
            "优惠金额",
            "净优惠金额",
            "业绩归属导购",
            "业绩归属门店",
        ],
        [when["return-a"], "退回", "return-a", *common, "-50.00", *credit],
        [when["redeem-a"], "核销", "redeem-a", *common, "50.00", *credit],
    ]


def test_the_export_follows_the_lists_filters_and_search(client, shop):
    client.force_login(shop["root"])

    by_kind = _csv(client.get("/admin/coupons/redemption/export/", {"kind__exact": "redeem", "q": "POS-B-1"}))
    by_code = _csv(client.get("/admin/coupons/issuerequest/export/", {"q": shop["coupon_a"].code.lower()}))

    assert [row[2] for row in by_kind[1:]] == ["redeem-b"]
    request = shop["request_a"]
    assert by_code == [
        ["发放时间", "请求号", "券包", "客户ID", "客户", "发送导购", "门店", "来源", "券数", "占用预算（元）"],
        [
            timezone.localtime(request.created_at).strftime("%Y-%m-%d %H:%M:%S"),
            "send-a",
            "静安店券包",
            str(request.customer_id),
            "张三",
            "王丽（wangli）",
            "上海静安店（SH01）",
            "侧边栏",
            "1",
            "50.00",
        ],
    ]


def test_the_export_action_exports_the_selected_rows(client, shop):
    client.force_login(shop["manager"])
    redemption = shop["redemption_a"]

    response = client.post(
        "/admin/coupons/redemption/", {"action": "export_selected", "_selected_action": [redemption.pk]}
    )

    assert [row[2] for row in _csv(response)[1:]] == ["redeem-a"]


def test_exported_text_cannot_be_read_as_a_formula(client, shop):
    (coupon,) = coupon_pack_send(
        pack_id=shop["pack_a"].pk, customer_id=CustomerFactory().pk, request_no="s-f", associate=shop["associate_a"]
    ).coupons
    coupon_redeem(
        code=coupon.code,
        order=OrderIn(channel="store", store=shop["a"], order_ref="=HYPERLINK(1)", amount=Decimal("300.00")),
        request_no="redeem-f",
    )
    client.force_login(shop["manager"])

    rows = _csv(client.get("/admin/coupons/redemption/export/", {"q": "=HYPERLINK(1)"}))

    assert [row[7] for row in rows[1:]] == ["'=HYPERLINK(1)"]
