"""REST API of the adapter registry."""
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.permissions import requires
from apps.adapters.models import AdapterVersion
from apps.adapters.selectors import active_adapters, adapter_versions
from apps.adapters.services import (
    adapter_activate,
    adapter_rollback,
    adapter_upload,
    adapter_upload_limits,
    adapter_upload_refuse,
)
from apps.core import throttling
from apps.core.domains import Domain
from apps.core.parsers import StrictJSONParser
from apps.core.schema import error
from apps.core.serializers import StrictInputSerializer
from apps.core.uploads import limit_uploads, upload_refusal


class AdapterOutput(serializers.ModelSerializer):
    label = serializers.CharField()
    uploaded_by = serializers.CharField(source="uploaded_by.username")
    general_regression = serializers.FloatField(allow_null=True)

    class Meta:
        model = AdapterVersion
        fields = [
            "id", "label", "name", "version", "domain", "base_model", "rank", "alpha", "target_modules",
            "size_bytes", "sha256", "uploaded_by", "uploaded_at", "eval_status", "eval_error", "domain_loss_base",
            "domain_loss_adapter", "general_loss_base", "general_loss_adapter", "general_regression", "evaluated_at",
        ]


class AdapterUploadOutput(AdapterOutput):
    duplicate = serializers.BooleanField(help_text="true (with 200): these exact files were already uploaded")

    class Meta(AdapterOutput.Meta):
        fields = [*AdapterOutput.Meta.fields, "duplicate"]


class UploadInput(StrictInputSerializer):
    name = serializers.CharField(max_length=64)
    domain = serializers.ChoiceField(choices=Domain.choices)
    config = serializers.FileField(required=False, help_text="adapter_config.json")
    weights = serializers.FileField(required=False, help_text="adapter_model.safetensors")
    archive = serializers.FileField(required=False, help_text="one zip holding both files")


class AdapterListUploadApi(ListAPIView):
    throttle_scopes = {"POST": throttling.UPLOADS}
    serializer_class = AdapterOutput
    parser_classes = [MultiPartParser]

    def get_permissions(self):
        perm = "adapters.add_adapterversion" if self.request.method == "POST" else "adapters.view_adapterversion"
        return [requires(perm)()]

    def get_queryset(self):
        return adapter_versions()

    def initialize_request(self, request, *args, **kwargs):
        if request.method == "POST":  # before anything reads the body: stream files to disk, stop at the limit
            limit_uploads(request, adapter_upload_limits())
        return super().initialize_request(request, *args, **kwargs)

    @extend_schema(request={"multipart/form-data": UploadInput},
                   responses={201: AdapterUploadOutput, 200: AdapterUploadOutput,
                              400: error("the upload is refused (audited)"),
                              413: error("a file is larger than its limit (audited)")})
    def post(self, request):
        def refuse(message: str, field: str, status: int = 400):
            name = request.data.get("name", "") if field != "body" else ""
            return adapter_upload_refuse(actor=request.user, request=request, name=str(name), message=message,
                                         field=field, status=status)

        try:
            request.data  # noqa: B018 -- parse the body now, so that its refusals are audited here
        except exceptions.ParseError as exc:
            raise refuse(f"the multipart body could not be read: {exc.detail}", "body") from exc
        refused = upload_refusal(request)
        if refused is not None:
            raise refuse(refused.message, refused.field, 413 if refused.limit is not None else 400)
        data = UploadInput(data=request.data)
        if not data.is_valid():
            refuse(f"invalid input: {', '.join(sorted(data.errors))}", ",".join(sorted(data.errors)))
            raise exceptions.ValidationError(data.errors)
        version, created = adapter_upload(uploaded_by=request.user, request=request, **data.validated_data)
        version.duplicate = not created
        return Response(AdapterUploadOutput(version).data,
                        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class AdapterDetailApi(APIView):
    permission_classes = [requires("adapters.view_adapterversion")]

    @extend_schema(responses=AdapterOutput)
    def get(self, request, adapter_id: int):
        return Response(AdapterOutput(get_object_or_404(adapter_versions(), pk=adapter_id)).data)


class ActivationOutput(serializers.Serializer):
    """A domain and the label (name@version) of its active adapter, or null for the base model."""

    domain = serializers.CharField()
    active = serializers.CharField(source="adapter.label", allow_null=True)


class AdapterActivateInput(StrictInputSerializer):
    override_reason = serializers.CharField(max_length=1000, required=False, allow_blank=True)


class AdapterActivateApi(APIView):
    permission_classes = [requires("adapters.change_adapterversion")]
    parser_classes = [StrictJSONParser]

    @extend_schema(request=AdapterActivateInput,
                   responses={200: ActivationOutput, 409: error("the version may not be activated (evaluation)")})
    def post(self, request, adapter_id: int):
        version = get_object_or_404(adapter_versions(), pk=adapter_id)
        data = AdapterActivateInput(data=request.data if request.data else {})
        data.is_valid(raise_exception=True)
        activation = adapter_activate(version=version, actor=request.user, request=request, **data.validated_data)
        return Response(ActivationOutput(activation).data)


class AdapterRollbackApi(APIView):
    permission_classes = [requires("adapters.change_adapterversion")]

    @extend_schema(request=None, responses={200: ActivationOutput, 409: error("nothing to roll back to")})
    def post(self, request, adapter_id: int):
        version = get_object_or_404(adapter_versions(), pk=adapter_id)
        activation = adapter_rollback(version=version, actor=request.user, request=request)
        return Response(ActivationOutput(activation).data)


class ActiveAdaptersApi(APIView):
    permission_classes = [requires("adapters.view_adapterversion")]

    @extend_schema(responses=ActivationOutput(many=True))
    def get(self, request):
        # One row per domain: a fixed, short list (not paginated).
        rows = [{"domain": d, "adapter": v} for d, v in active_adapters().items()]
        return Response(ActivationOutput(rows, many=True).data)

