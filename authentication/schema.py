"""drf-spectacular descriptions of the app's authentication classes (the Token class is described by DRF's own)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BearerScheme(OpenApiAuthenticationExtension):
    target_class = "authentication.backends.PortalBearerAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An observation-portal OAuth access token, validated at the portal",
        }


class BodyTokenScheme(OpenApiAuthenticationExtension):
    target_class = "authentication.backends.BodyTokenAuthentication"
    name = "bodyToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "query",
            "name": "auth_token",
            "description": "An API token sent as `auth_token` in the form or JSON body (zip downloads)",
        }


class BasicScheme(OpenApiAuthenticationExtension):
    target_class = "authentication.backends.ThrottledBasicAuthentication"
    name = "basicAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "basic",
            "description": "Username and password (local or portal account), behind the login throttles",
        }
