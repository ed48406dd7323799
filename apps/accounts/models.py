"""Users, roles, trading accounts and API tokens."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from apps.accounts.choices import AccountStatus, AccountType, LotReliefMethod, SignInMethod
from apps.core.audit import audit_history


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    @staticmethod
    def normalize(email: str) -> str:
        return email.strip().lower()

    def _create_user(self, email: str, password: str | None, **fields: object) -> User:
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize(email), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **fields: object) -> User:
        fields.setdefault("is_staff", False)
        fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **fields)

    def create_superuser(self, email: str, password: str | None = None, **fields: object) -> User:
        fields["is_staff"] = True
        fields["is_superuser"] = True
        return self._create_user(email, password, **fields)

    def get_by_natural_key(self, username: str | None) -> User:
        return self.get(email__iexact=(username or "").strip())


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in: a client, or a staff member whose groups are their roles."""

    email = models.EmailField("e-mail address", unique=True)
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    phone = models.CharField(max_length=32, blank=True)
    is_staff = models.BooleanField(
        default=False, help_text="Staff sign in to the back office (with a second factor)."
    )
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)

    history = audit_history(excluded_fields=["password", "last_login"])
    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        constraints = [models.UniqueConstraint(Lower("email"), name="user_email_ci_unique")]

    def __str__(self) -> str:
        return self.email

    def get_full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip() or self.email

    def get_short_name(self) -> str:
        return self.first_name or self.email


class TradingAccount(ConcurrentTransitionMixin, models.Model):
    """A client's brokerage account. Balances live in the ledger, never here.

    Status: pending -> active -> restricted -> suspended -> closed, with reactivation from
    restricted and suspended. Transitions are called by apps.accounts.services only.
    """

    number = models.CharField(max_length=20, unique=True, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="trading_accounts"
    )
    type = models.CharField(max_length=16, choices=AccountType.choices, default=AccountType.CASH)
    currency = models.CharField(max_length=3, default="USD")
    status = FSMField(
        max_length=16, choices=AccountStatus.choices, default=AccountStatus.PENDING, protected=True
    )
    status_reason = models.TextField(blank=True, default="")
    status_changed_at = models.DateTimeField(null=True, blank=True)
    restricted_until = models.DateTimeField(
        null=True, blank=True, help_text="End of a time-boxed restriction (e.g. Regulation T)."
    )
    lot_relief_method = models.CharField(
        max_length=16, choices=LotReliefMethod.choices, default=LotReliefMethod.FIFO
    )
    tax_non_resident = models.BooleanField(
        default=False, help_text="Dividends paid to this account are subject to withholding."
    )
    daily_withdrawal_limit = models.DecimalField(
        max_digits=20,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Overrides the KYC tier's daily limit when set.",
    )
    per_withdrawal_limit = models.DecimalField(
        max_digits=20,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Largest single withdrawal; no cap when empty.",
    )
    opened_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    history = audit_history()

    class Meta:
        ordering = ["number"]
        permissions = [
            ("activate_tradingaccount", "Can activate or reactivate trading accounts"),
            ("restrict_tradingaccount", "Can restrict trading accounts"),
            ("suspend_tradingaccount", "Can suspend trading accounts"),
            ("close_tradingaccount", "Can close trading accounts"),
        ]
        indexes = [models.Index(fields=["owner", "status"])]

    def __str__(self) -> str:
        return self.number

    @property
    def is_active(self) -> bool:
        return self.status == AccountStatus.ACTIVE

    def _changed(self) -> None:
        self.status_changed_at = timezone.now()

    @transition(
        field=status,
        source=[AccountStatus.PENDING, AccountStatus.RESTRICTED, AccountStatus.SUSPENDED],
        target=AccountStatus.ACTIVE,
        permission="accounts.activate_tradingaccount",
    )
    def activate(self) -> None:
        """Open for trading and withdrawals (KYC approved, or a restriction lifted)."""
        self.restricted_until = None
        self._changed()

    @transition(
        field=status,
        source=AccountStatus.ACTIVE,
        target=AccountStatus.RESTRICTED,
        permission="accounts.restrict_tradingaccount",
    )
    def restrict(self) -> None:
        """Limit what the account may do (e.g. settled-cash purchases only)."""
        self._changed()

    @transition(
        field=status,
        source=[AccountStatus.ACTIVE, AccountStatus.RESTRICTED],
        target=AccountStatus.SUSPENDED,
        permission="accounts.suspend_tradingaccount",
    )
    def suspend(self) -> None:
        """Freeze the account: no trading, no withdrawals."""
        self._changed()

    @transition(
        field=status,
        source=[
            AccountStatus.PENDING,
            AccountStatus.ACTIVE,
            AccountStatus.RESTRICTED,
            AccountStatus.SUSPENDED,
        ],
        target=AccountStatus.CLOSED,
        permission="accounts.close_tradingaccount",
    )
    def close(self) -> None:
        """Close for good; the services check that nothing is left in it first."""
        self._changed()
        self.closed_at = self.status_changed_at


class ApiToken(models.Model):
    """A bearer token for the API. Only its SHA-256 digest is stored.

    ``otp_verified`` records that a one-time password was checked when the token was issued;
    staff endpoints and OTP-protected actions accept only such tokens.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    key_digest = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(
        max_length=8, editable=False, help_text="First characters, to tell tokens apart."
    )
    otp_verified = models.BooleanField(default=False)
    otp_device = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True, default="")

    history = audit_history(excluded_fields=["key_digest", "last_used_at"])

    class Meta:
        indexes = [models.Index(fields=["expires_at"])]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()


class SignInEvent(models.Model):
    """Every sign-in attempt, successful or not, through the portal, the API or the admin."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    email = models.CharField(max_length=254)
    method = models.CharField(max_length=16, choices=SignInMethod.choices)
    succeeded = models.BooleanField()
    failure_reason = models.CharField(max_length=64, blank=True, default="")
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True, default="")
    correlation_id = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["email", "created_at"])]

    def __str__(self) -> str:
        outcome = "ok" if self.succeeded else f"failed: {self.failure_reason}"
        return f"{self.email} via {self.method} ({outcome})"
