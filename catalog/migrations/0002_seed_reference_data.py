"""Seeds the reference data every firm shares: business domains, the canonical entities
of a professional-services data model and the workflows that move them."""

from django.db import migrations


def seed(apps, schema_editor):
    from catalog import reference

    reference.seed(apps)


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
