"""Routing of WeCom callback events to the domain code that handles them.

Domain apps register handlers with `@handles(event, change_type)`; events WeCom documents but no app
handles yet are accepted and recorded (later features fill them in); anything else is ignored with a log.
"""

import logging
from collections.abc import Callable

logger = logging.getLogger(__name__)

Handler = Callable[[dict], None]


class EventNotApplicable(Exception):
    """The event cannot be acted on (e.g. it names an unknown member); recorded as failed, not retried."""


# Events Omni accepts (Event, ChangeType), from WeCom's 客户联系 callbacks.
KNOWN_EVENTS = frozenset(
    {
        ("change_external_contact", "add_external_contact"),
        ("change_external_contact", "edit_external_contact"),
        ("change_external_contact", "add_half_external_contact"),
        ("change_external_contact", "del_external_contact"),
        ("change_external_contact", "del_follow_user"),
        ("change_external_contact", "transfer_fail"),
        ("change_external_chat", "create"),
        ("change_external_chat", "update"),
        ("change_external_chat", "dismiss"),
        ("change_external_tag", "create"),
        ("change_external_tag", "update"),
        ("change_external_tag", "delete"),
        ("change_external_tag", "shuffle"),
    }
)

_handlers: dict[tuple[str, str], Handler] = {}


def handles(event: str, change_type: str) -> Callable[[Handler], Handler]:
    if (event, change_type) not in KNOWN_EVENTS:
        raise ValueError(f"unknown WeCom event {event}/{change_type}")

    def register(handler: Handler) -> Handler:
        _handlers[(event, change_type)] = handler
        return handler

    return register


def event_kind(payload: dict) -> tuple[str, str]:
    return str(payload.get("Event", "")), str(payload.get("ChangeType", ""))


def is_known(payload: dict) -> bool:
    return payload.get("MsgType") == "event" and event_kind(payload) in KNOWN_EVENTS


def handler_for(payload: dict) -> Handler:
    kind = event_kind(payload)
    return _handlers.get(kind) or _recorded_only


def _recorded_only(payload: dict) -> None:
    logger.info("WeCom event %s/%s recorded; no handler yet", *event_kind(payload))
