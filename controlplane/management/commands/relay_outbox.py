"""Publish pending outbox messages: once, or in a loop (``--loop``) as a standalone relay
process for when beat is down or cannot be trusted to reach the broker."""

import time

from django.core.management.base import BaseCommand

from controlplane.outbox import relay


class Command(BaseCommand):
    help = "Publish pending outbox messages to the Celery broker."

    def add_arguments(self, parser):
        parser.add_argument("--loop", action="store_true", help="Keep relaying until interrupted.")
        parser.add_argument("--interval", type=float, default=5.0, help="Seconds between runs with --loop.")
        parser.add_argument("--older-than", type=int, default=None,
                            help="Only messages pending for at least this many seconds (default: setting).")

    def handle(self, *args, loop=False, interval=5.0, older_than=None, **options):
        while True:
            stats = relay(older_than=older_than)
            self.stdout.write(f"sent {stats['sent']}, failed {stats['failed']}, pending {stats['pending']}")
            if not loop:
                return
            time.sleep(interval)
