"""Admin of users' profiles, API tokens (masked) and the read-only audit log; the admin's throttled login form."""

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from rest_framework.authtoken.models import Token, TokenProxy

from archive.admin import LargeTableAdminMixin, ReadOnlyAdminMixin
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
        "masked_local_token",
        "proposals_fetched_at",
        "portal_rejected_at",
    )
    readonly_fields = (
        "portal_linked",
        "staff_view",
        "masked_api_token",
        "api_token_confirmed_at",
        "masked_local_token",
        "proposals_fetched_at",
        "portal_rejected_at",
    )

    @admin.display(description="portal API token")
    def masked_api_token(self, obj) -> str:
        return masked(obj.api_token)

    @admin.display(description="local API token")
    def masked_local_token(self, obj) -> str:
        token = Token.objects.filter(user_id=obj.user_id).values_list("key", flat=True).first()
        return masked(token or "")


class PortalLinkedFilter(admin.SimpleListFilter):
    """Accounts the observation portal vouched for (no local password) against local accounts."""

    title = "portal link"
    parameter_name = "portal_linked"

    def lookups(self, request, model_admin):
        return [("yes", "Linked to the portal"), ("no", "Local account")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(profile__portal_linked=True)
        if self.value() == "no":
            return queryset.exclude(profile__portal_linked=True)
        return queryset


# Rotating replaces a user's token: a change, so viewing users is not enough (ArchiveUserAdmin says who may).
@admin.action(description="Rotate API token", permissions=["rotate_token"])
def rotate_api_token(modeladmin, request, queryset):
    for user in queryset:
        services.token_rotate(user=user, method=AuthEvent.Method.ADMIN, request=request)
    modeladmin.message_user(request, f"Rotated the API token of {queryset.count()} user(s).", messages.SUCCESS)


class ArchiveUserAdmin(UserAdmin):
    inlines = [ProfileInline]
    actions = [rotate_api_token]
    list_display = (
        "username",
        "email",
        "first_name",
        "last_name",
        "is_staff",
        "is_superuser",
        "is_active",
        "portal_linked",
    )
    list_filter = ("is_staff", "is_superuser", "is_active", PortalLinkedFilter, "groups")
    list_select_related = ("profile",)  # the portal column: no query per row
    search_help_text = "Username, name or e-mail (any part), or a proposal id (exactly)."

    @admin.display(description="portal", boolean=True, ordering="profile__portal_linked")
    def portal_linked(self, user) -> bool:
        profile = getattr(user, "profile", None)
        return bool(profile and profile.portal_linked)

    def get_search_results(self, request, queryset, search_term):
        """Django's search, plus the users whose proposals include the term."""
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if term:
            results = results | queryset.filter(profile__proposals__contains=[term])
        return results, may_have_duplicates

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
    list_select_related = ("user",)
    actions = None

    @admin.display(description="key")
    def masked_key(self, obj) -> str:
        return masked(obj.key)

    def has_view_permission(self, request, obj=None) -> bool:
        # The list only: a token's own page (reachable by URL even without links) would show its key.
        return obj is None and super().has_view_permission(request)


@admin.register(AuthEvent)
class AuthEventAdmin(ReadOnlyAdminMixin, LargeTableAdminMixin, admin.ModelAdmin):
    """Every login is recorded (kept AUTH_EVENT_RETENTION_DAYS): a capped count, and the date filter rather than a
    date hierarchy, which reads the distinct years of every event."""

    list_display = ("created", "kind", "outcome", "method", "username", "address")
    list_filter = ("kind", "outcome", "method", ("created", admin.DateFieldListFilter))
    search_fields = ("username",)
