"""drf-spectacular extensions: document the service-token scheme in the OpenAPI schema."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ServiceTokenScheme(OpenApiAuthenticationExtension):
    target_class = "controlplane.authentication.ServiceTokenAuthentication"
    name = "serviceToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "Service-account token from `manage.py create_service_account`.",
        }


# Every API error, whatever its status, has one shape (controlplane/api.py). The schema says
# so for each operation, so clients (and schemathesis) know a 403 or 404 is a documented
# answer rather than a surprise.
ERROR_COMPONENT = {
    "type": "object",
    "description": "The one error shape of the API.",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string", "description": "Machine-readable reason, e.g. validation_failed."},
                "message": {"type": "string", "description": "What went wrong, for a person."},
                "fields": {
                    "type": "object",
                    "additionalProperties": True,
                    "description": "Per-field messages (validation) or extra detail.",
                },
            },
            "required": ["code", "message", "fields"],
        }
    },
    "required": ["error"],
}
ERROR_DESCRIPTIONS = {
    "400": "Invalid input (body, query parameter or filter).",
    "401": "No credentials, or a token that is invalid or revoked.",
    "403": "Signed in without the permission this operation needs.",
    "404": "No such object (or page).",
    "409": "Conflict: the object is not in a state that allows this, or somebody changed it first.",
    "413": "The request body is larger than the API accepts.",
    "415": "The request body's content type is not accepted.",
}
_ALWAYS = ("400", "401", "403", "404")
_WRITES = ("409", "413", "415")


def add_error_responses(result, generator, request, public):
    """drf-spectacular postprocessing hook: document the error responses of every operation."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_COMPONENT
    ref = {"$ref": "#/components/schemas/Error"}
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            codes = _ALWAYS + (_WRITES if method != "get" else ())
            responses = operation.setdefault("responses", {})
            for code in codes:
                responses.setdefault(
                    code, {"description": ERROR_DESCRIPTIONS[code], "content": {"application/json": {"schema": ref}}}
                )
    return result
