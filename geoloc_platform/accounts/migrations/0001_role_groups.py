from django.db import migrations


def create_role_groups(apps, schema_editor):
    # Permissions are created after migrate; post_migrate in apps.py fills them in.
    Group = apps.get_model("auth", "Group")
    for name in ("Coordinators", "Responders"):
        Group.objects.get_or_create(name=name)


class Migration(migrations.Migration):
    dependencies = [("auth", "0012_alter_user_first_name_max_length")]
    operations = [migrations.RunPython(create_role_groups, migrations.RunPython.noop)]
