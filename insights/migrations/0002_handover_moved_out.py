"""Handover and HandoverItem moved to `clientbook`: they leave this app's state only; their tables and rows stay (the
client book keeps the same db_table)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("insights", "0001_initial"),
        ("clientbook", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name='handoveritem',
                    name='handover',
                ),
                migrations.RemoveField(
                    model_name='handoveritem',
                    name='customer',
                ),
                migrations.DeleteModel(
                    name='Handover',
                ),
                migrations.DeleteModel(
                    name='HandoverItem',
                ),
            ],
        ),
    ]
