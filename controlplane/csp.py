"""Content-Security-Policy on every response, from ``settings.CSP_POLICY``.

A small middleware instead of a library: the policy is one static string, and the only
exception (the vendored Swagger UI / Redoc pages, whose templates carry inline script and
style) is a per-view decorator. ``CSP_REPORT_ONLY`` switches the header to
``Content-Security-Policy-Report-Only`` for trying a stricter policy without breaking pages.
"""

from functools import wraps

from django.conf import settings


def policy_header(directives: dict[str, list[str]]) -> str:
    return "; ".join(f"{name} {' '.join(values)}".strip() for name, values in directives.items())


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        directives = getattr(response, "csp_directives", None) or settings.CSP_POLICY
        header = "Content-Security-Policy-Report-Only" if settings.CSP_REPORT_ONLY else "Content-Security-Policy"
        if header not in response:
            response[header] = policy_header(directives)
        return response


def relaxed_csp(**extra):
    """Decorate a view whose third-party template needs more than the site policy, e.g.
    ``relaxed_csp(script_src=["'unsafe-inline'"])``; values are added to the directive."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            response = view(request, *args, **kwargs)
            directives = {name: list(values) for name, values in settings.CSP_POLICY.items()}
            for key, values in extra.items():
                name = key.replace("_", "-")
                directives[name] = directives.get(name, directives.get("default-src", [])) + list(values)
            response.csp_directives = directives
            return response

        return wrapped

    return decorator
