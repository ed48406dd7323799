"""Client portal pages: sign-in (with a second factor), registration, password reset,
security settings and the list of trading accounts."""

from __future__ import annotations

import io
import time

import django_otp
import qrcode
import qrcode.image.svg
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import PasswordResetConfirmView
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.accounts import selectors, services
from apps.accounts.choices import SignInMethod
from apps.accounts.forms import (
    NewPasswordForm,
    OpenAccountForm,
    OtpForm,
    PasswordResetRequestForm,
    RegisterForm,
    SignInForm,
    TotpConfirmForm,
)
from apps.accounts.models import User
from apps.core.errors import ApplicationError
from apps.core.throttling import (
    LoginEmailThrottle,
    LoginThrottle,
    PasswordResetThrottle,
    RegisterThrottle,
    enforce,
)

PENDING_USER = "bourse_pending_sign_in_user"
PENDING_AT = "bourse_pending_sign_in_at"
PENDING_TTL_SECONDS = 300


def _next_url(request: HttpRequest) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return reverse_lazy("home")


def _complete_sign_in(request: HttpRequest, user: User, device: object | None) -> None:
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    if device is not None:
        django_otp.login(request, device)
    services.sign_in_record(email=user.email, user=user, method=SignInMethod.PORTAL, succeeded=True)


def sign_in(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect(_next_url(request))
    form = SignInForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            enforce([LoginThrottle, LoginEmailThrottle], request)
            user = services.user_check_password(
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password"],
                method=SignInMethod.PORTAL,
            )
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            if services.user_requires_otp(user):
                request.session[PENDING_USER] = user.pk
                request.session[PENDING_AT] = time.time()
                return redirect(f"{reverse_lazy('accounts:sign_in_otp')}?next={_next_url(request)}")
            _complete_sign_in(request, user, None)
            return redirect(_next_url(request))
    return render(request, "accounts/sign_in.html", {"form": form, "next": _next_url(request)})


def sign_in_otp(request: HttpRequest) -> HttpResponse:
    """Second step of sign-in for users with a device (and all staff)."""
    user_id = request.session.get(PENDING_USER)
    started = request.session.get(PENDING_AT, 0)
    if not user_id or time.time() - started > PENDING_TTL_SECONDS:
        request.session.pop(PENDING_USER, None)
        messages.info(request, "Please sign in again.")
        return redirect("accounts:sign_in")
    user = User.objects.get(pk=user_id)
    form = OtpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            enforce([LoginThrottle], request)
            device = services.otp_verify(
                user=user, otp_token=form.cleaned_data["otp_token"], method=SignInMethod.PORTAL
            )
        except ApplicationError as exc:
            form.add_error("otp_token", exc.message)
        else:
            request.session.pop(PENDING_USER, None)
            request.session.pop(PENDING_AT, None)
            _complete_sign_in(request, user, device)
            return redirect(_next_url(request))
    return render(request, "accounts/sign_in_otp.html", {"form": form, "next": _next_url(request)})


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    logout(request)
    messages.success(request, "You are signed out.")
    return redirect("accounts:sign_in")


def register(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("home")
    form = RegisterForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            enforce([RegisterThrottle], request)
            user = services.user_register(
                email=data["email"],
                password=data["password"],
                first_name=data["first_name"],
                last_name=data["last_name"],
            )
        except ApplicationError as exc:
            for field, errors in exc.details.items():
                target = field if field in form.fields else None
                for error in errors if isinstance(errors, list) else [errors]:
                    form.add_error(target, error)
            if not exc.details:
                form.add_error(None, exc.message)
        else:
            _complete_sign_in(request, user, None)
            messages.success(request, "Welcome to Bourse. Open an account to get started.")
            return redirect("accounts:overview")
    return render(request, "accounts/register.html", {"form": form})


def password_reset(request: HttpRequest) -> HttpResponse:
    form = PasswordResetRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            enforce([PasswordResetThrottle], request)
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            services.password_reset_request(email=form.cleaned_data["email"])
            return render(request, "accounts/password_reset_sent.html")
    return render(request, "accounts/password_reset.html", {"form": form})


class PasswordResetConfirm(PasswordResetConfirmView):
    """Django's link check (token moved out of the URL), saving through the accounts service."""

    template_name = "accounts/password_reset_confirm.html"
    form_class = NewPasswordForm
    success_url = reverse_lazy("accounts:sign_in")

    def form_valid(self, form: NewPasswordForm) -> HttpResponse:
        services.password_reset_confirm(
            uidb64=self.kwargs["uidb64"],
            token=self.request.session.get("_password_reset_token", ""),
            new_password=form.cleaned_data["new_password1"],
        )
        del self.request.session["_password_reset_token"]
        messages.success(self.request, "Your password is changed. Sign in with it now.")
        return redirect(self.success_url)


def _qr_svg(data: str) -> str:
    image = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    buffer = io.BytesIO()
    image.save(buffer)
    svg = buffer.getvalue().decode()
    return svg[svg.index("<svg") :]


@login_required
def security(request: HttpRequest) -> HttpResponse:
    """Second-factor settings: enrol an authenticator app and confirm it with a code."""
    user = request.user
    pending = TOTPDevice.objects.filter(user=user, confirmed=False).last()
    form = TotpConfirmForm(request.POST or None) if pending else None
    if request.method == "POST" and "enroll" in request.POST:
        services.totp_enroll(user=user)
        return redirect("accounts:security")
    if request.method == "POST" and form is not None and form.is_valid():
        try:
            device = services.totp_confirm(user=user, token=form.cleaned_data["token"])
        except ApplicationError as exc:
            form.add_error("token", exc.message)
        else:
            django_otp.login(request, device)
            messages.success(request, "Two-factor sign-in is on.")
            return redirect("accounts:security")
    context = {
        "otp_enabled": selectors.user_otp_enabled(user),
        "pending": pending,
        "form": form,
        "qr_svg": _qr_svg(pending.config_url) if pending else "",
        "secret": services.totp_secret_base32(pending) if pending else "",
    }
    return render(request, "accounts/security.html", context)


@login_required
def overview(request: HttpRequest) -> HttpResponse:
    form = OpenAccountForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            account = services.trading_account_open(
                owner=request.user, actor=request.user, currency=form.cleaned_data["currency"]
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(
                request, f"Account {account.number} is open; it activates once KYC is approved."
            )
            return redirect("accounts:overview")
    accounts = selectors.trading_accounts_for(user=request.user)
    return render(request, "accounts/overview.html", {"accounts": accounts, "form": form})
