"""Pages customers see: the product page a news card sent from the chat links to, and the page where a customer
confirms, in their own WeChat, the member number or phone an associate claimed for them."""

import time

from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from customers.categories import category_label
from customers.models import Customer, IdentityClaim, Product, StoreStock
from customers.services import (
    customer_by_wechat_oa,
    identity_claim_confirm,
    identity_claim_dismiss,
    identity_claim_is_contact,
    identity_claim_page_url,
)
from omni.errors import ApplicationError
from wecom.wechat_oauth import OaSignIn, oa_configured


def product_page(request: HttpRequest, sku: str):
    """One product as the customer sees it in WeChat: picture, price, and where it can be bought now."""
    product = Product.objects.filter(sku=sku, is_active=True).first()
    if product is None:
        raise Http404
    stores = (
        StoreStock.objects.filter(Q(product=product) & Q(quantity__gt=0) & Q(store__is_active=True))
        .select_related("store")
        .order_by("store__city", "store__code")
    )
    return render(
        request,
        "customers/product.html",
        {
            "product": product,
            "category": category_label(product.category) if product.category else "",
            "stores": [stock.store for stock in stores],
            "online": bool(getattr(product, "online_stock", None)),
        },
    )


# The claim page: the card an associate sends after typing a phone or member number opens it in the customer's
# WeChat. The Official Account's web authorization (snsapi_base, silent) says which WeChat user opened it; only the
# chat contact the claim is about may confirm, and the proof is kept in this browser's session for a few minutes.
# The page shows the claimed identities masked, the same whether or not anybody owns them.
CLAIM_MAX_AGE_SECONDS = 7 * 24 * 3600
CLAIM_PROOF_SECONDS = 600
CLAIM_NONCE_COOKIE = "omni_wx_claim_nonce"


def _claim_path(claim: IdentityClaim) -> str:
    return reverse("identity-claim", kwargs={"token": claim.token})


def _proof_key(claim: IdentityClaim) -> str:
    return f"identity-claim:{claim.pk}"


def _claim_render(request: HttpRequest, claim: IdentityClaim, state: str, status: int = 200) -> HttpResponse:
    response = render(request, "customers/claim.html", {"claim": claim, "state": state}, status=status)
    # Not no-referrer: a POST from a no-referrer page carries `Origin: null`, which CSRF protection refuses.
    response["Referrer-Policy"] = "same-origin"
    return response


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def identity_claim_page(request: HttpRequest, token: str) -> HttpResponse:
    claim = IdentityClaim.objects.filter(token=token).first()
    if claim is None:
        raise Http404
    if claim.status != IdentityClaim.Status.PENDING:
        return _claim_render(request, claim, "closed")
    if time.time() - claim.created_at.timestamp() > CLAIM_MAX_AGE_SECONDS or not oa_configured():
        return _claim_render(request, claim, "expired")
    if request.method == "POST":
        return _claim_answer(request, claim)
    if _proven(request, claim) is not None:
        return _claim_render(request, claim, "ask")
    if "code" not in request.GET and "state" not in request.GET:
        return _sign_in(claim).redirect(request, redirect_uri=identity_claim_page_url(claim=claim))
    return _claim_callback(request, claim)


def _proven(request: HttpRequest, claim: IdentityClaim) -> int | None:
    """The customer this browser proved to be through WeChat for this claim, within CLAIM_PROOF_SECONDS."""
    proof = request.session.get(_proof_key(claim))
    if not isinstance(proof, dict) or time.time() - proof.get("at", 0) > CLAIM_PROOF_SECONDS:
        return None
    return proof.get("customer")


def _sign_in(claim: IdentityClaim) -> OaSignIn:
    return OaSignIn(purpose=f"identity-claim:{claim.pk}", cookie=CLAIM_NONCE_COOKIE, path=_claim_path(claim))


def _claim_callback(request: HttpRequest, claim: IdentityClaim) -> HttpResponse:
    """WeChat came back: remember who this is when it is the claim's contact, then drop code and state from the URL."""
    sign_in = _sign_in(claim)
    user = sign_in.user(request)
    person = customer_by_wechat_oa(openid=user.openid, unionid=user.unionid) if user is not None else None
    if person is None or not identity_claim_is_contact(claim=claim, customer=person):
        response = _claim_render(request, claim, "not_you", status=403)
    else:
        request.session.cycle_key()
        request.session[_proof_key(claim)] = {"customer": person.pk, "at": time.time()}
        response = HttpResponseRedirect(_claim_path(claim))
    return sign_in.done(request, response)


def _claim_answer(request: HttpRequest, claim: IdentityClaim) -> HttpResponse:
    customer_id = _proven(request, claim)
    if customer_id is None:
        return _claim_render(request, claim, "not_you", status=403)
    request.session.pop(_proof_key(claim), None)
    try:
        if request.POST.get("answer") == "no":
            identity_claim_dismiss(claim=claim)
            return _claim_render(request, claim, "declined")
        identity_claim_confirm(
            claim=claim, via=IdentityClaim.Via.CUSTOMER, confirmer=Customer.objects.get(pk=customer_id)
        )
    except ApplicationError:
        return _claim_render(request, claim, "closed")
    # The same words whether the link completed now or waits for the store: what the customer sees reveals nothing.
    return _claim_render(request, claim, "confirmed")
