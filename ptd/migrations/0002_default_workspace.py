"""A fresh install has the workspace `ptd` with its defaults, and the database cache table
(login throttling and worker status use the cache when Redis is not configured)."""

from django.core.management import call_command
from django.db import migrations

from ptd.defaults import seed_workspace_defaults


def create_default_workspace(apps, schema_editor):
    Workspace = apps.get_model("ptd", "Workspace")
    workspace, _ = Workspace.objects.get_or_create(
        slug="ptd", defaults={"name": "PTD Fitness", "timezone": "Asia/Dubai", "currency": "AED"}
    )
    seed_workspace_defaults(
        workspace,
        PipelineStage=apps.get_model("clients", "PipelineStage"),
        FunnelThreshold=apps.get_model("ptd", "FunnelThreshold"),
        Benchmark=apps.get_model("ptd", "Benchmark"),
        HealthConfig=apps.get_model("clients", "HealthConfig"),
    )


def create_cache_table(apps, schema_editor):
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [
        ("ptd", "0001_initial"),
        ("clients", "0002_initial"),
    ]

    operations = [
        migrations.RunPython(create_cache_table, migrations.RunPython.noop),
        migrations.RunPython(create_default_workspace, migrations.RunPython.noop),
    ]
