"""Reads of the settlement app used by more than one caller: a client's instructions (API and
portal), the settlement calendar and the fails queue (back office)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count, Q, QuerySet, Sum

from apps.accounts.models import TradingAccount, User
from apps.settlement.choices import OUTSTANDING_STATUSES, InstructionStatus
from apps.settlement.models import GoodFaithViolation, SettlementInstruction


def instructions_for(
    *,
    user: User,
    account: TradingAccount | None = None,
    status: str | None = None,
    outstanding: bool | None = None,
) -> QuerySet[SettlementInstruction]:
    """The user's own instructions (of one account when given), latest settlement date first.
    ``outstanding`` True keeps pending and failed ones, False the finished ones."""
    qs = SettlementInstruction.objects.filter(account__owner=user).select_related(
        "instrument", "account"
    )
    if account is not None:
        qs = qs.filter(account=account)
    if status:
        qs = qs.filter(status=status)
    if outstanding is True:
        qs = qs.filter(status__in=OUTSTANDING_STATUSES)
    elif outstanding is False:
        qs = qs.exclude(status__in=OUTSTANDING_STATUSES)
    return qs.order_by("-settlement_date", "-id")


def fails_queue() -> QuerySet[SettlementInstruction]:
    """Failed instructions, the longest failing first."""
    return (
        SettlementInstruction.objects.filter(status=InstructionStatus.FAILED)
        .select_related("account", "instrument", "cancel_requested_by")
        .order_by("-days_failing", "failed_on", "id")
    )


@dataclass
class CalendarDay:
    """What settles on one date: instructions by status, and the net cash by currency."""

    date: dt.date
    pending: int = 0
    settled: int = 0
    failed: int = 0
    other: int = 0
    cash: dict[str, Decimal] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.pending + self.settled + self.failed + self.other


def settlement_calendar(*, start: dt.date, end: dt.date) -> list[CalendarDay]:
    """Per settlement date in [start, end]: how many instructions settle (by status) and the
    net cash they move per currency (sale proceeds less purchases)."""
    days: dict[dt.date, CalendarDay] = {}
    rows = (
        SettlementInstruction.objects.filter(settlement_date__gte=start, settlement_date__lte=end)
        .values("settlement_date", "status")
        .annotate(n=Count("id"))
    )
    for row in rows:
        day = days.setdefault(row["settlement_date"], CalendarDay(date=row["settlement_date"]))
        name = row["status"] if row["status"] in ("pending", "settled", "failed") else "other"
        setattr(day, name, getattr(day, name) + row["n"])
    cash = (
        SettlementInstruction.objects.filter(settlement_date__gte=start, settlement_date__lte=end)
        .exclude(status=InstructionStatus.CANCELLED)
        .values("settlement_date", "currency")
        .annotate(net=Sum("cash_amount"))
    )
    for row in cash:
        days[row["settlement_date"]].cash[row["currency"]] = row["net"]
    return [days[d] for d in sorted(days)]


def good_faith_violations_for(*, account: TradingAccount) -> QuerySet[GoodFaithViolation]:
    return GoodFaithViolation.objects.filter(account=account).select_related("instrument")


def settlement_totals(*, user: User, account: TradingAccount) -> dict[str, Decimal | int]:
    """The client's outstanding settlement: proceeds still to come, purchases still to
    settle, and how many instructions failed."""
    qs = SettlementInstruction.objects.filter(
        account=account, account__owner=user, status__in=OUTSTANDING_STATUSES
    )
    totals = qs.aggregate(
        proceeds=Sum("cash_amount", filter=Q(cash_amount__gt=0)),
        purchases=Sum("cash_amount", filter=Q(cash_amount__lt=0)),
        failed=Count("id", filter=Q(status=InstructionStatus.FAILED)),
        pending=Count("id", filter=Q(status=InstructionStatus.PENDING)),
    )
    return {
        "proceeds": totals["proceeds"] or Decimal(0),
        "purchases": -(totals["purchases"] or Decimal(0)),
        "failed": totals["failed"],
        "pending": totals["pending"],
    }
