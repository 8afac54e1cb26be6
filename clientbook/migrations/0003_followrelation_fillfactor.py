"""Room in each page of associates_followrelation for the nightly contacts sync's upsert of every friendship: with
free space on the row's page and no indexed value changed, PostgreSQL updates the row in place (a HOT update) rather
than adding an entry to each of the table's five indexes. New pages get it at once, existing ones as they are
rewritten. SQLite has no fillfactor: nothing to do there."""

from django.db import migrations


def _fillfactor(percent: int):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"ALTER TABLE associates_followrelation SET (fillfactor = {percent})")

    return apply


class Migration(migrations.Migration):
    dependencies = [("clientbook", "0002_followrelation_seen_by_sync")]

    operations = [migrations.RunPython(_fillfactor(80), _fillfactor(100))]
