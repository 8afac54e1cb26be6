"""ContactWay, FollowRelation and FollowUpTask moved to `clientbook`, GroupChat to `communities`: they leave this app's
state only; their tables and rows stay (the new apps keep the same db_table)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("associates", "0005_groupchat_dismissed_at_groupchat_member_version_and_more"),
        ("clientbook", "0001_initial"),
        ("communities", "0003_groupchat_from_associates"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name='followrelation',
                    name='contact_way',
                ),
                migrations.RemoveField(
                    model_name='followrelation',
                    name='associate',
                ),
                migrations.RemoveField(
                    model_name='followrelation',
                    name='customer',
                ),
                migrations.RemoveField(
                    model_name='followuptask',
                    name='associate',
                ),
                migrations.RemoveField(
                    model_name='followuptask',
                    name='customer',
                ),
                migrations.RemoveField(
                    model_name='groupchat',
                    name='owner',
                ),
                migrations.DeleteModel(
                    name='ContactWay',
                ),
                migrations.DeleteModel(
                    name='FollowRelation',
                ),
                migrations.DeleteModel(
                    name='FollowUpTask',
                ),
                migrations.DeleteModel(
                    name='GroupChat',
                ),
            ],
        ),
    ]
