"""Admin of users' profiles, API tokens (masked) and the read-only audit log; the admin's throttled login form."""

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from rest_framework.authtoken.models import TokenProxy

from archive.admin import ReadOnlyAdminMixin
from authentication import services
from authentication.forms import AdminLoginForm
from authentication.models import AuthEvent, Profile

User = get_user_model()

# The admin's login goes through the same throttles, backends and audit as the other login pages.
admin.site.login_form = AdminLoginForm


def masked(value: str) -> str:
    """Only the last four characters of a secret, enough to tell tokens apart."""
    return f"…{value[-4:]}" if value else "—"


class ProfileInline(admin.StackedInline):
    model = Profile
    can_delete = False
    max_num = 1
    min_num = 1
    fields = (
        "proposals",
        "portal_linked",
        "staff_view",
        "masked_api_token",
        "api_token_confirmed_at",
        "proposals_fetched_at",
        "portal_rejected_at",
    )
    readonly_fields = (
        "portal_linked",
        "staff_view",
        "masked_api_token",
        "api_token_confirmed_at",
        "proposals_fetched_at",
        "portal_rejected_at",
    )

    @admin.display(description="portal API token")
    def masked_api_token(self, obj) -> str:
        return masked(obj.api_token)


# Rotating replaces a user's token: a change, so viewing users is not enough (ArchiveUserAdmin says who may).
@admin.action(description="Rotate API token", permissions=["rotate_token"])
def rotate_api_token(modeladmin, request, queryset):
    for user in queryset:
        services.token_rotate(user=user, method=AuthEvent.Method.ADMIN, request=request)
    modeladmin.message_user(request, f"Rotated the API token of {queryset.count()} user(s).", messages.SUCCESS)


class ArchiveUserAdmin(UserAdmin):
    inlines = [ProfileInline]
    actions = [rotate_api_token]
    list_display = ("username", "email", "first_name", "last_name", "is_staff", "is_superuser", "is_active")

    def has_rotate_token_permission(self, request) -> bool:
        """Change permission on users or on tokens; the admin then neither offers nor runs the action without it."""
        return self.has_change_permission(request) or request.user.has_perm("authtoken.change_token")


admin.site.unregister(User)
admin.site.register(User, ArchiveUserAdmin)


# DRF's token admin shows whole keys. This one lists them masked and has no page per token: a token's key is its
# primary key, so such pages would show it in their titles and links. Tokens are rotated from the user admin.
admin.site.unregister(TokenProxy)


@admin.register(TokenProxy)
class MaskedTokenAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("masked_key", "user", "created")
    list_display_links = None
    list_filter = ("created",)
    search_fields = ("user__username",)
    ordering = ("user__username",)
    actions = None

    @admin.display(description="key")
    def masked_key(self, obj) -> str:
        return masked(obj.key)


@admin.register(AuthEvent)
class AuthEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created", "kind", "outcome", "method", "username", "address")
    list_filter = ("kind", "outcome", "method", ("created", admin.DateFieldListFilter))
    search_fields = ("username",)
    date_hierarchy = "created"
