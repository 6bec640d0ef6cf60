import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from kpis import services
from kpis.choices import Period
from kpis.definitions import KPIS


class Command(BaseCommand):
    help = "Compute KPI snapshots for past periods (idempotent: recomputing replaces them)."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=90, help="How far back from today (default 90).")
        parser.add_argument("--from", dest="first", help="First day (YYYY-MM-DD); overrides --days.")
        parser.add_argument("--to", dest="last", help="Last day (YYYY-MM-DD); default today.")
        parser.add_argument("--period", action="append", choices=Period.values, help="Only these periods.")
        parser.add_argument("--kpi", action="append", choices=sorted(KPIS), help="Only these KPIs.")

    def handle(self, *args, days, first, last, period, kpi, **options):
        try:
            last = dt.date.fromisoformat(last) if last else timezone.now().date()
            first = dt.date.fromisoformat(first) if first else last - dt.timedelta(days=days)
        except ValueError as exc:
            raise CommandError(f"Bad date: {exc}") from exc
        if first > last:
            raise CommandError("--from is after --to.")
        count = services.backfill(first=first, last=last, periods=tuple(period or Period.values), keys=kpi)
        self.stdout.write(f"Computed {count} snapshots from {first} to {last}.")
