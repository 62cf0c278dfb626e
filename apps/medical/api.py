"""REST API of the medical app (mounted at /api/v1/medical/). Thin: services write, selectors read;
every read and write of encounter or draft data is audited."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.permissions import requires
from apps.core import throttling
from apps.core.pagination import CappedLimitOffsetPagination, paginate
from apps.core.schema import error
from apps.medical import selectors, services
from apps.medical.serializers import (
    DraftEditInput,
    DraftOutput,
    EncounterInput,
    EncounterListOutput,
    EncounterOutput,
    EncounterStatusOutput,
    FindingAcknowledgeInput,
    FindingOutput,
    ReviewInput,
    ReviewQueueItemOutput,
    TriageOutput,
)

VIEW_ENCOUNTER, ADD_ENCOUNTER = "medical.view_encounter", "medical.add_encounter"
ADD_TRIAGE = "medical.add_triageassessment"
VIEW_DRAFT, ADD_DRAFT, ADD_REVIEW = "medical.view_draft", "medical.add_draft", "medical.add_review"


class EncounterListCreateApi(APIView):
    pagination_class = CappedLimitOffsetPagination  # GET is a paginated list

    def get_permissions(self):
        return [requires(ADD_ENCOUNTER if self.request.method == "POST" else VIEW_ENCOUNTER)()]

    @extend_schema(responses=EncounterListOutput(many=True), operation_id="medical_encounters_list")
    def get(self, request):
        paginator, encounters = paginate(request=request, queryset=selectors.encounters_for_user(user=request.user),
                                         view=self)
        services.encounters_list_audit(encounter_ids=[e.pk for e in encounters], user=request.user, request=request)
        return paginator.get_paginated_response(EncounterListOutput(encounters, many=True).data)

    @extend_schema(request=EncounterInput, responses={201: EncounterOutput})
    def post(self, request):
        data = EncounterInput(data=request.data)
        data.is_valid(raise_exception=True)
        encounter = services.encounter_create(created_by=request.user, data=dict(data.validated_data),
                                              request=request)
        return Response(EncounterOutput(encounter).data, status=status.HTTP_201_CREATED,
                        headers={"Location": f"/api/v1/medical/encounters/{encounter.pk}/"})


class EncounterDetailApi(APIView):
    permission_classes = [requires(VIEW_ENCOUNTER)]

    @extend_schema(responses=EncounterOutput)
    def get(self, request, encounter_id: int):
        encounter = selectors.encounter_for_user(user=request.user, encounter_id=encounter_id)
        services.encounter_read_audit(encounter=encounter, user=request.user, request=request)
        return Response(EncounterOutput(encounter).data)


class TriageStartApi(APIView):
    throttle_scopes = {"POST": throttling.JOBS}
    permission_classes = [requires(ADD_TRIAGE)]

    @extend_schema(request=None, responses={202: TriageOutput})
    def post(self, request, encounter_id: int):
        encounter = selectors.encounter_for_user(user=request.user, encounter_id=encounter_id)
        triage = services.triage_request(encounter=encounter, actor=request.user, request=request)
        return Response(TriageOutput(triage).data, status=status.HTTP_202_ACCEPTED,
                        headers={"Location": f"/api/v1/jobs/{triage.job_id}/"})


class DraftStartApi(APIView):
    throttle_scopes = {"POST": throttling.JOBS}
    permission_classes = [requires(ADD_DRAFT, ADD_TRIAGE)]  # clinicians ask for model drafts

    @extend_schema(request=None, responses={202: DraftOutput})
    def post(self, request, encounter_id: int):
        encounter = selectors.encounter_for_user(user=request.user, encounter_id=encounter_id)
        draft = services.draft_request(encounter=encounter, actor=request.user, request=request)
        return Response(DraftOutput(draft).data, status=status.HTTP_202_ACCEPTED,
                        headers={"Location": f"/api/v1/medical/drafts/{draft.pk}/"})


class DraftDetailApi(APIView):
    permission_classes = [requires(VIEW_DRAFT)]

    @extend_schema(responses=DraftOutput)
    def get(self, request, draft_id: int):
        draft = selectors.draft_for_user(user=request.user, draft_id=draft_id)
        services.draft_read_audit(draft=draft, user=request.user, request=request)
        return Response(DraftOutput(draft).data)


class DraftEditApi(APIView):
    """POST a full edited content: a new version (201), verified and reviewed again."""

    throttle_scopes = {"POST": throttling.JOBS}
    permission_classes = [requires(ADD_DRAFT)]

    @extend_schema(request=DraftEditInput,
                   responses={201: DraftOutput, 409: error("not the latest version, or it is still being made")})
    def post(self, request, draft_id: int):
        draft = selectors.draft_for_user(user=request.user, draft_id=draft_id)
        data = DraftEditInput(data=request.data)
        data.is_valid(raise_exception=True)
        content = {k: ([dict(i) for i in v] if isinstance(v, list) else v) for k, v in data.validated_data.items()}
        new = services.draft_edit(draft=draft, actor=request.user, content=content, request=request)
        return Response(DraftOutput(new).data, status=status.HTTP_201_CREATED,
                        headers={"Location": f"/api/v1/medical/drafts/{new.pk}/"})


class ReviewCreateApi(APIView):
    permission_classes = [requires(ADD_REVIEW)]

    @extend_schema(request=ReviewInput, responses={
        201: OpenApiResponse(DraftOutput, description="the reviewed version, with its new review"),
        409: error("final, not in review, or verification has not passed"),
    })
    def post(self, request, draft_id: int):
        draft = selectors.draft_for_user(user=request.user, draft_id=draft_id)
        data = ReviewInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.review_submit(draft=draft, reviewer=request.user, request=request, **data.validated_data)
        draft.refresh_from_db()
        return Response(DraftOutput(draft).data, status=status.HTTP_201_CREATED)


class FindingAcknowledgeApi(APIView):
    """POST {"note": "..."}: a reviewer (not the version's author) acknowledges an error whose check could not
    run. 200 with the finding; the version's verification passes when nothing else waits."""

    permission_classes = [requires(ADD_REVIEW)]

    @extend_schema(
        request=FindingAcknowledgeInput,
        responses={
            200: FindingOutput,
            400: error("note missing, blank or too long; unknown fields"),
            403: error("not a reviewer, or the version's author"),
            404: error("no such draft, or no such finding of it"),
            409: error("already acknowledged, not acknowledgeable, or the version is not the current one in review"),
        },
    )
    def post(self, request, draft_id: int, finding_id: int):
        draft = selectors.draft_for_user(user=request.user, draft_id=draft_id)
        finding = selectors.finding_of_draft(draft=draft, finding_id=finding_id)
        data = FindingAcknowledgeInput(data=request.data)
        data.is_valid(raise_exception=True)
        finding = services.finding_acknowledge(finding=finding, actor=request.user, note=data.validated_data["note"],
                                               request=request)
        return Response(FindingOutput(finding).data)


class FindingListApi(APIView):
    """A version's verification findings, in the order the checks wrote them (also embedded in the draft)."""

    permission_classes = [requires(VIEW_DRAFT)]
    pagination_class = CappedLimitOffsetPagination

    @extend_schema(responses=FindingOutput(many=True))
    def get(self, request, draft_id: int):
        draft = selectors.draft_for_user(user=request.user, draft_id=draft_id)
        paginator, findings = paginate(request=request, queryset=selectors.findings_queryset(draft), view=self)
        services.draft_read_audit(draft=draft, user=request.user, request=request)
        return paginator.get_paginated_response(FindingOutput(findings, many=True).data)


class ReviewQueueApi(APIView):
    permission_classes = [requires(ADD_REVIEW)]
    pagination_class = CappedLimitOffsetPagination

    @extend_schema(responses=ReviewQueueItemOutput(many=True))
    def get(self, request):
        paginator, drafts = paginate(request=request, queryset=selectors.review_queue(user=request.user), view=self)
        services.encounters_list_audit(encounter_ids=[d.encounter_id for d in drafts], user=request.user,
                                       request=request)
        return paginator.get_paginated_response(ReviewQueueItemOutput(drafts, many=True).data)


class EncounterStatusApi(APIView):
    """Only the states of an encounter's triage and drafts (no clinical data): what the live page polls."""

    permission_classes = [requires(VIEW_ENCOUNTER)]

    @extend_schema(responses=EncounterStatusOutput)
    def get(self, request, encounter_id: int):
        encounter = selectors.encounter_for_user(user=request.user, encounter_id=encounter_id)
        triage = selectors.latest_triage(encounter)
        drafts = encounter.drafts.order_by("-version").only("id", "version", "status", "verification")
        return Response(EncounterStatusOutput({"triage": triage.status if triage else None, "drafts": drafts}).data)
