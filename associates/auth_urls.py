"""The associate's WeCom sign-in (OAuth) and the JS-SDK signature, under /wecom/."""

from django.urls import path

from associates.admin_login import admin_wecom_login_callback, admin_wecom_login_start
from associates.auth import jssdk_config, oauth_callback, oauth_start

urlpatterns = [
    path("oauth/start/", oauth_start, name="wecom-oauth-start"),
    path("oauth/callback/", oauth_callback, name="wecom-oauth-callback"),
    path("jssdk/config/", jssdk_config, name="wecom-jssdk-config"),
    path("admin-login/", admin_wecom_login_start, name="admin-wecom-login"),
    path("admin-login/callback/", admin_wecom_login_callback, name="admin-wecom-login-callback"),
]
