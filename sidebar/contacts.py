"""The customer behind the chat's WeCom contact, as the associate may see them: the one lookup both the contact
endpoint (/sidebar/contact/) and the first-screen API (/api/v1/sidebar/first-screen/) make, so the two answer alike
(None for a contact this associate may not see, exactly as for one that does not exist)."""

from associates.models import Associate
from clientbook.selectors import customer_by_external_userid
from clientbook.services import follow_fetch
from customers.models import Customer


def sidebar_contact_customer(*, associate: Associate, external_userid: str) -> Customer | None:
    """The customer, or None. A contact we have no record of yet is looked up in WeCom and recorded when they are
    this associate's (follow_fetch's ApplicationError, e.g. WeCom unavailable, goes to the caller)."""
    customer = customer_by_external_userid(viewer=associate, external_userid=external_userid)
    if customer is None and follow_fetch(associate=associate, external_userid=external_userid) is not None:
        customer = customer_by_external_userid(viewer=associate, external_userid=external_userid)
    return customer


def sidebar_contact_json(customer: Customer) -> dict:
    """The chat contact's customer as the sidebar names them (/sidebar/contact/ and the first screen's `contact`)."""
    return {
        "id": customer.pk,
        "name": customer.name,
        "phone": customer.phone_masked,
        "store": customer.primary_store.name if customer.primary_store else "",
        "avatar": customer.avatar_url,
    }
