"""Omni's URLs, from every app: the home page, admin, the APIs, WeCom's callback, the associate's and the
customer's pages, the OpenAPI schema and docs."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.authentication import SessionAuthentication

from customers.apis import ApiKeyAuthentication
from customers.views import identity_claim_page, product_page
from demo.views import home
from omni.api_docs import ApiDocsReaders, ApiDocsView, ApiRedocView
from omni.health import healthz, readyz
from omni.metrics import metrics_view
from wecom.admin import wecom_check_view

admin.site.site_header = "Omni 导购助手 · 管理后台"
admin.site.site_title = "Omni 管理后台"
admin.site.index_title = "门店运营"

# The schema and its docs: staff signed in to the admin, or an API key; anyone in the embedded default (omni.api_docs).
_DOCS_ACCESS = {
    "authentication_classes": [SessionAuthentication, ApiKeyAuthentication],
    "permission_classes": [ApiDocsReaders],
}

urlpatterns = [
    path("", home, name="home"),
    # A page of the admin site that belongs to no model: the WeCom checks (superusers only, checked in the view).
    path("admin/wecom/check/", admin.site.admin_view(wecom_check_view), name="wecom-check"),
    # Probes: public, no login, no WeCom (omni.health).
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("api/v1/sidebar/", include("sidebar.api_urls")),
    path("api/v1/coupons/", include("coupons.api_urls")),
    path("api/v1/", include("clientbook.api_urls")),
    path("api/v1/", include("customers.urls")),
    path("api/v1/pickups/", include("fulfilment.api_urls")),
    path("wecom/", include("wecom.urls")),
    path("wecom/", include("associates.auth_urls")),
    path("", include("sidebar.urls")),
    path("p/<str:sku>/", product_page, name="product-page"),
    path("l/<str:token>/", identity_claim_page, name="identity-claim"),
    path("c/", include("coupons.urls")),
    path("a/", include("appointments.urls")),
    path("h/", include("fulfilment.urls")),
    path("", include("campaigns.urls")),
    path("api/schema/", SpectacularAPIView.as_view(**_DOCS_ACCESS), name="schema"),
    path("api/docs/", ApiDocsView.as_view(url_name="schema", **_DOCS_ACCESS), name="api-docs"),
    path("api/redoc/", ApiRedocView.as_view(url_name="schema", **_DOCS_ACCESS), name="api-redoc"),
    # Prometheus' scrape: allowed addresses or a bearer token only; omni.metrics.MetricsMiddleware answers it before
    # the Host check, this names it.
    path("metrics", metrics_view, name="metrics"),
]
