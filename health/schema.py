"""OpenAPI: describe the service-token authentication so drf-spectacular documents it
(and does not warn). Loaded from ``HealthConfig.ready``; harmless if another app
registers the same extension (the lead may move it to controlplane)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ServiceTokenScheme(OpenApiAuthenticationExtension):
    target_class = "controlplane.authentication.ServiceTokenAuthentication"
    name = "ServiceToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "Service account token: `Authorization: Bearer <token>`."}
