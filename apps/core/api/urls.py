from django.urls import path

from apps.core.api import views

urlpatterns = [
    path("backoffice/history", views.AuditHistoryListApi.as_view(), name="backoffice-history"),
]
