"""Pages inside WeCom for associates. The sidebar here is the minimal WeCom round trip (OAuth, JS-SDK,
current contact, sendChatMessage); the customer 360 grows on it."""

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.shortcuts import render

from associates.selectors import sidebar_customer_get
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
    customer = sidebar_customer_get(associate=request.associate, external_userid=request.GET.get("external_userid", ""))
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
