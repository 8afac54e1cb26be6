"""GroupChat moves here from `associates` with its table, rows and name unchanged: only Django's state moves (the
table keeps its db_table, and the foreign keys that point at it already point at that table); its content type follows,
so permissions and admin history stay attached."""

import django.db.models.deletion
from django.db import migrations, models


def content_type_move(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not ContentType.objects.filter(app_label="communities", model="groupchat").exists():
        ContentType.objects.filter(app_label="associates", model="groupchat").update(app_label="communities")


def content_type_back(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label="communities", model="groupchat").update(app_label="associates")


class Migration(migrations.Migration):
    dependencies = [
        ("associates", "0005_groupchat_dismissed_at_groupchat_member_version_and_more"),
        ("communities", "0002_member_wecom_join_time"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='GroupChat',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('chat_id', models.CharField(max_length=64, unique=True, verbose_name='群ID')),
                        ('name', models.CharField(blank=True, max_length=100, verbose_name='群名')),
                        ('owner_userid', models.CharField(blank=True, max_length=64, verbose_name='群主 UserID')),
                        ('member_count', models.PositiveIntegerField(default=0, verbose_name='成员数')),
                        ('status', models.CharField(choices=[('active', '正常'), ('dismissed', '已解散')], default='active', max_length=16, verbose_name='状态')),
                        ('synced_at', models.DateTimeField(blank=True, null=True, verbose_name='同步时间')),
                        ('member_version', models.CharField(blank=True, db_default='', default='', max_length=64, verbose_name='成员版本')),
                        ('wecom_created_at', models.DateTimeField(blank=True, null=True, verbose_name='建群时间')),
                        ('dismissed_at', models.DateTimeField(blank=True, null=True, verbose_name='解散时间')),
                        ('owner', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='group_chats', to='associates.associate', verbose_name='群主')),
                    ],
                    options={
                        'verbose_name': '客户群',
                        'verbose_name_plural': '客户群',
                        'db_table': 'associates_groupchat',
                    },
                ),
                migrations.AlterField(
                    model_name='community',
                    name='chats',
                    field=models.ManyToManyField(blank=True, help_text='社群背后的企业微信客户群；一个加入群聊二维码最多对应 5 个群（取最新的 5 个）', related_name='communities', to='communities.groupchat', verbose_name='客户群'),
                ),
                migrations.AlterField(
                    model_name='groupmember',
                    name='chat',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='members', to='communities.groupchat', verbose_name='群'),
                ),
                migrations.AlterField(
                    model_name='groupmemberevent',
                    name='chat',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='member_events', to='communities.groupchat', verbose_name='群'),
                ),
                migrations.AlterField(
                    model_name='invite',
                    name='joined_chat',
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='communities.groupchat', verbose_name='加入的群'),
                ),
            ],
        ),
        migrations.RunPython(content_type_move, content_type_back),
    ]
