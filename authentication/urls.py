"""Paths of the authentication app, exact and with their trailing slash (the reference matched any suffix)."""

from django.contrib.auth.views import LogoutView
from django.urls import include, path

from authentication import views

# The browsable API's templates reverse `rest_framework:login` and `rest_framework:logout`.
api_auth_patterns = (
    [
        path("login/", views.BrowsableLoginView.as_view(), name="login"),
        path("logout/", LogoutView.as_view(), name="logout"),
    ],
    "rest_framework",
)

urlpatterns = [
    path("api-token-auth/", views.ObtainTokenView.as_view(), name="api-token-auth"),
    path("revoke_token/", views.RevokeTokenView.as_view(), name="revoke-token"),
    path("profile/", views.ProfileView.as_view(), name="profile"),
    path("authprofile/addupdateuser/", views.PortalUserPushView.as_view(), name="portal-user-push"),
    path("api-auth/", include(api_auth_patterns)),
    path("admin/login/", views.admin_login, name="admin-login"),
]
