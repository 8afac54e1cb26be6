"""Members and OAuth: `auth/getuserinfo` turns a one-time OAuth code into the member's userid, `user/get` reads a
member who has not resigned and is in the app's visible range."""

from wecom.emulator import limits as L
from wecom.emulator.api.base import ApiBase, ApiError, require
from wecom.emulator.state import ROOT_DEPARTMENT_ID
from wecom.emulator.web import Request


class MembersApi(ApiBase):
    def auth_getuserinfo(self, request: Request, body: dict) -> dict:
        code = request.query.get("code", "")
        with self.state.change() as data:
            entry = data["oauth_codes"].get(code)
            if not code or entry is None or entry["used"] or entry["expires_at"] <= self.state.now():
                raise ApiError(L.INVALID_OAUTH_CODE)
            entry["used"] = True
            return self._ok(userid=entry["userid"])

    def user_get(self, request: Request, body: dict) -> dict:
        associate = self.state.data["associates"].get(request.query.get("userid", ""))
        require(associate is not None and not associate["resigned"], "", L.INVALID_USERID)
        # A self-built app reads only the members in its visible range.
        require(self.state.admin.member_visible(associate, self.state.data["departments"]), "", L.NO_PRIVILEGE)
        departments = associate.get("department") or [ROOT_DEPARTMENT_ID]
        return self._ok(userid=associate["userid"], name=associate["name"], department=departments, status=1)
