"""Users and trading accounts, created through the accounts services where one exists."""

from __future__ import annotations

import itertools

import factory
from django.contrib.auth.models import Group
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken

from apps.accounts import services
from apps.accounts.choices import AccountStatus
from apps.accounts.models import TradingAccount, User

PASSWORD = "correct-horse-battery-staple"
_codes = itertools.count(10_000_000)


class ClientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"client{n}@example.com")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")

    @classmethod
    def _create(cls, model_class: type[User], *args: object, **kwargs: object) -> User:
        return services.user_register(
            email=kwargs["email"],
            password=PASSWORD,
            first_name=kwargs.get("first_name", ""),
            last_name=kwargs.get("last_name", ""),
        )


class StaffFactory(factory.django.DjangoModelFactory):
    """A staff member in ``role`` (a group name) with backup codes for the second factor."""

    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"staff{n}@bourse.test")
    first_name = "Staff"
    last_name = factory.Sequence(lambda n: f"Member{n}")
    is_staff = True
    is_superuser = False
    role = None  # a group name; consumed by _create

    @classmethod
    def _create(
        cls, model_class: type[User], *args: object, role: str | None = None, **kwargs: object
    ) -> User:
        user = User.objects.create_user(password=PASSWORD, **kwargs)
        if role:
            user.groups.add(Group.objects.get(name=role))
        device = StaticDevice.objects.create(user=user, name="Backup codes")
        for _ in range(20):
            StaticToken.objects.create(device=device, token=str(next(_codes)))
        return user


def next_static_token(user: User) -> str:
    """An unused backup code of the user (each works once)."""
    return StaticToken.objects.filter(device__user=user).values_list("token", flat=True).first()


class TradingAccountFactory(factory.django.DjangoModelFactory):
    """An account opened through the service; ``status="active"`` activates it too."""

    class Meta:
        model = TradingAccount

    owner = factory.SubFactory(ClientFactory)
    currency = "USD"
    status = AccountStatus.PENDING

    @classmethod
    def _create(
        cls, model_class: type[TradingAccount], *args: object, **kwargs: object
    ) -> TradingAccount:
        account = services.trading_account_open(
            owner=kwargs["owner"], actor=kwargs["owner"], currency=kwargs.get("currency", "USD")
        )
        if kwargs.get("status") == AccountStatus.ACTIVE:
            account = services.trading_account_activate(
                account=account, actor=None, reason="Test fixture", enforce_permission=False
            )
        return account
