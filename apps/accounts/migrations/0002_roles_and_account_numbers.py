"""Create the role groups and the sequence behind account numbers (BRS-000001, ...).

The groups' permissions are kept in step with each app's roles.py after every migrate
(apps.accounts.roles.sync_role_permissions).
"""

from django.db import migrations

ROLES = ["client", "broker_operations", "compliance", "risk", "support"]


def create_roles(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name in ROLES:
        Group.objects.get_or_create(name=name)


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        migrations.RunPython(create_roles, remove_roles),
        migrations.RunSQL(
            "CREATE SEQUENCE IF NOT EXISTS accounts_tradingaccount_number_seq START 1",
            "DROP SEQUENCE IF EXISTS accounts_tradingaccount_number_seq",
        ),
    ]
