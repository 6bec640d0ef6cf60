"""What every outbound call shares whatever its caller: the error vocabulary, the limits and
the redirect policy."""

import enum
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from django.conf import settings


class ErrorKind(enum.StrEnum):
    """The closed set of ways an outbound call fails. Every caller stores the error as
    ``"<kind>: <detail>"`` (``Outcome.error``), so the kind is what pages show first and
    what code may branch on (``Outcome.kind``)."""

    DENIED = "denied"  # the guard refused the URL or an address it resolves to (any hop)
    TIMEOUT = "timeout"  # no complete answer within the total deadline (or every connect timed out)
    CONNECT = "connect_failed"  # name not resolvable, connection refused/unreachable, TLS handshake failed
    DISCONNECTED = "disconnected"  # the peer closed or reset the connection before a whole response
    BAD_RESPONSE = "bad_response"  # not HTTP/1.x, broken framing, headers too large, unusable redirect Location
    REDIRECTS = "too_many_redirects"
    HTTP_STATUS = "http_status"  # a complete answer, but not the 2xx the caller needed
    INVALID_REQUEST = "invalid_request"  # our side: a header with a newline, say
    INTERNAL = "internal"  # a bug of ours; recorded, never raised into a sweep or task


class OutboundError(Exception):
    """A failure of one kind, raised inside the client and turned into an ``Outcome``."""

    def __init__(self, kind: ErrorKind, detail: str):
        super().__init__(detail)
        self.kind = kind


@dataclass
class Outcome:
    """The result of one outbound call (all its redirect hops). ``status`` is None when no
    final answer arrived; then ``kind`` and ``error`` say why."""

    status: int | None = None
    body: bytes = b""
    truncated: bool = False
    elapsed_ms: int | None = None
    error: str = ""
    kind: str = ""
    connected: bool = False

    @classmethod
    def failed(cls, kind: ErrorKind, detail: str, **fields):
        return cls(kind=kind, error=f"{kind}: {detail}"[:200], **fields)

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def failure(self) -> str:
        """"" for a 2xx answer, else the error in the shared vocabulary (a non-2xx answer
        is ``http_status: HTTP <code>``): what webhook and replay callers record."""
        if self.succeeded:
            return ""
        if self.status is not None:
            return f"{ErrorKind.HTTP_STATUS}: HTTP {self.status}"
        return self.error or f"{ErrorKind.INTERNAL}: no answer and no error"


@dataclass(frozen=True)
class Limits:
    """Bounds of one call. ``total_s`` covers resolving, connecting, every redirect hop,
    the headers and the body, so a target trickling a byte a second cannot stretch it;
    ``connect_s`` bounds each connection attempt inside it. At most ``max_body`` bytes of
    the (inflated) body are kept; gzip/deflate is inflated by us in steps bounded by what
    is left of ``max_body``, at most ``max_inflate_ratio`` times the compressed bytes
    (past 64 KiB of output), and at most ``max_wire`` raw body bytes are read."""

    total_s: float = 10.0
    connect_s: float = 5.0
    max_body: int = 64 * 1024
    max_inflate_ratio: int = 100
    max_redirects: int = 5
    max_head: int = 64 * 1024

    @classmethod
    def from_settings(cls):
        return cls(
            connect_s=getattr(settings, "OUTBOUND_CONNECT_TIMEOUT_SECONDS", 5),
            max_inflate_ratio=getattr(settings, "OUTBOUND_MAX_INFLATE_RATIO", 100),
            max_redirects=getattr(settings, "OUTBOUND_MAX_REDIRECTS", 5),
        )


REDIRECT_STATUSES = frozenset((301, 302, 303, 307, 308))
# Credentials a redirect to another origin must not carry along.
_ORIGIN_BOUND_HEADERS = frozenset(("authorization", "proxy-authorization", "cookie"))


def _origin(url):
    parts = urlsplit(url)
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port


def next_hop(method, url, data, headers, status, location):
    """The redirect policy: (method, url, data, headers) of the next hop, or None when
    ``status`` is the final answer.

    307/308 repeat the request (method and body) at the new URL; 301/302/303 are followed
    only by GET and HEAD: a POST (a webhook, a replay) is never silently turned into a GET
    that could "succeed" without delivering anything, so for it they are the (failed)
    answer. A Location that is not a printable ASCII URL (raw non-UTF-8 bytes, say) is a
    ``bad_response``. A hop to another origin drops credentials headers. The guard runs on
    the new URL before it is connected to (in the client), like on the first."""
    if status not in REDIRECT_STATUSES or location is None:
        return None
    if not location or not location.isascii() or not location.isprintable() or " " in location.strip():
        raise OutboundError(ErrorKind.BAD_RESPONSE,
                            f"redirect Location is not a valid URL: {location[:60].encode('unicode_escape').decode()}")
    if status in (301, 302, 303) and method not in ("GET", "HEAD"):
        return None
    new_url = urljoin(url, location.strip())
    if headers and _origin(new_url) != _origin(url):
        headers = {name: value for name, value in headers.items() if name.lower() not in _ORIGIN_BOUND_HEADERS}
    return method, new_url, data, headers
