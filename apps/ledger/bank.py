"""The firm's bank, behind an adapter: payouts to clients and returns of unmatched deposits.

``settings.BANK_ADAPTER`` names the adapter class. The default, :class:`SimulatedBank`, keeps
its payouts in a table and settles each one after ``BANK_SIMULATED_DELAY``: a periodic Celery
task (``simulated_bank_settle_due``) completes it, or fails it with probability
``BANK_SIMULATED_FAILURE_RATE``, and reports the outcome to Bourse exactly as a real bank's
webhook would (``withdrawal_bank_report``). So the whole withdrawal flow runs end to end on
one machine.

A real adapter implements :class:`BankAdapter` against the bank's API: ``send_payout`` must be
idempotent per ``payout_id`` (Bourse may retry after a crash), and the bank reports outcomes
through POST /api/v1/webhooks/bank (events ``payout_completed`` / ``payout_failed``).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from apps.core.errors import ApplicationError
from apps.ledger.choices import SimulatedPayoutOutcome
from apps.ledger.models import SimulatedBankPayout

logger = logging.getLogger("bourse.ledger.bank")


@dataclass(frozen=True)
class PayoutInstruction:
    payout_id: str  # unique per withdrawal ("WD-<id>"): the bank dedupes on it
    amount: Decimal
    currency: str
    destination: str  # the client's bank account, as they gave it
    reference: str  # shown on the client's statement


@dataclass(frozen=True)
class PayoutReceipt:
    bank_reference: str


class BankError(Exception):
    """The bank could not be reached or answered with a temporary error: try again later."""


class BankRefused(BankError):
    """The bank refused the instruction for good (e.g. an invalid destination)."""


class BankAdapter(ABC):
    @abstractmethod
    def send_payout(self, instruction: PayoutInstruction) -> PayoutReceipt:
        """Instruct a payout; idempotent per ``instruction.payout_id``.

        Raises BankRefused for a permanent refusal, BankError for a temporary failure. The
        outcome arrives later (webhook events ``payout_completed`` / ``payout_failed``).
        """

    @abstractmethod
    def return_credit(
        self, *, bank_transaction_id: str, amount: Decimal, currency: str, reason: str
    ) -> str:
        """Send a received credit back to its payer; returns the bank's reference."""


class SimulatedBank(BankAdapter):
    """A bank that pays out after a delay, and sometimes fails (see the module docstring)."""

    FAILURE_REASON = "Simulated bank: the beneficiary bank rejected the payment"

    def send_payout(self, instruction: PayoutInstruction) -> PayoutReceipt:
        fails = secrets.randbelow(1_000_000) < settings.BANK_SIMULATED_FAILURE_RATE * 1_000_000
        digest = hashlib.sha256(instruction.payout_id.encode()).hexdigest()[:12].upper()
        payout, _ = SimulatedBankPayout.objects.get_or_create(
            payout_id=instruction.payout_id,
            defaults={
                "amount": instruction.amount,
                "currency": instruction.currency,
                "destination": instruction.destination,
                "bank_reference": f"SIM-{digest}",
                "outcome": SimulatedPayoutOutcome.FAIL
                if fails
                else SimulatedPayoutOutcome.COMPLETE,
                "due_at": timezone.now() + settings.BANK_SIMULATED_DELAY,
            },
        )
        return PayoutReceipt(bank_reference=payout.bank_reference)

    def return_credit(
        self, *, bank_transaction_id: str, amount: Decimal, currency: str, reason: str
    ) -> str:
        digest = hashlib.sha256(f"return:{bank_transaction_id}".encode()).hexdigest()[:12]
        return f"SIMRET-{digest.upper()}"

    def settle_due(self, *, now: datetime | None = None, limit: int = 200) -> int:
        """Settle payouts whose delay is over and report each outcome; returns how many."""
        from apps.ledger.services import withdrawal_bank_report

        now = now or timezone.now()
        due = list(
            SimulatedBankPayout.objects.filter(settled_at__isnull=True, due_at__lte=now)
            .order_by("due_at")
            .values_list("pk", flat=True)[:limit]
        )
        settled = 0
        for pk in due:
            with transaction.atomic():
                payout = (
                    SimulatedBankPayout.objects.select_for_update(skip_locked=True)
                    .filter(pk=pk, settled_at__isnull=True)
                    .first()
                )
                if payout is None:
                    continue
                payout.settled_at = now
                payout.save(update_fields=["settled_at"])
                succeeded = payout.outcome == SimulatedPayoutOutcome.COMPLETE
                try:
                    withdrawal_bank_report(
                        payout_id=payout.payout_id,
                        succeeded=succeeded,
                        bank_reference=payout.bank_reference,
                        reason="" if succeeded else self.FAILURE_REASON,
                    )
                except ApplicationError as exc:
                    # Staff settled it by hand meanwhile; the bank's word changes nothing.
                    logger.warning(
                        "Payout %s report not applied: %s", payout.payout_id, exc.message
                    )
            settled += 1
        return settled


def bank_signature_valid(body: bytes, signature: str | None) -> bool:
    """Whether ``signature`` is the hex HMAC-SHA256 of ``body`` under BANK_WEBHOOK_SECRET (or a
    fallback secret during rotation). Compared in constant time; no secret, no match."""
    provided = (signature or "").strip().lower()
    secrets_in_use = [settings.BANK_WEBHOOK_SECRET, *settings.BANK_WEBHOOK_SECRET_FALLBACKS]
    matched = False
    for secret in filter(None, secrets_in_use):
        expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        matched |= hmac.compare_digest(expected, provided)
    return matched


def bank_adapter() -> BankAdapter:
    """The configured bank adapter (settings.BANK_ADAPTER)."""
    return import_string(settings.BANK_ADAPTER)()
