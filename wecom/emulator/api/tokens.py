"""Access tokens and JS-SDK tickets: `gettoken` (the same token again while it is valid), `get_jsapi_ticket` and
`ticket/get?type=agent_config`, each ticket kind limited per hour."""

import secrets

from wecom.emulator import limits as L
from wecom.emulator.api.base import ApiBase, ApiError, require
from wecom.emulator.state import new_id
from wecom.emulator.web import Request

# Expired tokens are remembered this long so that they answer 42001, not 40014.
EXPIRED_TOKEN_MEMORY_SECONDS = 24 * 3600


class TokensApi(ApiBase):
    def gettoken(self, request: Request, body: dict) -> dict:
        corpid, secret = request.query.get("corpid", ""), request.query.get("corpsecret", "")
        require(bool(corpid), "", L.CORPID_MISSING)
        require(bool(secret), "", L.SECRET_MISSING)
        require(corpid == self.config.corp_id, "", L.INVALID_CORPID)
        require(secrets.compare_digest(secret.encode(), self.config.secret.encode()), "", L.INVALID_SECRET)
        now = self.state.now()
        with self.state.change() as data:
            tokens = data["tokens"]
            for token in [t for t, e in tokens.items() if e["expires_at"] < now - EXPIRED_TOKEN_MEMORY_SECONDS]:
                del tokens[token]
            # Within its validity WeCom hands out the same token again.
            current = max(tokens.items(), key=lambda item: item[1]["expires_at"], default=None)
            if current and current[1]["expires_at"] > now + 1:
                return self._ok(access_token=current[0], expires_in=int(current[1]["expires_at"] - now))
            token = new_id("", 128)
            tokens[token] = {"expires_at": now + self.state.faults.token_ttl, "issued_at": now}
            return self._ok(access_token=token, expires_in=self.state.faults.token_ttl)

    def get_jsapi_ticket(self, request: Request, body: dict) -> dict:
        return self._ticket("jsapi", L.JSAPI_TICKET_PER_HOUR)

    def ticket_get(self, request: Request, body: dict) -> dict:
        require(request.query.get("type") == "agent_config", "type must be agent_config", L.INVALID_TYPE)
        return self._ticket("agent_config", L.AGENT_TICKET_PER_HOUR)

    def _ticket(self, kind: str, per_hour: int) -> dict:
        now = self.state.now()
        with self.state.change() as data:
            hour = int(now // 3600)
            counts = self.state.ticket_counts
            for old in [k for k in counts if k[1] < hour]:
                del counts[old]
            counts[(kind, hour)] = counts.get((kind, hour), 0) + 1
            if counts[(kind, hour)] > per_hour:
                raise ApiError(L.FREQUENCY_LIMIT, f"more than {per_hour} {kind} tickets this hour")
            tickets = data["tickets"]
            for ticket in [t for t, e in tickets.items() if e["expires_at"] < now - EXPIRED_TOKEN_MEMORY_SECONDS]:
                del tickets[ticket]
            mine = [(t, e) for t, e in tickets.items() if e["type"] == kind and e["expires_at"] > now + 1]
            if mine:
                ticket, entry = max(mine, key=lambda item: item[1]["expires_at"])
                return self._ok(ticket=ticket, expires_in=int(entry["expires_at"] - now))
            ticket = new_id("", 86)
            tickets[ticket] = {"type": kind, "expires_at": now + L.TICKET_TTL_SECONDS}
            return self._ok(ticket=ticket, expires_in=L.TICKET_TTL_SECONDS)
