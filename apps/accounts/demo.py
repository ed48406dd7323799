"""Demo people: an admin, a compliance officer, a broker-operations user, two clients.

Idempotent: existing users are left as they are. Staff get backup codes (a django-otp static
device) the first time only; the codes are printed then and never again.
"""

from __future__ import annotations

import secrets
from typing import TextIO

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import transaction
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken

from apps.accounts import services
from apps.accounts.choices import Role
from apps.accounts.models import TradingAccount, User

STAFF = [
    ("admin@bourse.local", "Ada", "Admin", None, True),
    ("compliance@bourse.local", "Cora", "Compliance", Role.COMPLIANCE, False),
    ("ops@bourse.local", "Otto", "Operations", Role.BROKER_OPERATIONS, False),
]
CLIENTS = [
    ("alice@example.com", "Alice", "Archer"),
    ("bob@example.com", "Bob", "Baker"),
]
BACKUP_CODES = 5


def _static_codes(user: User) -> list[str]:
    device, created = StaticDevice.objects.get_or_create(user=user, name="Backup codes")
    if not created:
        return []
    codes = [f"{secrets.randbelow(10**8):08d}" for _ in range(BACKUP_CODES)]
    for code in codes:
        StaticToken.objects.create(device=device, token=code)
    return codes


@transaction.atomic
def load(out: TextIO) -> None:
    password = settings.DEMO_PASSWORD
    printed = []
    for email, first, last, role, superuser in STAFF:
        user = User.objects.filter(email=email).first()
        if user is None:
            if superuser:
                user = User.objects.create_superuser(
                    email, password, first_name=first, last_name=last
                )
            else:
                user = User.objects.create_user(
                    email, password, first_name=first, last_name=last, is_staff=True
                )
                user.groups.add(Group.objects.get(name=role))
        codes = _static_codes(user)
        if codes:
            printed.append((email, codes))
    for email, first, last in CLIENTS:
        user = User.objects.filter(email=email).first()
        if user is None:
            user = services.user_register(
                email=email, password=password, first_name=first, last_name=last
            )
        if not TradingAccount.objects.filter(owner=user).exists():
            services.trading_account_open(owner=user, actor=user)
    out.write(f"Demo users (password for all: {password}):\n")
    for email, *_ in STAFF:
        out.write(f"  staff   {email}\n")
    for email, *_ in CLIENTS:
        out.write(f"  client  {email}\n")
    if printed:
        out.write("Staff backup codes for the second factor, shown this once (each works once):\n")
        for email, codes in printed:
            out.write(f"  {email}: {' '.join(codes)}\n")
        out.write("More: python manage.py addstatictoken <email>\n")
