"""``make bench``: runs every ``tests/benchmarks/bench_*.py`` module's ``main()`` in turn
(or only those named: ``python -m tests.benchmarks compat health``) and prints their numbers.

Benchmarks are not tests: they assert nothing about the machine's speed, they measure and
print. Those that need PostgreSQL say so and are skipped without DATABASE_URL.
"""

import importlib
import os
import pkgutil
import sys
import time
from pathlib import Path


def main(argv):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings.test")
    import django

    django.setup()
    here = Path(__file__).parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    wanted = [a for a in argv if not a.startswith("-")]
    if wanted:
        names = [n for n in names if any(w in n for w in wanted)]
    failures = 0
    for name in names:
        print(f"\n=== {name} ===", flush=True)
        started = time.perf_counter()
        try:
            importlib.import_module(f"tests.benchmarks.{name}").main()
        except Exception as exc:  # one broken benchmark should not hide the others' numbers
            failures += 1
            print(f"!!! {name} failed: {type(exc).__name__}: {exc}")
        finally:
            _leave_test_environment()
        print(f"--- {name}: {time.perf_counter() - started:.1f} s", flush=True)
    return 1 if failures else 0



def _leave_test_environment():
    """Each benchmark starts outside Django's test environment, whatever the one before
    did: one that set it up and left it (``setup_test_environment`` without its teardown)
    made every later one fail with "setup_test_environment() was already called"."""
    from django.test.utils import _TestState, teardown_test_environment

    if hasattr(_TestState, "saved_data"):
        teardown_test_environment()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
