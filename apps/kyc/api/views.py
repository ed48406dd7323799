"""KYC endpoints: the client's application, documents and accreditation; the back office's
review queue and decisions (API.md "KYC" and "Back office")."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.permissions import staff_permission
from apps.kyc import selectors, services
from apps.kyc.api import serializers as s
from apps.kyc.choices import EDITABLE_STATUSES, NOT_STARTED, DocumentAccessChannel
from apps.kyc.files import document_response
from apps.kyc.models import KycApplication

BACKOFFICE_DOWNLOAD = "/api/v1/backoffice/kyc/documents/{id}/file"


def application_body(user: Any) -> dict[str, Any]:
    """The client's application as the API shows it (a blank draft before they start)."""
    application = selectors.kyc_application_for(user=user)
    started = application is not None
    application = application or KycApplication(user=user)
    limits = selectors.kyc_limits(user=user)
    return {
        "id": application.pk,
        "status": application.status if started else NOT_STARTED,
        "requested_tier": application.requested_tier,
        "tier": application.tier,
        "legal_name": application.legal_name,
        "date_of_birth": application.date_of_birth,
        "citizenship": str(application.citizenship or ""),
        "country": str(application.country or ""),
        "address": s.address_of(application),
        "tax_id": application.tax_id_masked,
        "tax_id_type": application.tax_id_type,
        "employment_status": application.employment_status,
        "employer": application.employer,
        "occupation": application.occupation,
        "finra_affiliated": application.finra_affiliated,
        "control_person": application.control_person,
        "control_person_company": application.control_person_company,
        "annual_income": application.annual_income,
        "net_worth": application.net_worth,
        "liquid_net_worth": application.liquid_net_worth,
        "source_of_funds": application.source_of_funds,
        "source_of_funds_detail": application.source_of_funds_detail,
        "investment_experience": application.investment_experience,
        "investment_objective": application.investment_objective,
        "time_horizon": application.time_horizon,
        "risk_tolerance": application.risk_tolerance,
        "information_request": application.information_request,
        "submitted_at": application.submitted_at,
        "approved_at": application.approved_at,
        "next_review_on": application.next_review_on,
        "editable": not started or application.status in EDITABLE_STATUSES,
        "missing": selectors.kyc_application_missing(application),
        "documents": list(application.documents.all()) if started else [],
        "limits": limits,
        "accredited": selectors.kyc_is_accredited(user=user),
    }


class KycApplicationApi(APIView):
    """GET the client's application; PUT (or PATCH) any of its fields, saving as you go."""

    @extend_schema(responses=s.ApplicationOutputSerializer)
    def get(self, request: Request) -> Response:
        return Response(s.ApplicationOutputSerializer(application_body(request.user)).data)

    @extend_schema(request=s.ApplicationInputSerializer, responses=s.ApplicationOutputSerializer)
    def put(self, request: Request) -> Response:
        data = s.ApplicationInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.kyc_application_update(
            user=request.user, actor=request.user, **data.service_fields()
        )
        return Response(s.ApplicationOutputSerializer(application_body(request.user)).data)

    @extend_schema(request=s.ApplicationInputSerializer, responses=s.ApplicationOutputSerializer)
    def patch(self, request: Request) -> Response:
        return self.put(request)


