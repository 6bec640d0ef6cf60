"""Settings of the gunicorn workers bench_hotpath starts: production's, with the bench's URL
configuration in front (its bare view beside the project's URLs)."""

from controlplane.settings.production import *  # noqa: F403

ROOT_URLCONF = "tests.benchmarks.bench_hotpath"
