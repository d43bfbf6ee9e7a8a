"""Shapes of the datalab API: what a request may hold and how sessions and operations are written back."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from datalab.models import DataOperation, DataSession
from datalab.selectors import wire_output

MAX_ITEMS = 1000


class SessionInputSerializer(serializers.Serializer):
    name = serializers.CharField(min_length=1, max_length=256, help_text="The session's name")
    input_data = serializers.ListField(
        child=serializers.DictField(),
        default=list,
        max_length=MAX_ITEMS,
        help_text="Input items: {source: archive|datalab, basename, ...}",
    )


class SessionUpdateSerializer(SessionInputSerializer):
    name = serializers.CharField(min_length=1, max_length=256, required=False)
    input_data = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        max_length=MAX_ITEMS,
        help_text="Items to merge: those with a new (source, basename) are appended",
    )


class OperationInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=128, help_text="A name from /api/available_operations/")
    input_data = serializers.JSONField(default=dict, help_text="One entry per declared input of the operation")


class BulkDeleteSerializer(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        max_length=MAX_ITEMS,
        help_text="Operation ids of this session to delete",
    )


class BulkDeleteResultSerializer(serializers.Serializer):
    deleted = serializers.IntegerField(help_text="Operations of this session deleted")


class OutputSerializer(serializers.Serializer):
    output_files = serializers.ListField(child=serializers.DictField(), help_text="File products with signed URLs")
    output_data = serializers.ListField(child=serializers.DictField(), help_text="Data products (light curves, ...)")


class OperationSerializer(serializers.ModelSerializer):
    status = serializers.CharField(source="run.status", help_text="PENDING, IN_PROGRESS, COMPLETED or FAILED")
    message = serializers.CharField(source="run.message", help_text="Phase while running; the reason when FAILED")
    operation_progress = serializers.FloatField(source="run.progress", help_text="Fraction done, 0 to 1")
    output = serializers.SerializerMethodField()
    started = serializers.DateTimeField(source="run.started_at", allow_null=True, help_text="When it started")
    finished = serializers.DateTimeField(source="run.finished_at", allow_null=True, help_text="When it ended")

    class Meta:
        model = DataOperation
        fields = [
            "id",
            "name",
            "input_data",
            "created",
            "status",
            "message",
            "operation_progress",
            "output",
            "started",
            "finished",
        ]

    @extend_schema_field(OutputSerializer(allow_null=True))
    def get_output(self, operation) -> dict | None:
        return wire_output(operation.run, self.context.get("product_urls", {}))


class SessionSerializer(serializers.ModelSerializer):
    user = serializers.CharField(source="user.username", read_only=True, help_text="The owner's username")
    input_data = serializers.SerializerMethodField()
    operations = OperationSerializer(many=True, read_only=True)

    class Meta:
        model = DataSession
        fields = ["id", "name", "user", "input_data", "operations", "created", "accessed", "modified"]

    @extend_schema_field(serializers.ListField(child=serializers.DictField()))
    def get_input_data(self, session) -> list[dict]:
        """Archive items get fresh URLs while the user may see their frame; other items are as stored."""
        links = self.context.get("item_links", {})
        items = []
        for item in session.input_data:
            extra = links.get(item.get("basename")) if item.get("source", "archive") == "archive" else None
            items.append({**item, **extra} if extra else item)
        return items
