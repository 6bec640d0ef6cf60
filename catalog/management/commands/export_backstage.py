"""manage.py export_backstage [--owner TEAM] [--kind KIND] [-o FILE]."""

from pathlib import Path

from django.core.management.base import BaseCommand

from catalog import backstage


class Command(BaseCommand):
    help = "Export the catalog as multi-document Backstage YAML."

    def add_arguments(self, parser):
        parser.add_argument("--owner", help="Only what this team (slug) owns.")
        parser.add_argument("--kind", choices=["Group", "User", "Domain", "System", "Component", "Resource", "API"])
        parser.add_argument("-o", "--output", help="Write to this file instead of standard output.")

    def handle(self, *args, owner=None, kind=None, output=None, **options):
        text = backstage.export_yaml(owner=owner, kind=kind)
        if output:
            Path(output).write_text(text, encoding="utf-8")
            self.stderr.write(f"Wrote {output}")
        else:
            self.stdout.write(text, ending="")
