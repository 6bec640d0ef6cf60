"""Running callables at the same moment, for the race tests on PostgreSQL."""

import threading

from django.db import connections


def race(calls, *, timeout=30):
    """Start every callable at the same moment, each in its own thread (so its own
    database connection), and return what each returned, in order, or the exception it
    raised."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(i, call):
        try:
            barrier.wait(timeout=10)
            results[i] = call()
        except Exception as exc:  # the outcome under test, for the caller to assert on
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    return results
