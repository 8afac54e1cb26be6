from django.db import migrations, models

# Before scopes every key could call every operation; existing keys keep that, except that a key limited to
# stores no longer rewrites the brand's catalogue (issue 19, finding 4).
STORE_SCOPES = ["members", "orders", "coupons"]


def scopes_grant(apps, schema_editor):
    ApiKey = apps.get_model("customers", "ApiKey")
    limited = set(ApiKey.stores.through.objects.values_list("apikey_id", flat=True).distinct())
    for api_key in ApiKey.objects.all():
        api_key.scopes = STORE_SCOPES if api_key.pk in limited else ["catalogue", *STORE_SCOPES]
        api_key.save(update_fields=["scopes"])


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0006_identity_wechat_oa_openid"),
    ]

    operations = [
        migrations.AddField(
            model_name="apikey",
            name="scopes",
            field=models.JSONField(blank=True, default=list, verbose_name="权限范围"),
        ),
        migrations.RunPython(scopes_grant, migrations.RunPython.noop),
    ]
