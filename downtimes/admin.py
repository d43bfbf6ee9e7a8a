"""Admin of downtimes: validated and audited through the services, like the API; the audit trail read-only."""

from django import forms
from django.contrib import admin
from django.contrib.admin.widgets import AdminSplitDateTime
from django.db.models import Q
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from archive.admin import ReadOnlyAdminMixin
from archive.configdb import ConfigDBUnavailable
from archive.network import client_address
from downtimes import services
from downtimes.models import Downtime, DowntimeEvent
from downtimes.permissions import is_downtime_staff
from downtimes.selectors import downtime_events, downtime_topology

VIA_ADMIN = DowntimeEvent.Via.ADMIN
ALL_INSTRUMENTS = "— all instruments —"
REASON_CHARS = 80
EVENTS_SHOWN = 50


class DowntimeAdminForm(forms.ModelForm):
    """Codes as selects built from configdb's topology for each form; times as the admin's split date and time."""

    start = forms.SplitDateTimeField(label="Start (UTC)", widget=AdminSplitDateTime, help_text="Date and time, UTC")
    end = forms.SplitDateTimeField(label="End (UTC)", widget=AdminSplitDateTime, help_text="Date and time, UTC")

    class Meta:
        model = Downtime
        fields = ("start", "end", "site", "enclosure", "telescope", "instrument_type", "reason")
        widgets = {"reason": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        try:
            topology = downtime_topology()
        except ConfigDBUnavailable:
            topology = None  # free text; saving then reports configdb's outage on the form
        if topology is None:
            self.fields["instrument_type"].help_text = "Empty: all instruments on the telescope"
            return
        for name in ("site", "enclosure", "telescope", "instrument_type"):
            codes = set(topology.codes(name))
            stored = getattr(self.instance, name, "") if self.instance.pk else ""
            if stored:
                codes.add(stored)  # a value configdb dropped stays selectable on the rows that have it
            blank = ALL_INSTRUMENTS if name == "instrument_type" else "---------"
            model_field = Downtime._meta.get_field(name)
            self.fields[name] = forms.ChoiceField(
                choices=[("", blank), *((code, code) for code in sorted(codes))],
                required=name != "instrument_type",
                label=model_field.verbose_name.capitalize(),
                help_text=model_field.help_text,
            )

    def clean(self):
        cleaned = super().clean()
        data = {name: cleaned[name] for name in services.WRITABLE_FIELDS if name in cleaned}
        already = {name: list(messages) for name, messages in self.errors.items()}
        try:
            services.downtime_validate(data=data, downtime=self.instance if self.instance.pk else None, errors=already)
        except services.DowntimeInvalid as exc:
            for name, messages in exc.detail.items():
                field = None if name == "non_field_errors" else name
                if field is not None and (field in already or field not in self.fields):
                    continue
                for message in messages:
                    # The model's check constraint reports this one, with the same words, when the form validates
                    # the instance right after clean(); adding it here would show it twice.
                    if message != services.ORDER_MESSAGE:
                        self.add_error(field, str(message))
        except ConfigDBUnavailable:
            self.add_error(None, services.UNAVAILABLE_MESSAGE)
        return cleaned


class InstrumentTypeFilter(admin.SimpleListFilter):
    title = "instrument type"
    parameter_name = "instrument_type"
    ALL = "__all__"

    def lookups(self, request, model_admin):
        types = Downtime.objects.exclude(instrument_type="").order_by().values_list("instrument_type", flat=True)
        return [(self.ALL, "All instruments"), *((value, value) for value in sorted(set(types)))]

    def queryset(self, request, queryset):
        if self.value() == self.ALL:
            return queryset.filter(instrument_type="")
        if self.value():
            return queryset.filter(instrument_type=self.value())
        return queryset


class StateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("active", "Active now"), ("upcoming", "Upcoming"), ("past", "Past")]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "active":
            return queryset.active_at(now)
        if self.value() == "upcoming":
            return queryset.filter(start__gt=now)
        if self.value() == "past":
            return queryset.filter(end__lte=now)
        return queryset


class StaffOnly:
    """Staff may do everything with downtimes without model permissions: the API's rule, in the admin."""

    def has_module_permission(self, request):
        return is_downtime_staff(request.user)

    def has_view_permission(self, request, obj=None):
        return is_downtime_staff(request.user)


