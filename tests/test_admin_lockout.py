"""Admin sign-in lockout (django-axes): wrong passwords for one username from one address lock that pair out, even
with the right password afterwards; every failure is recorded; another user or another address is unaffected; the
records are for superusers only."""

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from django.contrib.auth import get_user_model
from django.test import Client

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
LOGIN = "/admin/login/"


@pytest.fixture
def staff():
    User = get_user_model()
    return [
        User.objects.create_user(name, password=PASSWORD, is_staff=True, is_superuser=superuser)
        for name, superuser in (("hq", False), ("manager", False), ("root", True))
    ]


def _sign_in(client: Client, username: str, password: str, address: str = "203.0.113.7"):
    return client.post(LOGIN, {"username": username, "password": password, "next": "/admin/"}, REMOTE_ADDR=address)


def _signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_twenty_wrong_passwords_then_the_right_one_is_refused_and_recorded(staff):
    client = Client()

    wrong = [_sign_in(client, "hq", f"guess-{n}") for n in range(20)]
    right = _sign_in(client, "hq", PASSWORD)

    assert [response.status_code for response in wrong] == [200] * 4 + [429] * 16
    assert right.status_code == 429
    assert "登录已暂停" in right.content.decode()
    assert not _signed_in(client)
    attempt = AccessAttempt.objects.get(username="hq", ip_address="203.0.113.7")
    assert attempt.failures_since_start >= 5
    assert AccessFailureLog.objects.filter(username="hq", ip_address="203.0.113.7").count() >= 5
    assert AccessFailureLog.objects.filter(username="hq", locked_out=True).exists()


def test_a_lockout_leaves_another_user_and_another_address_alone(staff):
    for n in range(20):
        _sign_in(Client(), "hq", f"guess-{n}")

    other_user, other_address = Client(), Client()
    _sign_in(other_user, "manager", PASSWORD)
    _sign_in(other_address, "hq", PASSWORD, address="198.51.100.20")

    assert _signed_in(other_user)
    assert _signed_in(other_address)


def test_a_few_mistakes_then_the_right_password_sign_in_and_start_counting_again(staff):
    client = Client()
    for n in range(4):
        _sign_in(client, "hq", f"guess-{n}")

    _sign_in(client, "hq", PASSWORD)

    assert _signed_in(client)
    assert not AccessAttempt.objects.filter(username="hq").exists()


def test_the_sign_in_records_are_for_superusers_only(staff):
    _sign_in(Client(), "hq", "guess")
    hq, root = Client(), Client()
    hq.force_login(staff[0])
    root.force_login(staff[2])

    for path in ("/admin/axes/accessattempt/", "/admin/axes/accessfailurelog/", "/admin/axes/accesslog/"):
        assert hq.get(path).status_code == 403
        assert root.get(path).status_code == 200
    assert "axes" not in hq.get("/admin/").content.decode()
