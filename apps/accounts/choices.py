from django.db import models


class AccountType(models.TextChoices):
    CASH = "cash", "Cash"
    MARGIN = "margin", "Margin"


class AccountStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    ACTIVE = "active", "Active"
    RESTRICTED = "restricted", "Restricted"
    SUSPENDED = "suspended", "Suspended"
    CLOSED = "closed", "Closed"


class LotReliefMethod(models.TextChoices):
    FIFO = "fifo", "First in, first out"
    LIFO = "lifo", "Last in, first out"
    HIFO = "hifo", "Highest cost first"
    SPECIFIC = "specific", "Specific lots"


class SignInMethod(models.TextChoices):
    PORTAL = "portal", "Portal"
    API = "api", "API token"
    ADMIN = "admin", "Back office"


class Role(models.TextChoices):
    """Roles are Django groups of the same name; superuser is Django's own flag."""

    CLIENT = "client", "Client"
    BROKER_OPERATIONS = "broker_operations", "Broker operations"
    COMPLIANCE = "compliance", "Compliance"
    RISK = "risk", "Risk"
    SUPPORT = "support", "Support (read-only)"
