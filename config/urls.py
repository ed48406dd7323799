from django.contrib import admin
from django.urls import include, path
from django_otp.admin import OTPAdminSite
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from apps.marketdata.views import dashboard

# Staff reach the back office only with a verified second factor.
admin.site.__class__ = OTPAdminSite
admin.site.site_header = "Bourse back office"
admin.site.site_title = "Bourse back office"
admin.site.index_title = "Operations, compliance and risk"

API_APPS = [
    "core",
    "accounts",
    "kyc",
    "instruments",
    "ledger",
    "orders",
    "matching",
    "positions",
    "settlement",
    "marketdata",
    "surveillance",
    "reporting",
]
PORTAL_APPS = API_APPS[1:]

api_v1 = [path("", include(f"apps.{app}.api.urls")) for app in API_APPS]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("", dashboard, name="home"),
    *[path("", include(f"apps.{app}.urls")) for app in PORTAL_APPS],
]

handler400 = "apps.core.views.bad_request"
handler403 = "apps.core.views.permission_denied"
handler404 = "apps.core.views.not_found"
handler500 = "apps.core.views.server_error"
