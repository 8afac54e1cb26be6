"""The campaign card's landing page, under /m/."""

from django.urls import path

from campaigns.views import campaign_landing

urlpatterns = [
    path("m/<str:token>/", campaign_landing, name="campaign-landing"),
]
