from django.db import models


class Bucket(models.TextChoices):
    """What part of a holding a ledger account records (for cash and securities alike)."""

    SETTLED = "settled", "Settled"
    UNSETTLED = "unsettled", "Unsettled"
    RESERVED = "reserved", "Reserved"


class HouseAccount(models.TextChoices):
    """The firm's own accounts. They may go negative: house bank is minus the client cash the
    firm holds at its bank."""

    BANK = "bank", "Cash at the bank"
    CLEARING = "clearing", "Clearing counterparty"
    FEES = "fees", "Fee income"
    CUSTODY = "custody", "Custodian"
    SUSPENSE = "suspense", "Suspense (unmatched money)"
    ADJUSTMENTS = "adjustments", "Manual adjustments"
    WITHHOLDING = "withholding", "Tax withheld"


class JournalKind(models.TextChoices):
    """Kinds of journal entry the ledger posts itself. Other apps post their own kinds
    (trade, fee, settlement, ...): a kind is any short snake_case word."""

    DEPOSIT = "deposit", "Deposit"
    DEPOSIT_SUSPENSE = "deposit_suspense", "Deposit held in suspense"
    DEPOSIT_ASSIGN = "deposit_assign", "Suspense deposit assigned"
    DEPOSIT_RETURN = "deposit_return", "Suspense deposit returned"
    WITHDRAWAL_HOLD = "withdrawal_hold", "Withdrawal requested (cash reserved)"
    WITHDRAWAL_RELEASE = "withdrawal_release", "Withdrawal hold released"
    WITHDRAWAL_PAYOUT = "withdrawal_payout", "Withdrawal paid out"
    ADJUSTMENT = "adjustment", "Manual adjustment"
    REVERSAL = "reversal", "Reversal"
    TRANSFER = "transfer", "Transfer"


class DepositStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    CREDITED = "credited", "Credited"
    IN_SUSPENSE = "in_suspense", "In suspense"
    ASSIGNED = "assigned", "Assigned"
    RETURNED = "returned", "Returned"


class SuspenseReason(models.TextChoices):
    UNKNOWN_REFERENCE = "unknown_reference", "Unknown reference"
    ACCOUNT_NOT_OPEN = "account_not_open", "Account not open for deposits"
    CURRENCY_MISMATCH = "currency_mismatch", "Currency differs from the account's"


class WithdrawalStatus(models.TextChoices):
    REQUESTED = "requested", "Requested"
    APPROVED = "approved", "Approved"
    PROCESSING = "processing", "Processing"
    COMPLETED = "completed", "Completed"
    REJECTED = "rejected", "Rejected"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


OPEN_WITHDRAWAL_STATUSES = (
    WithdrawalStatus.REQUESTED,
    WithdrawalStatus.APPROVED,
    WithdrawalStatus.PROCESSING,
)
# Statuses that count against the daily withdrawal limit.
LIMITED_WITHDRAWAL_STATUSES = (*OPEN_WITHDRAWAL_STATUSES, WithdrawalStatus.COMPLETED)


class AdjustmentStatus(models.TextChoices):
    PENDING_APPROVAL = "pending_approval", "Pending approval"
    APPLIED = "applied", "Applied"
    REJECTED = "rejected", "Rejected"


class ReconciliationTrigger(models.TextChoices):
    SCHEDULE = "schedule", "Daily schedule"
    COMMAND = "command", "manage.py ledger_verify"
    STAFF = "staff", "Staff request"


class SimulatedPayoutOutcome(models.TextChoices):
    COMPLETE = "complete", "Complete"
    FAIL = "fail", "Fail"
