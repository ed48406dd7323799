from django.urls import path

from apps.accounts import views

app_name = "accounts"

urlpatterns = [
    path("auth/sign-in/", views.sign_in, name="sign_in"),
    path("auth/sign-in/otp/", views.sign_in_otp, name="sign_in_otp"),
    path("auth/sign-out/", views.sign_out, name="sign_out"),
    path("auth/register/", views.register, name="register"),
    path("auth/password-reset/", views.password_reset, name="password_reset"),
    path(
        "auth/reset/<uidb64>/<token>/",
        views.PasswordResetConfirm.as_view(),
        name="password_reset_confirm",
    ),
    path("security/", views.security, name="security"),
    path("accounts/", views.overview, name="overview"),
]
