from django.db import migrations

# The keys that could send stock before it had its own scope keep that: a key that writes the catalogue (stock
# travelled in products rows), and a key limited to stores, whose POS now sends its stores' stock (issue 19).


def stock_grant(apps, schema_editor):
    ApiKey = apps.get_model("customers", "ApiKey")
    limited = set(ApiKey.stores.through.objects.values_list("apikey_id", flat=True).distinct())
    for api_key in ApiKey.objects.all():
        if "stock" not in api_key.scopes and (api_key.pk in limited or "catalogue" in api_key.scopes):
            api_key.scopes = [*api_key.scopes, "stock"]  # the scopes' declared order: stock is the last
            api_key.save(update_fields=["scopes"])


def stock_revoke(apps, schema_editor):
    ApiKey = apps.get_model("customers", "ApiKey")
    for api_key in ApiKey.objects.all():
        if "stock" in api_key.scopes:
            api_key.scopes = [scope for scope in api_key.scopes if scope != "stock"]
            api_key.save(update_fields=["scopes"])


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0008_identity_claim"),
    ]

    operations = [
        migrations.RunPython(stock_grant, stock_revoke),
    ]
