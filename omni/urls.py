"""Omni's URLs, from every app: the home page, admin, the APIs, WeCom's callback, the associate's and the
customer's pages, the OpenAPI schema and docs."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from customers.views import identity_claim_page, product_page
from demo.views import home
from omni.metrics import metrics_view

admin.site.site_header = "Omni 导购助手 · 管理后台"
admin.site.site_title = "Omni 管理后台"
admin.site.index_title = "门店运营"

urlpatterns = [
    path("", home, name="home"),
    path("admin/", admin.site.urls),
    path("api/v1/sidebar/", include("sidebar.api_urls")),
    path("api/v1/coupons/", include("coupons.api_urls")),
    path("api/v1/", include("customers.urls")),
    path("wecom/", include("wecom.urls")),
    path("wecom/", include("associates.auth_urls")),
    path("", include("sidebar.urls")),
    path("p/<str:sku>/", product_page, name="product-page"),
    path("l/<str:token>/", identity_claim_page, name="identity-claim"),
    path("c/", include("coupons.urls")),
    path("", include("campaigns.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
    # Prometheus' scrape: allowed addresses or a bearer token only; omni.metrics.MetricsMiddleware answers it before
    # the Host check, this names it.
    path("metrics", metrics_view, name="metrics"),
]
