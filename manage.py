#!/usr/bin/env python
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings.base")
    # Comparing models with migration files signs and serves nothing, so it may run without
    # a SECRET_KEY (a CI hook running `makemigrations --check` in a bare environment).
    # Every other command, the server first, still refuses to start without one.
    if sys.argv[1:2] in (["makemigrations"], ["showmigrations"]):
        os.environ.setdefault("ALLOW_INSECURE_SECRET_KEY", "1")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
