"""manage.py import_backstage PATH... [--dry-run]: import Backstage descriptor files."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from catalog import backstage


class Command(BaseCommand):
    help = "Import Backstage catalog-info YAML files (directories are searched for *.yaml / *.yml)."

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+")
        parser.add_argument("--dry-run", action="store_true", help="Show the plan; change nothing.")

    def handle(self, *args, paths=(), dry_run=False, **options):
        files = []
        for raw in paths:
            path = Path(raw)
            if path.is_dir():
                found = sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
            elif path.is_file():
                found = [path]
            else:
                raise CommandError(f"{raw}: no such file or directory")
            for item in found:
                size = item.stat().st_size
                files.append((item.name, size if size > backstage.max_bytes() else item.read_bytes()))
        if not files:
            raise CommandError("no YAML files found")
        result = backstage.run_import(files, actor=None, dry_run=dry_run, note="manage.py import_backstage")
        for item in result.items:
            line = f"{item['action']:<9} {item['file']}#{item['document']} {item['kind']} {item['name']}"
            if item["target"]:
                line += f" -> {item['target']}"
            if item["changes"]:
                line += f" (changes: {', '.join(item['changes'])})"
            if item["reason"]:
                line += f": {item['reason']}"
            if item["unresolved"]:
                line += f" [unresolved: {'; '.join(item['unresolved'])}]"
            self.stdout.write(line)
        summary = ", ".join(f"{n} {a}" for a, n in sorted(result.summary().items()))
        prefix = "Dry run (nothing changed)" if dry_run else "Imported"
        self.stdout.write(self.style.SUCCESS(
            f"{prefix}: {summary}; unresolved references {result.unresolved_created} new, "
            f"{result.unresolved_resolved} resolved"
        ))
