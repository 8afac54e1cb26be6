"""Customer transfer (在职继承 / 离职继承), minimal: handing a member's customers over to another member, while
employed or after resigning, and the transfers' results; the fault settings decide how a transfer ends."""

from wecom.emulator import limits as L
from wecom.emulator.api.base import ApiBase, external_userid_ok, page, require
from wecom.emulator.state import relation_key
from wecom.emulator.web import Request
from wecom.emulator.world import TRANSFER_WAITING


class TransfersApi(ApiBase):
    def transfer_customer_onjob(self, request: Request, body: dict) -> dict:
        return self._transfer(body, kind="onjob")

    def transfer_customer_resigned(self, request: Request, body: dict) -> dict:
        return self._transfer(body, kind="resigned")

    def _transfer(self, body: dict, *, kind: str) -> dict:
        handover, takeover = body.get("handover_userid"), body.get("takeover_userid")
        external_userids = body.get("external_userid") or []
        require(isinstance(external_userids, list) and bool(external_userids), "external_userid is required")
        require(len(external_userids) <= L.TRANSFER_MAX_CUSTOMERS, "at most 100 external_userid")
        message = body.get("transfer_success_msg", "") or ""
        require(len(message) <= L.TRANSFER_SUCCESS_MSG_MAX_CHARS, "transfer_success_msg exceeds 200 characters")
        results = []
        with self.state.change() as data:
            for userid in (handover, takeover):
                require(userid in data["associates"], "", L.INVALID_USERID)
            require(handover != takeover, "handover and takeover must differ")
            resigned = data["associates"][handover]["resigned"]
            require(resigned == (kind == "resigned"), "the handover member's status does not fit this API")
            for external_userid in external_userids:
                if not external_userid_ok(external_userid):
                    errcode = L.INVALID_EXTERNAL_USERID
                elif relation_key(handover, external_userid) not in data["relations"]:
                    errcode = L.NO_RELATIONSHIP
                else:
                    errcode = 0
                    data["transfers"].append(
                        {
                            "kind": kind,
                            "handover_userid": handover,
                            "takeover_userid": takeover,
                            "external_userid": external_userid,
                            "status": TRANSFER_WAITING,
                            "takeover_time": 0,
                            "created_at": int(self.state.now()),
                        }
                    )
                results.append({"external_userid": external_userid, "errcode": errcode})
        outcome = self.state.faults.transfer_outcome
        if outcome:
            for result in results:
                if result["errcode"] == 0:
                    self.world.transfer_resolve(
                        handover_userid=handover, external_userid=result["external_userid"], outcome=outcome
                    )
        return self._ok(customer=results)

    def transfer_result_onjob(self, request: Request, body: dict) -> dict:
        return self._transfer_result(body, kind="onjob")

    def transfer_result_resigned(self, request: Request, body: dict) -> dict:
        return self._transfer_result(body, kind="resigned")

    def _transfer_result(self, body: dict, *, kind: str) -> dict:
        handover, takeover = body.get("handover_userid"), body.get("takeover_userid")
        require(bool(handover) and bool(takeover), "handover_userid and takeover_userid are required")
        with self.state.lock:
            latest: dict[str, dict] = {}
            for transfer in self.state.data["transfers"]:
                if (transfer["kind"], transfer["handover_userid"], transfer["takeover_userid"]) == (
                    kind,
                    handover,
                    takeover,
                ):
                    latest[transfer["external_userid"]] = transfer
            items = [
                {"external_userid": t["external_userid"], "status": t["status"], "takeover_time": t["takeover_time"]}
                for t in latest.values()
            ]
        chunk, next_cursor = page(items, body.get("cursor"), 1000)
        return self._ok(customer=chunk, next_cursor=next_cursor)
