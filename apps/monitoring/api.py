"""REST API of monitoring (read-only, admins): snapshots and alerts, paginated like every list."""
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView

from apps.accounts.permissions import requires
from apps.core.domains import Domain
from apps.core.schema import error
from apps.core.serializers import StrictInputSerializer
from apps.monitoring.models import Alert, Snapshot, Statistic
from apps.monitoring.selectors import alerts_list, snapshots_list


class SnapshotOutput(serializers.ModelSerializer):
    adapter = serializers.CharField(source="adapter.label", allow_null=True, help_text="name@version; null = base")

    class Meta:
        model = Snapshot
        fields = ["id", "domain", "adapter", "window", "reference_window", "statistic", "feature", "value",
                  "reference_value", "threshold", "n", "window_start", "window_end", "computed_at"]


class AlertOutput(serializers.ModelSerializer):
    adapter = serializers.CharField(source="adapter.label", allow_null=True, help_text="name@version; null = base")
    acknowledged_by = serializers.CharField(source="acknowledged_by.username", allow_null=True)

    class Meta:
        model = Alert
        fields = ["id", "snapshot", "domain", "adapter", "statistic", "feature", "window", "reference_window", "value",
                  "threshold", "message", "created_at", "acknowledged_by", "acknowledged_at"]


class SnapshotFilter(StrictInputSerializer):
    domain = serializers.ChoiceField(choices=Domain.choices, required=False)
    statistic = serializers.ChoiceField(choices=Statistic.choices, required=False)
    limit = serializers.CharField(required=False)  # checked by the pagination
    offset = serializers.CharField(required=False)


class AlertFilter(StrictInputSerializer):
    open = serializers.BooleanField(required=False, help_text="true: only alerts not yet acknowledged")
    limit = serializers.CharField(required=False)
    offset = serializers.CharField(required=False)


@extend_schema(parameters=[
    OpenApiParameter("domain", str, enum=Domain.values), OpenApiParameter("statistic", str, enum=Statistic.values),
], responses={200: SnapshotOutput(many=True), 400: error("an unknown filter or value"),
              403: error("not an administrator")})
class SnapshotListApi(ListAPIView):
    """Snapshots: each statistic of each closed window, per domain and adapter version."""

    serializer_class = SnapshotOutput
    permission_classes = [requires("monitoring.view_snapshot")]

    def get_queryset(self):
        params = SnapshotFilter(data=self.request.query_params.dict())
        params.is_valid(raise_exception=True)
        return snapshots_list(domain=params.validated_data.get("domain"),
                              statistic=params.validated_data.get("statistic"))


@extend_schema(parameters=[OpenApiParameter("open", bool)],
               responses={200: AlertOutput(many=True), 400: error("an unknown filter or value"),
                          403: error("not an administrator")})
class AlertListApi(ListAPIView):
    """Alerts, newest first."""

    serializer_class = AlertOutput
    permission_classes = [requires("monitoring.view_alert")]

    def get_queryset(self):
        params = AlertFilter(data=self.request.query_params.dict())
        params.is_valid(raise_exception=True)
        return alerts_list(open_only=params.validated_data.get("open", False))
