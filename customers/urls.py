"""Ingestion API routes under /api/v1/."""

from django.urls import path

from customers.apis import (
    ConsentApi,
    MembersBatchApi,
    OrderLookupApi,
    OrderReturnApi,
    OrdersBatchApi,
    ProductsBatchApi,
    StockBatchApi,
)

urlpatterns = [
    path("members/batch", MembersBatchApi.as_view(), name="members-batch"),
    path("products/batch", ProductsBatchApi.as_view(), name="products-batch"),
    path("orders/batch", OrdersBatchApi.as_view(), name="orders-batch"),
    path("stock/batch", StockBatchApi.as_view(), name="stock-batch"),
    path("consent", ConsentApi.as_view(), name="consent"),
    path("orders/returns", OrderReturnApi.as_view(), name="order-returns"),
    path("orders/lookup", OrderLookupApi.as_view(), name="order-lookup"),
]
