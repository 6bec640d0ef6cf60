"""Absolute links for places outside a request (emails, notifications)."""

from django.conf import settings


def absolute_url(path: str) -> str:
    """``/exceptions/12/`` -> ``http://127.0.0.1:8000/exceptions/12/`` (``SITE_URL``)."""
    return settings.SITE_URL.rstrip("/") + path
