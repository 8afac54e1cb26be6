"""The pickups API for the brand's POS and OMS, under /api/v1/pickups/: holds and pickups (`fulfilment.apis`) and a
store-pickup order made ready (`fulfilment.bopis_apis`)."""

from django.urls import path

from fulfilment.apis import PickupCollectApi, PickupConfirmApi, PickupListApi, PickupRefuseApi
from fulfilment.bopis_apis import PickupReadyApi

urlpatterns = [
    path("", PickupListApi.as_view(), name="pickups-open"),
    path("collect", PickupCollectApi.as_view(), name="pickups-collect"),
    path("ready", PickupReadyApi.as_view(), name="pickup-ready"),
    path("<str:code>/confirm", PickupConfirmApi.as_view(), name="pickups-confirm"),
    path("<str:code>/refuse", PickupRefuseApi.as_view(), name="pickups-refuse"),
]
