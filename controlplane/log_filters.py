"""Logging filters named in ``settings.LOGGING``."""

import logging


class NoTracebackForClientErrors(logging.Filter):
    """``django.request`` logs a refused request (PermissionDenied -> 403) at WARNING with
    the exception's traceback. A 4xx is the caller's mistake, not ours: keep the one line
    (method, path, status), drop the traceback that buries real errors in the log."""

    def filter(self, record):
        status = getattr(record, "status_code", None)
        if isinstance(status, int) and 400 <= status < 500:
            record.exc_info = None
            record.exc_text = None
        return True
