"""`manage.py wecom_emulator_load_demo URL`: put the demo's stores (as departments), associates and some of their
customers into a running local WeCom emulator, as if they had always been in that WeCom corp (used by `./run demo`).

Each customer is added through the emulator's control API, so the emulator sends Omni the same
add_external_contact callback WeCom would; Omni links it to the existing One ID customer.
"""

import requests
from django.core.management.base import BaseCommand, CommandError

from associates.models import Associate, Store
from customers.models import Customer, Identity
from demo.communities import communities_demo_emulator_load

_GENDER = {Customer.Gender.MALE: 1, Customer.Gender.FEMALE: 2}


class Command(BaseCommand):
    help = "Load the demo's associates (and up to N customers each) into the local WeCom emulator."

    def add_arguments(self, parser):
        parser.add_argument("url", help="the emulator's base URL, e.g. http://127.0.0.1:8001")
        parser.add_argument("--per-associate", type=int, default=8)

    def handle(self, *args, url, per_associate, **options):
        control = url.rstrip("/") + "/control"
        try:
            known = {a["userid"] for a in requests.get(f"{control}/associates", timeout=5).json()["associates"]}
        except (requests.RequestException, KeyError, ValueError) as exc:
            raise CommandError(f"The WeCom emulator at {url} does not answer: {exc}") from exc
        self._departments(control)
        added = 0
        for associate in Associate.objects.select_related("store").filter(is_active=True):
            if associate.wecom_userid in known:
                continue
            body = {"userid": associate.wecom_userid, "name": associate.name, "store": associate.store.name}
            if associate.store.wecom_department_id:
                body["department"] = [associate.store.wecom_department_id]
            requests.post(f"{control}/associates", json=body, timeout=5).raise_for_status()
            added += self._customers(control, associate, per_associate)
        groups = communities_demo_emulator_load(control_url=control)
        self.stdout.write(
            f"WeCom emulator: associates loaded, {added} customers added to their WeCom, {groups} community groups."
        )

    def _departments(self, control: str) -> None:
        """Each store with a WeCom department becomes that department under the corp, as in the brand's WeCom."""
        known = {d["id"] for d in requests.get(f"{control}/departments", timeout=5).json()["departments"]}
        for store in Store.objects.exclude(wecom_department_id=None).order_by("wecom_department_id"):
            if store.wecom_department_id not in known:
                body = {"id": store.wecom_department_id, "name": store.name, "parentid": 1}
                requests.post(f"{control}/departments", json=body, timeout=5).raise_for_status()

    def _customers(self, control: str, associate: Associate, limit: int) -> int:
        identities = Identity.objects.filter(
            kind=Identity.Kind.WECOM_EXTERNAL_USERID, customer__primary_associate=associate
        ).select_related("customer")[:limit]
        for identity in identities:
            customer = identity.customer
            unionid = customer.identities.filter(kind=Identity.Kind.WECHAT_UNIONID).values_list("value", flat=True)
            body = {
                "name": customer.name,
                "external_userid": identity.value,
                "gender": _GENDER.get(customer.gender, 0),
                "unionid": next(iter(unionid), ""),
            }
            requests.post(f"{control}/customers", json=body, timeout=5)
            contact = {"external_userid": identity.value, "userid": associate.wecom_userid}
            requests.post(f"{control}/contacts/add", json=contact, timeout=10).raise_for_status()
        return len(identities)
