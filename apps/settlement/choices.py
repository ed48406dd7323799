from django.db import models


class InstructionStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SETTLED = "settled", "Settled"
    FAILED = "failed", "Failed"
    BOUGHT_IN = "bought_in", "Bought in"
    CANCELLED = "cancelled", "Cancelled"
