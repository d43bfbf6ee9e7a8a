"""Login forms of the browsable API and the admin: the same throttles, backends and audit as /api-token-auth/."""

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from rest_framework.exceptions import Throttled

from archive import portal
from authentication import services
from authentication.models import AuthEvent


class ArchiveLoginFormMixin:
    """Authenticates through `services.login_authenticate`; a throttled or portal-down attempt keeps the HTTP status
    it deserves (429, 503) in `status_code`, with `retry_after`, for the view to apply."""

    login_method = AuthEvent.Method.BROWSABLE
    status_code = 200
    retry_after: int | None = None

    def clean(self):
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is not None and password:
            try:
                self.user_cache = services.login_authenticate(
                    request=self.request, username=username, password=password, method=self.login_method
                )
            except Throttled as exc:
                self.status_code, self.retry_after = 429, int(exc.wait or 1)
                raise forms.ValidationError(str(exc.detail), code="throttled") from None
            except portal.PortalUnavailable as exc:
                self.status_code, self.retry_after = 503, exc.retry_after
                raise forms.ValidationError(portal.UNAVAILABLE_MESSAGE, code="portal_unavailable") from None
            if self.user_cache is None:
                raise self.get_invalid_login_error()
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data


class BrowsableLoginForm(ArchiveLoginFormMixin, AuthenticationForm):
    login_method = AuthEvent.Method.BROWSABLE


class AdminLoginForm(ArchiveLoginFormMixin, AdminAuthenticationForm):
    login_method = AuthEvent.Method.ADMIN
