"""A real OpenID Connect provider for the single sign-on tests: panva's ``oidc-provider``
from the npm registry (tests/sso/idp/, installed with ``npm ci`` when its node_modules is
missing), started on a free loopback port with one client whose redirect URI is the live
server's callback. Its sign-in page accepts the logins of ``ACCOUNTS``; any other login
cannot sign in. Fails (never skips) under CI=true when Node.js is missing."""

import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from urllib.error import URLError
from urllib.request import urlopen

import pytest

from tests.conftest import IN_CI

IDP_DIR = Path(__file__).parent / "idp"
CLIENT_ID = "control-plane"
CLIENT_SECRET = "test-client-secret-0123456789abcdef-0123456789abcdef"
ACCOUNTS = {
    "fiona": {"email": "fiona.finance@northbridge.example", "name": "Fiona Hale", "groups": ["cp-finance", "billing-team"]},
    "archie": {"email": "archie@northbridge.example", "name": "Archie Stone", "groups": ["cp-architects"]},
    "nobody": {"email": "nobody@northbridge.example", "name": "No Body", "groups": []},
}
GROUP_ROLES = {"cp-finance": ["Finance"], "cp-architects": ["Architect"]}
GROUP_TEAMS = {"billing-team": ["billing"]}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _need(what: str):
    if IN_CI:
        pytest.fail(what)
    pytest.skip(what)


@pytest.fixture(scope="session")
def idp(live_server):
    """The running provider: ``idp.issuer``, ``idp.endpoints`` (the settings to point the
    control plane at it)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        _need("Node.js and npm are needed for the OIDC provider (apt-get install -y nodejs npm)")
    if not (IDP_DIR / "node_modules" / "oidc-provider").exists():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=IDP_DIR, check=True, capture_output=True, timeout=300)
    port = _free_port()
    issuer = f"http://127.0.0.1:{port}"
    env = {**os.environ, "IDP_PORT": str(port), "IDP_ACCOUNTS": json.dumps(ACCOUNTS),
           "IDP_CLIENT": json.dumps({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                                     "redirect_uris": [f"{live_server.url}/oidc/callback/"]})}
    process = subprocess.Popen([node, "server.js"], cwd=IDP_DIR, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    discovery = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail("the OIDC provider exited: " + process.stdout.read().decode(errors="replace")[-2000:])
        try:
            with urlopen(f"{issuer}/.well-known/openid-configuration", timeout=2) as response:
                discovery = json.load(response)
            break
        except (URLError, OSError):
            time.sleep(0.2)
    if discovery is None:
        process.kill()
        pytest.fail("the OIDC provider did not start within 30 s")

    class Idp:
        pass

    provider = Idp()
    provider.issuer = issuer
    provider.discovery = discovery
    provider.endpoints = {
        "OIDC_OP_AUTHORIZATION_ENDPOINT": discovery["authorization_endpoint"],
        "OIDC_OP_TOKEN_ENDPOINT": discovery["token_endpoint"],
        "OIDC_OP_USER_ENDPOINT": discovery["userinfo_endpoint"],
        "OIDC_OP_JWKS_ENDPOINT": discovery["jwks_uri"],
    }
    yield provider
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture
def sso_on(idp, settings):
    """Single sign-on configured against the test provider (the settings the environment
    variables of controlplane/settings/base.py would give)."""
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
    for name, value in idp.endpoints.items():
        setattr(settings, name, value)
    settings.OIDC_ENABLED = True
    settings.OIDC_PROVIDER_NAME = "Northbridge ID"
    settings.OIDC_GROUP_ROLES = GROUP_ROLES
    settings.OIDC_GROUP_TEAMS = GROUP_TEAMS
    settings.OUTBOUND_URL_ALLOWLIST = ["127.0.0.1"]
    return idp