@admin.register(Downtime)
class DowntimeAdmin(StaffOnly, admin.ModelAdmin):
    form = DowntimeAdminForm
    list_display = (
        "id",
        "start",
        "end",
        "site",
        "enclosure",
        "telescope",
        "instrument",
        "short_reason",
        "created_by",
        "modified",
    )
    list_filter = (
        "site",
        "enclosure",
        "telescope",
        InstrumentTypeFilter,
        StateFilter,
        "start",
        "end",
        "created",
        "modified",
    )
    search_fields = ("reason", "site", "enclosure", "telescope", "instrument_type", "created_by__username")
    date_hierarchy = "start"
    ordering = ("-start",)
    list_select_related = ("created_by",)
    readonly_fields = ("created", "modified", "created_by", "modified_by", "events")
    fieldsets = (
        (None, {"fields": ("start", "end", "site", "enclosure", "telescope", "instrument_type", "reason")}),
        ("Record", {"fields": ("created", "created_by", "modified", "modified_by", "events")}),
    )

    def has_add_permission(self, request):
        return is_downtime_staff(request.user)

    def has_change_permission(self, request, obj=None):
        return is_downtime_staff(request.user)

    def has_delete_permission(self, request, obj=None):
        return is_downtime_staff(request.user)

    @admin.display(description="instrument type", ordering="instrument_type")
    def instrument(self, obj):
        return obj.instrument_type or "all"

    @admin.display(description="reason", ordering="reason")
    def short_reason(self, obj):
        return obj.reason if len(obj.reason) <= REASON_CHARS else obj.reason[: REASON_CHARS - 1] + "…"

    @admin.display(description="events")
    def events(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        rows = list(downtime_events(downtime_pk=obj.pk)[:EVENTS_SHOWN])
        if not rows:
            return "No recorded changes (created before the audit, or imported)."
        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    event.at.strftime("%Y-%m-%d %H:%M:%S"),
                    event.action,
                    event.username or "—",
                    event.via,
                    ", ".join(sorted(event.changes)) or "—",
                )
                for event in rows
            ),
        )
        return format_html(
            "<table><thead><tr><th>At (UTC)</th><th>Action</th><th>User</th><th>Via</th><th>Fields</th></tr>"
            "</thead><tbody>{}</tbody></table>",
            body,
        )

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if term.isdigit():
            results = results | queryset.filter(Q(pk=int(term)))
        return results, may_have_duplicates

    def _data(self, form) -> dict:
        return {name: form.cleaned_data[name] for name in services.WRITABLE_FIELDS if name in form.cleaned_data}

    def save_model(self, request, obj, form, change):
        if change:
            saved = services.downtime_update(
                downtime=obj,
                data=self._data(form),
                user=request.user,
                via=VIA_ADMIN,
                client_address=client_address(request),
            )
        else:
            saved = services.downtime_create(
                data=self._data(form), user=request.user, via=VIA_ADMIN, client_address=client_address(request)
            )
        # The admin goes on with `obj` (messages, log entry, redirect): give it what was stored.
        for field in Downtime._meta.concrete_fields:
            setattr(obj, field.attname, getattr(saved, field.attname))

    def delete_model(self, request, obj):
        services.downtime_delete(downtime=obj, user=request.user, via=VIA_ADMIN, client_address=client_address(request))

    def delete_queryset(self, request, queryset):
        for downtime in queryset:
            services.downtime_delete(
                downtime=downtime, user=request.user, via=VIA_ADMIN, client_address=client_address(request)
            )


@admin.register(DowntimeEvent)
class DowntimeEventAdmin(StaffOnly, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("at", "downtime_pk", "action", "username", "via", "client_address")
    list_filter = ("action", "via", "at")
    search_fields = ("username",)
    ordering = ("-at", "-id")
    readonly_fields = (
        "downtime_pk",
        "action",
        "at",
        "user",
        "username",
        "via",
        "client_address",
        "changes",
        "snapshot",
    )

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if term.isdigit():
            results = results | queryset.filter(downtime_pk=int(term))
        return results, may_have_duplicates
