"""Signal receivers of the authentication app: failed logins feed the login throttles."""

from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver

from authentication import throttling


@receiver(user_login_failed, dispatch_uid="authentication.login_failure_count")
def count_login_failure(sender, credentials, request=None, **kwargs):
    """Every failed `authenticate()` (token login, browsable API, admin) counts against the address and username.

    A portal outage raises out of `authenticate()` without this signal, so 503s are not counted.
    """
    if request is None:
        return
    username = credentials.get("username") or ""
    throttling.login_failure_record(request=request, username=username if isinstance(username, str) else "")
