"""`manage.py suggestions_build [--if-missing]`: what `./run demo` calls after seeding."""

from io import StringIO

import pytest
from django.core.management import call_command

from suggestions.models import SuggestionModel
from tests.factories import CustomerFactory, OrderFactory, OrderLineFactory, ProductFactory


@pytest.mark.django_db
def test_build_once_then_skip_when_a_model_is_ready():
    product = ProductFactory()
    for _ in range(3):
        OrderLineFactory(order=OrderFactory(customer=CustomerFactory()), line_no=1, product=product)
    first, second = StringIO(), StringIO()

    call_command("suggestions_build", "--if-missing", stdout=first)
    call_command("suggestions_build", "--if-missing", stdout=second)

    assert "已构建" in first.getvalue() and "跳过" in second.getvalue()
    assert SuggestionModel.objects.filter(status=SuggestionModel.Status.READY).count() == 1
