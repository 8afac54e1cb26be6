"""BOPIS routes under /api/v1/pickups/ (the OMS and POS)."""

from django.urls import path

from fulfilment.bopis_apis import PickupReadyApi

urlpatterns = [
    path("ready", PickupReadyApi.as_view(), name="pickup-ready"),
]
