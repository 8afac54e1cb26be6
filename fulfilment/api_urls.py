"""The pickups API for the brand's POS and OMS, under /api/v1/pickups/ (`fulfilment.apis`)."""

from django.urls import path

from fulfilment.apis import PickupCollectApi, PickupConfirmApi, PickupListApi, PickupRefuseApi

urlpatterns = [
    path("", PickupListApi.as_view(), name="pickups-open"),
    path("collect", PickupCollectApi.as_view(), name="pickups-collect"),
    path("<str:code>/confirm", PickupConfirmApi.as_view(), name="pickups-confirm"),
    path("<str:code>/refuse", PickupRefuseApi.as_view(), name="pickups-refuse"),
]