class KycDocumentListApi(APIView):
    """GET the client's documents; POST one (multipart: kind, file[, expires_on])."""

    parser_classes = [MultiPartParser, FormParser, JSONParser]

    @extend_schema(responses=s.DocumentOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        paginator = self.settings.DEFAULT_PAGINATION_CLASS()
        page = paginator.paginate_queryset(
            selectors.kyc_documents_for(user=request.user), request, view=self
        )
        return paginator.get_paginated_response(s.DocumentOutputSerializer(page, many=True).data)

    @extend_schema(
        request={"multipart/form-data": s.DocumentUploadInputSerializer},
        responses={201: s.DocumentOutputSerializer},
    )
    def post(self, request: Request) -> Response:
        data = s.DocumentUploadInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        document = services.kyc_document_upload(
            user=request.user,
            actor=request.user,
            kind=data.validated_data["kind"],
            file=data.validated_data["file"],
            expires_on=data.validated_data.get("expires_on"),
        )
        return Response(s.DocumentOutputSerializer(document).data, status=status.HTTP_201_CREATED)


class KycDocumentFileApi(APIView):
    """The file of one of the client's own documents (anyone else's id: 404). Recorded."""

    @extend_schema(responses={(200, "application/octet-stream"): bytes})
    def get(self, request: Request, pk: int) -> HttpResponse:
        document = selectors.kyc_document_for_owner(user=request.user, pk=pk)
        handle = services.kyc_document_open(
            document=document, actor=request.user, channel=DocumentAccessChannel.API
        )
        return document_response(handle, document)


class KycSubmitApi(APIView):
    """Submit for screening and review: 200 {status}; submitted, or under_review / approved
    when screening has already run (tasks run eagerly in single-machine mode)."""

    @extend_schema(request=None, responses=s.SubmitOutputSerializer)
    def post(self, request: Request) -> Response:
        application = services.kyc_submit(user=request.user, actor=request.user)
        application.refresh_from_db(fields=["status", "tier"])
        return Response(s.SubmitOutputSerializer(application).data)


class AccreditationApi(APIView):
    """GET the client's accredited-investor requests; POST a new one with evidence."""

    @extend_schema(responses=s.AccreditationOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        paginator = self.settings.DEFAULT_PAGINATION_CLASS()
        page = paginator.paginate_queryset(
            selectors.accreditations_for(user=request.user), request, view=self
        )
        return paginator.get_paginated_response(
            s.AccreditationOutputSerializer(page, many=True).data
        )

    @extend_schema(
        request=s.AccreditationInputSerializer, responses={201: s.AccreditationOutputSerializer}
    )
    def post(self, request: Request) -> Response:
        data = s.AccreditationInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        evidence = selectors.kyc_document_for_owner(
            user=request.user, pk=data.validated_data["evidence"]
        )
        accreditation = services.accreditation_request(
            user=request.user,
            actor=request.user,
            basis=data.validated_data["basis"],
            evidence=evidence,
            licence_number=data.validated_data.get("licence_number", ""),
        )
        return Response(
            s.AccreditationOutputSerializer(accreditation).data, status=status.HTTP_201_CREATED
        )


# --- Back office ----------------------------------------------------------------------------

VIEW = "kyc.view_kycapplication"


class BackofficeKycListApi(APIView):
    """Applications, riskiest and oldest first; ?status= (repeatable), ?risk_rating=, ?email=."""

    permission_classes = [staff_permission(VIEW)]

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, many=True),
            OpenApiParameter("risk_rating", str),
            OpenApiParameter("email", str),
        ],
        responses=s.BackofficeApplicationOutputSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        filters = s.BackofficeFilterSerializer(
            data={
                **{k: v for k, v in request.query_params.items() if k != "status"},
                "status": request.query_params.getlist("status"),
            }
        )
        filters.is_valid(raise_exception=True)
        rows = selectors.kyc_applications_backoffice(
            status=sorted(filters.validated_data.get("status") or []),
            risk_rating=filters.validated_data.get("risk_rating"),
            email=filters.validated_data.get("email"),
        )
        paginator = self.settings.DEFAULT_PAGINATION_CLASS()
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response(
            s.BackofficeApplicationOutputSerializer(page, many=True).data
        )


class BackofficeKycDetailApi(APIView):
    """One application with documents (metadata) and every screening with its hits."""

    permission_classes = [staff_permission(VIEW)]

    @extend_schema(responses=s.BackofficeApplicationDetailSerializer)
    def get(self, request: Request, pk: int) -> Response:
        application = selectors.kyc_application_backoffice(pk=pk)
        body = s.BackofficeApplicationDetailSerializer(
            application, context={"download_url": BACKOFFICE_DOWNLOAD}
        ).data
        return Response(body)


