"""Benchmarks (``make bench``): see __main__.py."""

from contextlib import contextmanager


@contextmanager
def test_database():
    """A throwaway test database (on whatever DATABASE_URL says) for one benchmark,
    dropped afterwards even when the benchmark fails. Yields its name."""
    from django.db import connections
    from django.test.utils import setup_test_environment, teardown_test_environment

    setup_test_environment()
    creation = connections["default"].creation
    name = creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        yield name
    finally:
        creation.destroy_test_db(name, verbosity=0)
        teardown_test_environment()
