"""Omni's URLs: the home page, admin, ingestion API, OpenAPI schema and docs."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from associates.views import workbench
from customers.views import identity_claim_page, product_page
from omni.views import home

admin.site.site_header = "Omni 导购助手 · 管理后台"
admin.site.site_title = "Omni 管理后台"
admin.site.index_title = "门店运营"

urlpatterns = [
    path("", home, name="home"),
    path("admin/", admin.site.urls),
    path("api/v1/sidebar/", include("associates.api_urls")),
    path("api/v1/sidebar/", include("suggestions.api_urls")),
    path("api/v1/sidebar/", include("coupons.sidebar_urls")),
    path("api/v1/coupons/", include("coupons.api_urls")),
    path("api/v1/", include("customers.urls")),
    path("wecom/", include("omni.wecom.urls")),
    path("sidebar/", include("associates.urls")),
    path("workbench/", workbench, name="workbench"),
    path("p/<str:sku>/", product_page, name="product-page"),
    path("l/<str:token>/", identity_claim_page, name="identity-claim"),
    path("c/", include("coupons.urls")),
    path("", include("communities.urls")),
    path("", include("campaigns.urls")),
    path("", include("insights.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
]
