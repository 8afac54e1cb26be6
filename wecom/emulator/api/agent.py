"""The app and the corp's directory as the app sees them: `agent/get` (the visible range — allow_partys,
allow_userinfos, allow_tags — and the trusted domain, redirect_domain), `department/simplelist` (the departments in
the visible range, with their sub-departments) and `get_api_domain_ip` (the addresses WeCom's API answers from)."""

from urllib.parse import urlsplit

from wecom.emulator import limits as L
from wecom.emulator.api.base import ApiBase, require
from wecom.emulator.web import Request


class AgentApi(ApiBase):
    def agent_get(self, request: Request, body: dict) -> dict:
        require(request.query.get("agentid", "") == str(self.config.agent_id), "", L.INVALID_AGENTID)
        admin = self.state.admin
        with self.state.lock:
            associates = self.state.data["associates"]
            users = [{"userid": u} for u in admin.visible_users if u in associates and not associates[u]["resigned"]]
        return self._ok(
            agentid=int(self.config.agent_id) if str(self.config.agent_id).isdigit() else self.config.agent_id,
            name="Omni 导购助手",
            description="门店导购的客户助手",
            allow_userinfos={"user": users},
            allow_partys={"partyid": list(admin.visible_partys)},
            allow_tags={"tagid": list(admin.visible_tags)},
            close=0,
            redirect_domain=self.trusted_domain(),
            report_location_flag=0,
            isreportenter=0,
            home_url=self.config.sidebar_url,
        )

    def trusted_domain(self) -> str:
        return self.state.admin.trusted_domain or self.config.default_trusted_domain()

    def department_simplelist(self, request: Request, body: dict) -> dict:
        admin = self.state.admin
        with self.state.lock:
            departments = self.state.data["departments"]
            visible = [d for d in departments.values() if admin.party_visible(d["id"], departments)]
        wanted = request.query.get("id", "")
        if wanted:
            require(wanted.isdigit(), "id must be a department id")
            require(any(d["id"] == int(wanted) for d in visible), "", L.NO_PRIVILEGE)
            visible = [d for d in visible if self._below(d["id"], int(wanted), departments)]
        visible.sort(key=lambda d: (d["parentid"], d["order"], d["id"]))
        return self._ok(
            department_id=[{"id": d["id"], "parentid": d["parentid"], "order": d["order"]} for d in visible]
        )

    @staticmethod
    def _below(department_id: int, ancestor: int, departments: dict) -> bool:
        current, seen = department_id, set()
        while current and current not in seen:
            if current == ancestor:
                return True
            seen.add(current)
            current = departments.get(str(current), {}).get("parentid", 0)
        return False

    def get_api_domain_ip(self, request: Request, body: dict) -> dict:
        host = urlsplit(self.config.public_url).hostname or "127.0.0.1"
        return self._ok(ip_list=[host])
