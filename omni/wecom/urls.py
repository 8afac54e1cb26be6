from django.urls import path

from omni.wecom.auth import jssdk_config, oauth_callback, oauth_start
from omni.wecom.views import wecom_callback

urlpatterns = [
    path("callback/", wecom_callback, name="wecom-callback"),
    path("oauth/start/", oauth_start, name="wecom-oauth-start"),
    path("oauth/callback/", oauth_callback, name="wecom-oauth-callback"),
    path("jssdk/config/", jssdk_config, name="wecom-jssdk-config"),
]
