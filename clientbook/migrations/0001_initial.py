"""The client book's models, moved here from `associates` (ContactWay, FollowRelation, FollowUpTask) and `insights`
(Handover, HandoverItem) with their tables, rows and names unchanged: only Django's state moves (the tables keep their
db_table), and the content types follow, so permissions and admin history stay attached."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


# (model, the app it came from): each keeps its table, and its content type changes app keeping its id.
MOVED = (
    ("contactway", "associates"),
    ("followrelation", "associates"),
    ("followuptask", "associates"),
    ("handover", "insights"),
    ("handoveritem", "insights"),
)


def content_types_move(apps, schema_editor):
    """Admin log entries and permissions follow the models: their content types change app, keeping their ids."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model, old_app in MOVED:
        if not ContentType.objects.filter(app_label="clientbook", model=model).exists():
            ContentType.objects.filter(app_label=old_app, model=model).update(app_label="clientbook")


def content_types_back(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model, old_app in MOVED:
        ContentType.objects.filter(app_label="clientbook", model=model).update(app_label=old_app)


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("associates", "0005_groupchat_dismissed_at_groupchat_member_version_and_more"),
        ("insights", "0001_initial"),
        ("customers", "0009_apikey_stock_scope"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='ContactWay',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('label', models.CharField(blank=True, help_text='如：门店收银台、某活动', max_length=100, verbose_name='用途')),
                        ('state', models.CharField(max_length=30, unique=True, verbose_name='渠道参数 state')),
                        ('config_id', models.CharField(blank=True, max_length=64, null=True, unique=True, verbose_name='企业微信 config_id')),
                        ('qr_code', models.URLField(blank=True, max_length=500, verbose_name='二维码')),
                        ('created_at', models.DateTimeField(auto_now_add=True, verbose_name='创建时间')),
                        ('associate', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='contact_ways', to='associates.associate', verbose_name='导购')),
                        ('store', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='contact_ways', to='associates.store', verbose_name='门店')),
                    ],
                    options={
                        'verbose_name': '联系我二维码',
                        'verbose_name_plural': '联系我二维码',
                        'db_table': 'associates_contactway',
                    },
                ),
                migrations.CreateModel(
                    name='Handover',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('kind', models.CharField(choices=[('onjob', '在职继承'), ('resigned', '离职继承')], max_length=16, verbose_name='方式')),
                        ('message', models.CharField(blank=True, help_text='在职继承时发给客户的提示；留空使用企业微信默认', max_length=200, verbose_name='转接提示语')),
                        ('created_at', models.DateTimeField(auto_now_add=True, verbose_name='发起时间')),
                        ('created_by', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='操作人')),
                        ('from_associate', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='handovers_out', to='associates.associate', verbose_name='原导购')),
                        ('to_associate', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='handovers_in', to='associates.associate', verbose_name='接替导购')),
                    ],
                    options={
                        'verbose_name': '客户交接',
                        'verbose_name_plural': '客户交接',
                        'db_table': 'insights_handover',
                        'ordering': ['-pk'],
                    },
                ),
                migrations.CreateModel(
                    name='FollowRelation',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('external_userid', models.CharField(max_length=64, verbose_name='外部联系人ID')),
                        ('add_way', models.SmallIntegerField(blank=True, null=True, verbose_name='添加方式')),
                        ('contact_type', models.PositiveSmallIntegerField(blank=True, choices=[(1, '微信用户'), (2, '企业微信用户')], null=True, verbose_name='客户类型')),
                        ('state', models.CharField(blank=True, max_length=30, verbose_name='渠道参数 state')),
                        ('remark', models.CharField(blank=True, max_length=100, verbose_name='备注名')),
                        ('followed_at', models.DateTimeField(verbose_name='添加时间')),
                        ('ended_at', models.DateTimeField(blank=True, null=True, verbose_name='结束时间')),
                        ('ended_reason', models.CharField(blank=True, choices=[('customer_deleted', '客户删除了导购'), ('associate_deleted', '导购删除了客户'), ('transferred', '已转接给其他导购')], max_length=20, verbose_name='结束原因')),
                        ('welcome', models.CharField(choices=[('none', '无欢迎语'), ('pending', '待发送'), ('sent', '已发送'), ('already_sent', '已由其他方式发送'), ('expired', '已超时'), ('failed', '发送失败')], default='none', max_length=16, verbose_name='欢迎语')),
                        ('associate', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='follows', to='associates.associate', verbose_name='导购')),
                        ('contact_way', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='follows', to='clientbook.contactway', verbose_name='来源二维码')),
                        ('customer', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='follows', to='customers.customer', verbose_name='客户')),
                    ],
                    options={
                        'verbose_name': '好友关系',
                        'verbose_name_plural': '好友关系',
                        'db_table': 'associates_followrelation',
                        'indexes': [models.Index(fields=['customer', 'associate'], name='associates__custome_120d73_idx')],
                        'constraints': [models.UniqueConstraint(fields=('associate', 'external_userid'), name='follow_associate_external_unique')],
                    },
                ),
                migrations.CreateModel(
                    name='FollowUpTask',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('title', models.CharField(max_length=200, verbose_name='任务')),
                        ('due_on', models.DateField(verbose_name='截止日期')),
                        ('occasion', models.CharField(blank=True, max_length=64, verbose_name='场景')),
                        ('done_at', models.DateTimeField(blank=True, null=True, verbose_name='完成时间')),
                        ('created_at', models.DateTimeField(auto_now_add=True, verbose_name='创建时间')),
                        ('associate', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='tasks', to='associates.associate', verbose_name='导购')),
                        ('customer', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='follow_up_tasks', to='customers.customer', verbose_name='客户')),
                    ],
                    options={
                        'verbose_name': '跟进任务',
                        'verbose_name_plural': '跟进任务',
                        'db_table': 'associates_followuptask',
                        'ordering': ['done_at', 'due_on', 'pk'],
                        'indexes': [models.Index(fields=['associate', 'done_at', 'due_on'], name='associates__associa_189ab2_idx')],
                        'constraints': [models.UniqueConstraint(condition=models.Q(('occasion', ''), _negated=True), fields=('associate', 'customer', 'occasion'), name='follow_up_task_once_per_occasion')],
                    },
                ),
                migrations.CreateModel(
                    name='HandoverItem',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('external_userid', models.CharField(max_length=64, verbose_name='外部联系人ID')),
                        ('status', models.CharField(choices=[('waiting', '等待接替'), ('succeeded', '已接替'), ('failed', '失败')], default='waiting', max_length=16, verbose_name='状态')),
                        ('errcode', models.IntegerField(default=0, verbose_name='错误码')),
                        ('fail_reason', models.CharField(blank=True, max_length=40, verbose_name='失败原因')),
                        ('attempts', models.PositiveSmallIntegerField(default=1, verbose_name='尝试次数')),
                        ('updated_at', models.DateTimeField(auto_now=True, verbose_name='更新时间')),
                        ('finished_at', models.DateTimeField(blank=True, null=True, verbose_name='接替时间')),
                        ('customer', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='customers.customer', verbose_name='客户')),
                        ('handover', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='items', to='clientbook.handover', verbose_name='交接')),
                    ],
                    options={
                        'verbose_name': '交接客户',
                        'verbose_name_plural': '交接客户',
                        'db_table': 'insights_handoveritem',
                        'ordering': ['pk'],
                        'indexes': [models.Index(fields=['external_userid', 'status'], name='insights_ha_externa_409223_idx')],
                        'constraints': [models.UniqueConstraint(fields=('handover', 'external_userid'), name='handover_item_unique')],
                    },
                ),
            ],
        ),
        migrations.RunPython(content_types_move, content_types_back),
    ]
