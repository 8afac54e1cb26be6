"""The pages inside WeCom: who may frame them, and what the sidebar's contact lookup reveals.

A lookup Omni cannot answer locally asks WeCom: see test_sidebar_contact_fetch.py."""

import pytest

from associates.auth import SESSION_KEY
from tests.factories import AssociateFactory, CustomerFactory, IdentityFactory, StoreFactory


@pytest.fixture
def signed_in(client, db):
    associate = AssociateFactory(store=StoreFactory(code="SH01"), wecom_userid="linyu")
    session = client.session
    session[SESSION_KEY] = associate.pk
    session.save()
    return associate


@pytest.mark.django_db
def test_the_sidebar_cannot_be_framed_by_default(client, signed_in):
    response = client.get("/sidebar/")

    assert response.status_code == 200
    assert response["X-Frame-Options"] == "DENY"
    assert "Content-Security-Policy" not in response


@pytest.mark.django_db
def test_the_sidebar_may_be_framed_by_the_configured_origins_only(client, signed_in, settings):
    settings.OMNI_FRAME_ANCESTORS = ["http://127.0.0.1:8001"]

    response = client.get("/sidebar/")

    assert "X-Frame-Options" not in response
    assert response["Content-Security-Policy"] == "frame-ancestors 'self' http://127.0.0.1:8001"


@pytest.mark.django_db
def test_the_contact_lookup_shows_a_customer_of_the_store_masked(client, signed_in):
    customer = CustomerFactory(name="陈静", primary_store=signed_in.store, phone="+8613812345678")
    IdentityFactory(customer=customer, kind="wecom_external_userid", value="wm_chen")

    response = client.get("/sidebar/contact/", {"external_userid": "wm_chen"})

    assert response.json() == {
        "id": customer.pk,
        "name": "陈静",
        "phone": "138****5678",
        "store": signed_in.store.name,
        "avatar": "",
    }


@pytest.mark.django_db
def test_without_a_session_the_sidebar_goes_to_wecom_oauth(client):
    response = client.get("/sidebar/")

    assert response.status_code == 302
    assert response["Location"] == "/wecom/oauth/start/?next=%2Fsidebar%2F"
