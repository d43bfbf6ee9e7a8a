"""The archive's URL map (ARCHITECTURE.md): the wire paths of the OCS projects, docs and operations."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView
from rest_framework.authtoken.views import obtain_auth_token

from archive.health import health

urlpatterns = [
    path("", include("frames.urls")),
    path("downtimes/", include("downtimes.urls")),
    path("api-token-auth/", obtain_auth_token, name="api-token-auth"),
    path("api-auth/", include("rest_framework.urls")),
    path("admin/", admin.site.urls),
    path("health/", health, name="health"),
    path("openapi/", SpectacularAPIView.as_view(), name="openapi"),
    path("redoc/", SpectacularRedocView.as_view(url_name="openapi"), name="redoc"),
]
