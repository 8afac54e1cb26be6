"""Pages customers see: the product page a news card sent from the chat links to."""

from django.db.models import Q
from django.http import Http404, HttpRequest
from django.shortcuts import render

from customers.categories import category_label
from customers.models import Product, StoreStock


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
