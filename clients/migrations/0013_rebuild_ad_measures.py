from django.db import migrations

# Ad leads and ad deals now read the contact's stored first touch (marketing.metrics.paid_touch): the days they
# stored were counted by the old definition. Marking every day of contacts and deals dirty makes the readers
# compute those days from the raw rows until the every-minute refresh stores them again.
MARK = """
    INSERT INTO ptd_rollupdirty (workspace_id, source, day)
    SELECT DISTINCT r.workspace_id, %s, (r.created_at AT TIME ZONE w.timezone)::date
    FROM {table} r JOIN ptd_workspace w ON w.id = r.workspace_id
    ON CONFLICT DO NOTHING"""


def mark_dirty(apps, schema_editor):
    for table in ("clients_contact", "clients_deal"):
        schema_editor.execute(MARK.format(table=table), [table])


class Migration(migrations.Migration):

    dependencies = [
        ("clients", "0012_contact_first_touch_index"),
        ("ptd", "0003_rollups"),
    ]

    operations = [migrations.RunPython(mark_dirty, migrations.RunPython.noop)]
