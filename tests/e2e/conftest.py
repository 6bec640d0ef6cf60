"""Browser tests: Playwright for Python driving Debian's Chromium against live_server."""


import pytest


@pytest.fixture
def login(live_server, page):
    """``login('architect')`` signs the browser in through the login form."""

    def do(username, password=None):
        page.goto(f"{live_server.url}/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", password or f"pw-{username}")
        page.click("button[type=submit]")
        page.wait_for_url(lambda url: "/login/" not in url)
        return page

    return do
