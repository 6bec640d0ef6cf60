import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings.base")
application = get_wsgi_application()

# The URL resolver builds its reverse table on the first reverse() of the process: here, as
# the worker starts, rather than in the first requests that link to a page (a registration's
# 42290 answer gives its review page). Django lets concurrent threads each build it, so the
# threads of a fresh gthread worker used to spend ~60 ms of CPU apiece on it, one after the other.
from django.urls import get_resolver  # noqa: E402

get_resolver().reverse_dict  # noqa: B018

# What the worker loaded to get here (modules, classes, settings, URL patterns) lives as
# long as the process: out of the garbage collector's sight, so its full collections stop
# walking it again and again. They are set off by allocation-heavy requests (a wire
# registration's first check of a subject builds thousands of nodes): measured in process,
# that check went from ~72 to ~26 ms of CPU (docs/stewardship.md, "Benchmark").
gc.freeze()
