"""Settings for the test suite: the base settings from the environment (so CI's
DATABASE_URL / REDIS_URL are honoured), with fast hashing and eager tasks by default."""

import os

os.environ.setdefault("ALLOW_INSECURE_SECRET_KEY", "1")

from .base import *  # noqa: E402,F403
from .env import env_bool  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Unit tests run tasks inline; the end-to-end worker tests start a real worker instead.
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", True)
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# One process per test worker: local memory is enough and keeps the many cache reads fast.
# The shared default (DatabaseCache) is tested in tests/security/test_login_throttle.py.
if not REDIS_URL:  # noqa: F405
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
CACHES["demo_receiver"] = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "demo-receiver"}
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