class BackofficeKycDecisionApi(APIView):
    """POST backoffice/kyc/{id}/start-review | approve | reject | request-information |
    open-review, each with a reason. The service checks the role's permission again."""

    permission_classes = [staff_permission(VIEW)]
    action_name = ""
    ACTIONS: dict[str, tuple[Any, type]] = {
        "start-review": (services.kyc_review_start, s.ReasonInputSerializer),
        "approve": (services.kyc_approve, s.ApproveInputSerializer),
        "reject": (services.kyc_reject, s.ReasonInputSerializer),
        "request-information": (
            services.kyc_request_information,
            s.RequestInformationInputSerializer,
        ),
        "open-review": (services.kyc_review_open, s.ReasonInputSerializer),
    }

    @extend_schema(request=s.ApproveInputSerializer, responses=s.DecisionOutputSerializer)
    def post(self, request: Request, pk: int) -> Response:
        service, serializer = self.ACTIONS[self.action_name]
        data = serializer(data=request.data)
        data.is_valid(raise_exception=True)
        application = selectors.kyc_application_backoffice(pk=pk)
        application = service(application=application, actor=request.user, **data.validated_data)
        return Response(s.DecisionOutputSerializer(application).data)


class BackofficeDocumentFileApi(APIView):
    """A client document for staff with ``kyc.view_kycdocument``; every access recorded."""

    permission_classes = [staff_permission("kyc.view_kycdocument")]

    @extend_schema(responses={(200, "application/octet-stream"): bytes})
    def get(self, request: Request, pk: int) -> HttpResponse:
        document = selectors.kyc_document_backoffice(pk=pk)
        handle = services.kyc_document_open(
            document=document, actor=request.user, channel=DocumentAccessChannel.BACKOFFICE_API
        )
        return document_response(handle, document)


class BackofficeDocumentAccessApi(APIView):
    """Who opened the documents of one application, newest first (compliance)."""

    permission_classes = [staff_permission("kyc.view_documentaccess")]

    @extend_schema(responses=s.DocumentAccessOutputSerializer(many=True))
    def get(self, request: Request, pk: int) -> Response:
        application = selectors.kyc_application_backoffice(pk=pk)
        paginator = self.settings.DEFAULT_PAGINATION_CLASS()
        page = paginator.paginate_queryset(
            selectors.document_accesses(application=application), request, view=self
        )
        return paginator.get_paginated_response(
            s.DocumentAccessOutputSerializer(page, many=True).data
        )


class BackofficeAccreditationListApi(APIView):
    permission_classes = [staff_permission("kyc.view_accreditedinvestorstatus")]

    @extend_schema(
        parameters=[OpenApiParameter("status", str)],
        responses=s.AccreditationBackofficeOutputSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        rows = selectors.accreditations_backoffice()
        if request.query_params.get("status"):
            rows = rows.filter(status=request.query_params["status"])
        paginator = self.settings.DEFAULT_PAGINATION_CLASS()
        page = paginator.paginate_queryset(rows.order_by("requested_at", "pk"), request, view=self)
        return paginator.get_paginated_response(
            s.AccreditationBackofficeOutputSerializer(page, many=True).data
        )


class BackofficeAccreditationDecisionApi(APIView):
    """POST backoffice/kyc/accreditations/{id}/verify (reason, expires_on) | reject | revoke."""

    permission_classes = [staff_permission("kyc.view_accreditedinvestorstatus")]
    action_name = ""
    ACTIONS: dict[str, tuple[Any, type]] = {
        "verify": (services.accreditation_verify, s.AccreditationVerifyInputSerializer),
        "reject": (services.accreditation_reject, s.ReasonInputSerializer),
        "revoke": (services.accreditation_revoke, s.ReasonInputSerializer),
    }

    @extend_schema(
        request=s.AccreditationVerifyInputSerializer,
        responses=s.AccreditationBackofficeOutputSerializer,
    )
    def post(self, request: Request, pk: int) -> Response:
        service, serializer = self.ACTIONS[self.action_name]
        data = serializer(data=request.data)
        data.is_valid(raise_exception=True)
        accreditation = selectors.accreditation_backoffice(pk=pk)
        fields = {k: v for k, v in data.validated_data.items() if v is not None}
        accreditation = service(accreditation=accreditation, actor=request.user, **fields)
        return Response(s.AccreditationBackofficeOutputSerializer(accreditation).data)
