"""The one outbound HTTP stack: probes, webhooks, chat notifications and replays all call
``Client.request`` / ``request_sync``; nothing else in the project builds an HTTP client.

- ``guard``: what a URL's host is (normalised as the connecting code sees it) and whether
  it may be called (``check_url`` without DNS for saving a URL, ``guard_url`` with DNS);
- ``policy``: the error vocabulary (``ErrorKind``), the limits, the redirect policy;
- ``client``: the transport, which applies both at every hop and pins connections to the
  checked addresses.
"""

from .client import Client, request_sync
from .guard import (
    GuardedTarget,
    OutboundURLDenied,
    address_denied_reason,
    check_url,
    guard_url,
    normalise_host,
)
from .policy import ErrorKind, Limits, Outcome

__all__ = [
    "Client", "ErrorKind", "GuardedTarget", "Limits", "OutboundURLDenied", "Outcome", "address_denied_reason",
    "check_url", "guard_url", "normalise_host", "request_sync",
]
