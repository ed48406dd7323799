"""Portal routes of the kyc app."""

from django.urls import path

from apps.kyc import views

app_name = "kyc"

urlpatterns = [
    path("kyc/", views.overview, name="overview"),
    path("kyc/accreditation/", views.accreditation, name="accreditation"),
    path("kyc/documents/<int:pk>/", views.document_file, name="document"),
    path("kyc/<slug:slug>/", views.step, name="step"),
]
