"""A product's barcode (exact look-up for a scan), its style's index (a result lists the style's variants), and on
PostgreSQL a trigram index on the name, so that the catalogue search's ILIKE '%keyword%' (Chinese included) is an
index scan, and a prefix index on UPPER(sku), for what `sku__istartswith` asks (customers.catalogue)."""

from django.db import migrations, models

SEARCH_INDEXES = {
    "product_name_trgm": "USING gin (name gin_trgm_ops)",
    "product_sku_prefix": "(UPPER(sku::text) text_pattern_ops)",
}


def search_indexes_create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, definition in SEARCH_INDEXES.items():
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON customers_product {definition}")


def search_indexes_drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in SEARCH_INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("customers", "0011_note_customer_created_at")]

    operations = [
        migrations.AddField(
            model_name="product",
            name="barcode",
            field=models.CharField(
                blank=True,
                db_default="",
                default="",
                help_text="商品条码（如 EAN-13 6901234567890）；导购在企业微信里扫码即可找到商品",
                max_length=32,
                verbose_name="条码",
            ),
        ),
        migrations.AddIndex(
            model_name="product",
            index=models.Index(condition=~models.Q(barcode=""), fields=["barcode"], name="product_barcode"),
        ),
        migrations.AddIndex(
            model_name="product",
            index=models.Index(condition=~models.Q(style_code=""), fields=["style_code"], name="product_style"),
        ),
        migrations.RunPython(search_indexes_create, search_indexes_drop, elidable=False),
    ]
