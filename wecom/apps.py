from django.apps import AppConfig


class WeComConfig(AppConfig):
    name = "wecom"
    label = "wecom"
    verbose_name = "企业微信"
