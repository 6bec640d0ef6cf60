"""SLA breach exceptions carry codes like every other failure, SLA_AVAILABILITY rather than
sla_availability: existing breach exceptions and the routing rules that match them are
renamed with them, so a rule keeps routing what it routed."""

from django.db import migrations
from django.db.models.functions import Upper


def forwards(apps, schema_editor):
    BusinessException = apps.get_model("exceptions", "BusinessException")
    RoutingRule = apps.get_model("exceptions", "RoutingRule")
    BusinessException.objects.filter(fingerprint__startswith="health:sla:", error_code__startswith="sla_").update(
        error_code=Upper("error_code"))
    RoutingRule.objects.filter(error_code__startswith="sla_").update(error_code=Upper("error_code"))


class Migration(migrations.Migration):
    dependencies = [
        ("health", "0005_merge_20261202_1359"),
        ("exceptions", "0006_merge_20261202_0953"),
    ]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
