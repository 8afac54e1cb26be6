"""Pages inside WeCom for associates. The sidebar here is the minimal WeCom round trip (OAuth, JS-SDK,
current contact, sendChatMessage); the customer 360 grows on it."""

from django.conf import settings
from django.db.models import Q
from django.http import HttpRequest, JsonResponse
from django.shortcuts import render

from associates.models import FollowRelation
from customers.models import Customer
from omni.wecom.auth import associate_required, embeddable


@embeddable
@associate_required
def sidebar(request: HttpRequest):
    return render(
        request, "associates/sidebar.html", {"associate": request.associate, "jssdk_url": settings.WECOM_JSSDK_URL}
    )


@associate_required
def sidebar_contact(request: HttpRequest) -> JsonResponse:
    """The customer behind a WeCom external_userid, if this associate may see them (else 404)."""
    external_userid = request.GET.get("external_userid", "")
    associate = request.associate
    followed = FollowRelation.objects.filter(associate=associate, external_userid=external_userid)
    customer = (
        Customer.objects.filter(identities__kind="wecom_external_userid", identities__value=external_userid)
        .filter(Q(primary_store=associate.store_id) | Q(pk__in=followed.values("customer_id")))
        .select_related("primary_store")
        .first()
    )
    if customer is None:
        return JsonResponse({"error": {"code": "not_found", "message": "没有找到这位客户"}}, status=404)
    return JsonResponse(
        {
            "id": customer.pk,
            "name": customer.name,
            "phone": customer.phone_masked,
            "store": customer.primary_store.name if customer.primary_store else "",
        }
    )
