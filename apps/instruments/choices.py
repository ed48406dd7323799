from django.db import models


class AssetClass(models.TextChoices):
    EQUITY = "equity", "Equity"
    ETF = "etf", "ETF"
    BOND = "bond", "Bond"
    FUND = "fund", "Fund"
    COMMODITY = "commodity", "Commodity"
    PRIVATE = "private", "Private security"


class InstrumentStatus(models.TextChoices):
    LISTED = "listed", "Listed"
    HALTED = "halted", "Halted"
    SUSPENDED = "suspended", "Suspended"
    DELISTED = "delisted", "Delisted"
