from django.db import models


class InstructionStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SETTLED = "settled", "Settled"
    FAILED = "failed", "Failed"
    BOUGHT_IN = "bought_in", "Bought in"
    CANCELLED = "cancelled", "Cancelled"


# Instructions whose movement is still owed: they keep their claim on the unsettled buckets.
OUTSTANDING_STATUSES = (InstructionStatus.PENDING, InstructionStatus.FAILED)


class FailCode(models.TextChoices):
    """Why an instruction could not settle on its date."""

    TRADE_BUSTED = "trade_busted", "Trade busted"
    SHARES_MISSING = "shares_missing", "Shares not in the account's books"


class RunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed (resume by running the date again)"


class RunTrigger(models.TextChoices):
    SCHEDULE = "schedule", "End-of-day schedule"
    COMMAND = "command", "manage.py run_settlement"
    STAFF = "staff", "Staff request"
