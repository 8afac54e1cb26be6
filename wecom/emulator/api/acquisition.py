"""Acquisition links (获客链接, 获客助手 Doc 97297/97298): a link that adds one of its members as a friend without a QR
code, for SMS, the mall, the mini-program and ads. create_link / update_link / delete_link / get / list_link, the
customers a link brought (customer_acquisition/customer), its clicks and adds (statistic), and the corp's quota
(customer_acquisition_quota). A customer opening a link is `World.link_open`: it uses one unit of the quota."""

from wecom.emulator import limits as L
from wecom.emulator.api.base import ApiBase, page, page_limit, require
from wecom.emulator.state import new_id
from wecom.emulator.web import Request
from wecom.emulator.world import acquisition_quota


class AcquisitionLinksApi(ApiBase):
    def create_link(self, request: Request, body: dict) -> dict:
        fields = self._link_fields(body)
        require(bool(fields["link_name"]), "link_name is required")
        link_id = new_id("cawcde", 22)
        link = {
            "link_id": link_id,
            "url": f"{self.config.public_url}/ca/{link_id}",
            "create_time": int(self.state.now()),
            "next": 0,
            "customers": [],
            "clicks": 0,
            **fields,
        }
        with self.state.change() as data:
            data.setdefault("acquisition_links", {})[link_id] = link
        view = {k: link[k] for k in ("link_id", "link_name", "url", "create_time")}
        return self._ok(link=view)

    def update_link(self, request: Request, body: dict) -> dict:
        with self.state.change() as data:
            link = data.setdefault("acquisition_links", {}).get(body.get("link_id"))
            require(link is not None, "invalid link_id")
            changes = self._link_fields({**link, **body, "range": body.get("range", link["range"])})
            link.update(changes)
        return self._ok()

    def delete_link(self, request: Request, body: dict) -> dict:
        with self.state.change() as data:
            removed = data.setdefault("acquisition_links", {}).pop(body.get("link_id"), None)
            require(removed is not None, "invalid link_id")
        return self._ok()

    def get_link(self, request: Request, body: dict) -> dict:
        link = self.state.data.get("acquisition_links", {}).get(body.get("link_id"))
        require(link is not None, "invalid link_id")
        return self._ok(
            link={k: link[k] for k in ("link_name", "url", "create_time", "skip_verify")},
            range=dict(link["range"]),
            priority_option=dict(link.get("priority_option") or {}),
        )

    def list_link(self, request: Request, body: dict) -> dict:
        limit = page_limit(
            body.get("limit"), default=L.ACQUISITION_LIST_MAX_LIMIT, maximum=L.ACQUISITION_LIST_MAX_LIMIT
        )
        with self.state.lock:
            ids = sorted(self.state.data.get("acquisition_links", {}), key=lambda i: (0, i))
        chunk, next_cursor = page(ids, body.get("cursor"), limit)
        return self._ok(link_id_list=chunk, next_cursor=next_cursor)

    def link_customers(self, request: Request, body: dict) -> dict:
        link = self.state.data.get("acquisition_links", {}).get(body.get("link_id"))
        require(link is not None, "invalid link_id")
        limit = page_limit(
            body.get("limit"), default=L.ACQUISITION_CUSTOMER_MAX_LIMIT, maximum=L.ACQUISITION_CUSTOMER_MAX_LIMIT
        )
        rows = [{k: c[k] for k in ("external_userid", "userid", "chat_status", "state")} for c in link["customers"]]
        chunk, next_cursor = page(rows, body.get("cursor"), limit)
        return self._ok(customer_list=chunk, next_cursor=next_cursor)

    def link_statistic(self, request: Request, body: dict) -> dict:
        link = self.state.data.get("acquisition_links", {}).get(body.get("link_id"))
        require(link is not None, "invalid link_id")
        start, end = body.get("start_time"), body.get("end_time")
        require(isinstance(start, int) and isinstance(end, int) and start <= end, "invalid start_time or end_time")
        added = sum(1 for c in link["customers"] if start <= c["create_time"] <= end)
        return self._ok(click_link_customer_cnt=link["clicks"], new_customer_cnt=added)

    def acquisition_quota(self, request: Request, body: dict) -> dict:
        with self.state.change() as data:
            quota = dict(acquisition_quota(data, self.state.now()))
        balance = quota["total"] - quota["used"]
        return self._ok(
            total=quota["total"],
            balance=balance,
            quota_list=[{"expire_date": quota["expire_date"], "balance": balance}],
        )

    def _link_fields(self, body: dict) -> dict:
        name = body.get("link_name", "")
        require(isinstance(name, str), "link_name must be a string")
        require(len(name) <= L.ACQUISITION_LINK_NAME_MAX_CHARS, "link_name exceeds 30 characters")
        scope = body.get("range") or {}
        require(isinstance(scope, dict), "range must be an object")
        users, parties = scope.get("user_list") or [], scope.get("department_list") or []
        require(isinstance(users, list) and isinstance(parties, list), "user_list and department_list are lists")
        require(bool(users) or bool(parties), "range needs user_list or department_list")
        require(len(users) <= L.ACQUISITION_LINK_MAX_USERS, "user_list exceeds 500 members")
        unknown = [u for u in users if u not in self.state.data["associates"]]
        require(not unknown, f"unknown userid {unknown[0]!r}" if unknown else "", L.INVALID_USERID)
        return {
            "link_name": name,
            "skip_verify": bool(body.get("skip_verify", True)),
            "range": {"user_list": list(users), "department_list": list(parties)},
            "priority_option": body.get("priority_option") or {},
        }
