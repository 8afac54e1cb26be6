"""The customer's pickup card, under /h/ (`fulfilment.views`)."""

from django.urls import path

from fulfilment.views import pickup_card

urlpatterns = [
    path("<str:token>/", pickup_card, name="pickup-card"),
]
