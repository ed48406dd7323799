from django.urls import path

from apps.accounts.api import views

urlpatterns = [
    path("auth/register", views.RegisterApi.as_view(), name="auth-register"),
    path("auth/token", views.TokenApi.as_view(), name="auth-token"),
    path("auth/logout", views.LogoutApi.as_view(), name="auth-logout"),
    path("auth/totp/enroll", views.TotpEnrollApi.as_view(), name="auth-totp-enroll"),
    path("auth/totp/confirm", views.TotpConfirmApi.as_view(), name="auth-totp-confirm"),
    path("auth/password-reset", views.PasswordResetApi.as_view(), name="auth-password-reset"),
    path(
        "auth/password-reset/confirm",
        views.PasswordResetConfirmApi.as_view(),
        name="auth-password-reset-confirm",
    ),
    path("me", views.MeApi.as_view(), name="me"),
    path("accounts", views.AccountListCreateApi.as_view(), name="account-list"),
    path("accounts/<int:pk>", views.AccountDetailApi.as_view(), name="account-detail"),
    path(
        "backoffice/accounts",
        views.AccountBackofficeListApi.as_view(),
        name="backoffice-account-list",
    ),
    path(
        "backoffice/accounts/<int:pk>",
        views.AccountBackofficeDetailApi.as_view(),
        name="backoffice-account-detail",
    ),
    *[
        path(
            f"backoffice/accounts/<int:pk>/{action}",
            views.AccountTransitionApi.as_view(action_name=action),
            name=f"backoffice-account-{action}",
        )
        for action in views.AccountTransitionApi.SERVICES
    ],
]
