"""WeCom's callback endpoint, under /wecom/ (the associate's WeCom sign-in is `associates.auth_urls`, beside it)."""

from django.urls import path

from wecom.views import wecom_callback

urlpatterns = [
    path("callback/", wecom_callback, name="wecom-callback"),
]
