"""README's service-token commands, taken from README.md as written and run."""

import io
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

ROOT = Path(__file__).resolve().parents[2]


def _readme_lines(word):
    return [line.strip() for line in (ROOT / "README.md").read_text().splitlines() if word in line]


@pytest.mark.django_db
def test_the_readme_token_command_prints_a_token_the_readme_curl_line_can_use():
    (create,) = [line for line in _readme_lines("create_service_account") if line.startswith("TOKEN=$(")]
    words = shlex.split(re.fullmatch(r"TOKEN=\$\((.*)\)", create).group(1))
    env = dict(w.split("=", 1) for w in words if re.fullmatch(r"[A-Z_]+=.*", w))
    argv = [w for w in words if not re.fullmatch(r"[A-Z_]+=.*", w)]
    assert argv[:2] == [".venv/bin/python", "manage.py"] and (ROOT / argv[1]).exists()
    # The line's own environment is all a new user's shell has: the settings must load with it
    # (without DEBUG=1 they refuse to start for want of a SECRET_KEY).
    shell = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **env}
    loaded = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=shell, capture_output=True, text=True)
    assert loaded.returncode == 0, loaded.stderr[-500:]
    out, err = io.StringIO(), io.StringIO()
    call_command(*argv[2:], stdout=out, stderr=err)
    token = out.getvalue().strip()  # what $( ... ) captures: stdout only
    assert token and "shown once" in err.getvalue()

    (curl,) = [line for line in _readme_lines("curl") if "$TOKEN" in line]
    header, url = shlex.split(curl)[2], shlex.split(curl)[3]
    assert header == "Authorization: Bearer $TOKEN"
    response = APIClient().get(urlsplit(url).path, HTTP_AUTHORIZATION=header.split(": ", 1)[1].replace("$TOKEN", token))
    assert response.status_code == 200, response.content
