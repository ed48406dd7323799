"""API routes of the kyc app (under /api/v1/)."""

from django.urls import path

from apps.kyc.api import views

urlpatterns = [
    path("kyc", views.KycApplicationApi.as_view(), name="kyc-application"),
    path("kyc/documents", views.KycDocumentListApi.as_view(), name="kyc-documents"),
    path(
        "kyc/documents/<int:pk>/file",
        views.KycDocumentFileApi.as_view(),
        name="kyc-document-file",
    ),
    path("kyc/submit", views.KycSubmitApi.as_view(), name="kyc-submit"),
    path("kyc/accreditations", views.AccreditationApi.as_view(), name="kyc-accreditations"),
    path("backoffice/kyc", views.BackofficeKycListApi.as_view(), name="backoffice-kyc-list"),
    path(
        "backoffice/kyc/<int:pk>",
        views.BackofficeKycDetailApi.as_view(),
        name="backoffice-kyc-detail",
    ),
    *[
        path(
            f"backoffice/kyc/<int:pk>/{action}",
            views.BackofficeKycDecisionApi.as_view(action_name=action),
            name=f"backoffice-kyc-{action}",
        )
        for action in views.BackofficeKycDecisionApi.ACTIONS
    ],
    path(
        "backoffice/kyc/<int:pk>/document-access",
        views.BackofficeDocumentAccessApi.as_view(),
        name="backoffice-kyc-document-access",
    ),
    path(
        "backoffice/kyc/documents/<int:pk>/file",
        views.BackofficeDocumentFileApi.as_view(),
        name="backoffice-kyc-document-file",
    ),
    path(
        "backoffice/kyc/accreditations",
        views.BackofficeAccreditationListApi.as_view(),
        name="backoffice-kyc-accreditations",
    ),
    *[
        path(
            f"backoffice/kyc/accreditations/<int:pk>/{action}",
            views.BackofficeAccreditationDecisionApi.as_view(action_name=action),
            name=f"backoffice-kyc-accreditation-{action}",
        )
        for action in views.BackofficeAccreditationDecisionApi.ACTIONS
    ],
]
