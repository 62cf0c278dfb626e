"""REST API of companies and their statements (mounted under /api/v1/finance/)."""
from __future__ import annotations

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.permissions import requires
from apps.core.serializers import StrictInputSerializer
from apps.finance import selectors, services
from apps.finance.importers import FORMATS, MAX_IMPORT_BYTES, CellError, ImportFailed
from apps.finance.line_items import LINE_ITEM_KEYS
from apps.finance.models import Company, FinancialStatement

VIEW_COMPANY, ADD_COMPANY = "finance.view_company", "finance.add_company"
ADD_STATEMENT = "finance.add_financialstatement"


def _number(value):
    return None if value is None else float(value)


class StatementOutput(serializers.Serializer):
    def to_representation(self, s: FinancialStatement) -> dict:
        return {"fiscal_year": s.fiscal_year, "period_end": s.period_end, "currency": s.currency,
                "source": s.source, "values": {k: _number(getattr(s, k)) for k in LINE_ITEM_KEYS}}


class CompanyOutput(serializers.Serializer):
    def to_representation(self, c: Company) -> dict:
        return {
            "id": c.pk, "url": f"/api/v1/finance/companies/{c.pk}/", "page_url": f"/finance/companies/{c.pk}/",
            "name": c.name, "ticker": c.ticker, "currency": c.currency, "team": c.team.name,
            "fictional": c.fictional, "price_per_share": _number(c.price_per_share),
            "peers": [{"id": p.pk, "name": p.name} for p in c.peers.order_by("name")],
            "fiscal_years": list(c.statements.order_by("fiscal_year").values_list("fiscal_year", flat=True)),
        }


class CompanyInput(StrictInputSerializer):
    name = serializers.CharField(max_length=200)
    ticker = serializers.CharField(max_length=16, required=False, allow_blank=True, default="")
    currency = serializers.CharField(max_length=3, min_length=3, required=False, default="USD")
    price_per_share = serializers.DecimalField(max_digits=18, decimal_places=4, required=False, allow_null=True,
                                               min_value=0, default=None)
    fictional = serializers.BooleanField(required=False, default=False)
    peers = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False, default=list)


def import_failed_response(exc: ImportFailed) -> Response:
    """400 with every problem: {"detail", "code", "errors": {"file": [...]}, "cells": [{row, column, message}]}."""
    return Response({"detail": exc.message, "code": exc.code, "errors": {"file": [str(e) for e in exc.errors]},
                     "cells": [e.to_dict() for e in exc.errors]}, status=status.HTTP_400_BAD_REQUEST)


class CompanyListCreateApi(APIView):
    parser_classes = [JSONParser]

    def get_permissions(self):
        return [requires(ADD_COMPANY if self.request.method == "POST" else VIEW_COMPANY)()]

    @extend_schema(responses=CompanyOutput(many=True))
    def get(self, request):
        companies = selectors.companies_for_user(request.user).prefetch_related("peers")[:500]
        return Response([CompanyOutput(c).data for c in companies])

    @extend_schema(request=CompanyInput, responses={201: CompanyOutput})
    def post(self, request):
        data = CompanyInput(data=request.data)
        data.is_valid(raise_exception=True)
        company = services.company_create(user=request.user, request=request, **data.validated_data)
        return Response(CompanyOutput(company).data, status=status.HTTP_201_CREATED,
                        headers={"Location": f"/api/v1/finance/companies/{company.pk}/"})


class CompanyUpdateInput(StrictInputSerializer):
    ticker = serializers.CharField(max_length=16, required=False, allow_blank=True)
    price_per_share = serializers.DecimalField(max_digits=18, decimal_places=4, required=False, allow_null=True,
                                               min_value=0)
    peers = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False)


