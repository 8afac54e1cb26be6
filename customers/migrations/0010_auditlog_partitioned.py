"""The audit log partitioned by month on `at` (PostgreSQL; nothing changes on SQLite): retention drops a month at a
time (omni.partitions, customers.retention). The model is unchanged; the primary key becomes (id, at)."""

from django.db import migrations

from omni.partitions import MONTH, table_partition, table_unpartition


def forwards(apps, schema_editor):
    table_partition(schema_editor, table="customers_auditlog", column="at", interval=MONTH, ahead=3, back_days=1100)


def backwards(apps, schema_editor):
    table_unpartition(schema_editor, table="customers_auditlog")


class Migration(migrations.Migration):
    dependencies = [("customers", "0009_apikey_stock_scope")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
