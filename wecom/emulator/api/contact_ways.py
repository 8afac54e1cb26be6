"""Contact me (联系我): adding, reading, updating and deleting a contact way, single or multi-member, shown as a
mini-program button or a QR code."""

import secrets

from wecom.emulator import limits as L
from wecom.emulator.api.base import ApiBase, require
from wecom.emulator.web import Request


class ContactWaysApi(ApiBase):
    def add_contact_way(self, request: Request, body: dict) -> dict:
        way = self._contact_way_fields(body, creating=True)
        way["config_id"] = secrets.token_hex(16)
        with self.state.change() as data:
            require(len(data["contact_ways"]) < L.CONTACT_WAY_MAX, "the corp has 500,000 contact ways")
            data["contact_ways"][way["config_id"]] = way
        result = self._ok(config_id=way["config_id"])
        if way["scene"] == 2:
            result["qr_code"] = self.qr_url("contact_way", way["config_id"])
        return result

    def get_contact_way(self, request: Request, body: dict) -> dict:
        way = self.state.data["contact_ways"].get(body.get("config_id"))
        require(way is not None, "invalid config_id")
        view = {key: value for key, value in way.items() if key != "created_at" and not key.startswith("_")}
        if way["scene"] == 2:
            view["qr_code"] = self.qr_url("contact_way", way["config_id"])
        return self._ok(contact_way=view)

    def update_contact_way(self, request: Request, body: dict) -> dict:
        with self.state.change() as data:
            way = data["contact_ways"].get(body.get("config_id"))
            require(way is not None, "invalid config_id")
            way.update(self._contact_way_fields({**way, **body}, creating=False))
        return self._ok()

    def del_contact_way(self, request: Request, body: dict) -> dict:
        with self.state.change() as data:
            require(data["contact_ways"].pop(body.get("config_id"), None) is not None, "invalid config_id")
        return self._ok()

    def _contact_way_fields(self, body: dict, *, creating: bool) -> dict:
        kind, scene = body.get("type"), body.get("scene")
        require(kind in (1, 2), "type must be 1 (single) or 2 (multi)")
        require(scene in (1, 2), "scene must be 1 (mini program) or 2 (QR code)")
        users = body.get("user") or []
        require(isinstance(users, list), "user must be a list")
        require(bool(users) or bool(body.get("party")), "user or party is required")
        require(kind == 2 or len(users) == 1, "type 1 takes exactly one user")
        require(len(users) <= L.CONTACT_WAY_MAX_USERS, "user exceeds 100 members")
        unknown = [u for u in users if u not in self.state.data["associates"]]
        require(not unknown, f"unknown userid {unknown[0]!r}" if unknown else "", L.INVALID_USERID)
        state = body.get("state", "") or ""
        require(isinstance(state, str) and len(state) <= L.STATE_MAX_CHARS, "state exceeds 30 characters")
        remark = body.get("remark", "") or ""
        require(len(str(remark)) <= L.CONTACT_WAY_REMARK_MAX_CHARS, "remark exceeds 30 characters")
        fields = {
            "type": kind,
            "scene": scene,
            "style": body.get("style", 1),
            "remark": remark,
            "skip_verify": body.get("skip_verify", True),
            "state": state,
            "user": users,
            "party": body.get("party") or [],
            "is_temp": bool(body.get("is_temp", False)),
        }
        if creating:
            fields["created_at"] = int(self.state.now())
        return fields
