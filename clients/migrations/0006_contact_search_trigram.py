"""Trigram indexes for the client search, where PostgreSQL has pg_trgm (the machine's PostgreSQL does; the
embedded one ships without contrib: there the search still works, by scanning). The model state always has
them, so the migrations and the models agree on every database."""

import django.contrib.postgres.indexes
import django.db.models.functions.text
from django.db import migrations

INDEXES = [
    django.contrib.postgres.indexes.GinIndex(
        django.contrib.postgres.indexes.OpClass(django.db.models.functions.text.Upper(field), name="gin_trgm_ops"),
        name=f"contact_{field}_trgm")
    for field in ("first_name", "last_name", "email_normalized")
] + [django.contrib.postgres.indexes.GinIndex(
    django.contrib.postgres.indexes.OpClass("phone_e164", name="gin_trgm_ops"), name="contact_phone_e164_trgm")]


def _has_trgm(schema_editor) -> bool:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")
        return cursor.fetchone() is not None


def create(apps, schema_editor):
    if not _has_trgm(schema_editor):
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    model = apps.get_model("clients", "Contact")
    for index in INDEXES:
        schema_editor.add_index(model, index)


def drop(apps, schema_editor):
    for index in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {index.name}")


class Migration(migrations.Migration):

    dependencies = [
        ('clients', '0005_deal_funnel'),
        ('ptd', '0002_default_workspace'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddIndex(model_name="contact", index=index) for index in INDEXES],
            database_operations=[migrations.RunPython(create, drop)],
        ),
    ]