class CompanyDetailApi(APIView):
    """GET a company with its statements; PATCH its ticker, price_per_share or peers."""

    parser_classes = [JSONParser]

    def get_permissions(self):
        return [requires(ADD_COMPANY if self.request.method == "PATCH" else VIEW_COMPANY)()]

    @extend_schema(request=CompanyUpdateInput, responses=CompanyOutput)
    def patch(self, request, company_id: int):
        company = selectors.company_for_user(request.user, company_id)
        data = CompanyUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        company = services.company_update(user=request.user, company=company, request=request,
                                          **data.validated_data)
        return Response(CompanyOutput(company).data)

    @extend_schema(responses=CompanyOutput)
    def get(self, request, company_id: int):
        company = selectors.company_for_user(request.user, company_id)
        body = CompanyOutput(company).data
        body["statements"] = [StatementOutput(s).data for s in selectors.statements_for_company(company)]
        return Response(body)


class StatementImportInput(StrictInputSerializer):
    file = serializers.FileField(help_text=f"a .csv or .json file (JSON format or SEC companyfacts), at most "
                                           f"{MAX_IMPORT_BYTES} bytes")
    format = serializers.ChoiceField(choices=FORMATS, required=False, help_text="default: from the file")


class ImportOutput(serializers.Serializer):
    format = serializers.ChoiceField(choices=FORMATS)
    created_years = serializers.ListField(child=serializers.IntegerField())
    replaced_years = serializers.ListField(child=serializers.IntegerField())
    statements = serializers.ListField(child=serializers.DictField())


class StatementListImportApi(APIView):
    """GET the company's statements; POST imports periods: a multipart `file` (CSV, JSON or SEC companyfacts)
    or a JSON body (the JSON import format, or an SEC companyfacts document). A year already stored is replaced.
    Any problem -> 400 listing every one, nothing imported."""

    parser_classes = [JSONParser, MultiPartParser]

    def get_permissions(self):
        return [requires(ADD_STATEMENT if self.request.method == "POST" else VIEW_COMPANY)()]

    @extend_schema(responses=StatementOutput(many=True))
    def get(self, request, company_id: int):
        company = selectors.company_for_user(request.user, company_id)
        return Response([StatementOutput(s).data for s in selectors.statements_for_company(company)])

    @extend_schema(request={"multipart/form-data": StatementImportInput, "application/json": OpenApiTypes.OBJECT},
                   responses={201: ImportOutput, 400: OpenApiTypes.OBJECT})
    def post(self, request, company_id: int):
        company = selectors.company_for_user(request.user, company_id)
        try:
            if request.content_type.startswith("multipart/"):
                data = StatementImportInput(data=request.data)
                data.is_valid(raise_exception=True)
                upload = data.validated_data["file"]
                if upload.size > MAX_IMPORT_BYTES:
                    raise ImportFailed([CellError(None, None, f"the file is too large: {upload.size} "
                                                              f"bytes (at most {MAX_IMPORT_BYTES})")])
                result = services.statements_import_file(
                    user=request.user, company=company, content=upload.read(), filename=upload.name,
                    fmt=data.validated_data.get("format"), request=request)
            else:
                length, limit = int(request.META.get("CONTENT_LENGTH") or 0), settings.DATA_UPLOAD_MAX_MEMORY_SIZE
                if limit is not None and length > limit:  # Django would refuse it with a bare HTML 400
                    raise ImportFailed([CellError(None, None, f"the JSON body is too large: {length} bytes; bodies "
                                                              f"over {limit} bytes must be uploaded as a multipart "
                                                              f"file (up to {MAX_IMPORT_BYTES} bytes)")])
                result = services.statements_import_data(user=request.user, company=company, data=request.data,
                                                         request=request)
        except ImportFailed as exc:
            return import_failed_response(exc)
        statements = selectors.statements_for_company(company).filter(fiscal_year__in=result.years)
        return Response({"format": result.format, "created_years": result.created_years,
                         "replaced_years": result.replaced_years,
                         "statements": [StatementOutput(s).data for s in statements]},
                        status=status.HTTP_201_CREATED)
