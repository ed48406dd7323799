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


class MarketState(models.TextChoices):
    """What order intake sees for an instrument at an instant."""

    CLOSED = "closed", "Closed"
    PRE_OPEN = "pre_open", "Pre-open"
    OPEN = "open", "Open"
    HALTED = "halted", "Halted"


class HaltKind(models.TextChoices):
    NEWS_PENDING = "news_pending", "News pending"
    VOLATILITY = "volatility", "Volatility pause"
    REGULATORY = "regulatory", "Regulatory"
    OPERATIONAL = "operational", "Operational"
    CORPORATE_ACTION = "corporate_action", "Corporate action"
    OTHER = "other", "Other"


class ClosureKind(models.TextChoices):
    CLOSED = "closed", "Closed all day"
    EARLY_CLOSE = "early_close", "Early close"
    LATE_OPEN = "late_open", "Late open"


# Settlement cycle in business days when an instrument does not set its own. US equities and
# ETFs moved to T+1 on 28 May 2024, as did corporate and agency bonds (Treasuries were already
# T+1) and most mutual funds. Spot gold settles T+2 (London bullion market convention), and
# private company shares settle on negotiated terms that rarely beat T+2.
DEFAULT_SETTLEMENT_CYCLE: dict[str, int] = {
    AssetClass.EQUITY: 1,
    AssetClass.ETF: 1,
    AssetClass.BOND: 1,
    AssetClass.FUND: 1,
    AssetClass.COMMODITY: 2,
    AssetClass.PRIVATE: 2,
}

# Asset classes that are securities with an ISIN or CUSIP; commodities and private company
# shares may have neither.
IDENTIFIER_REQUIRED = {AssetClass.EQUITY, AssetClass.ETF, AssetClass.BOND, AssetClass.FUND}


# --- Corporate actions ----------------------------------------------------------------------


class CorporateActionKind(models.TextChoices):
    CASH_DIVIDEND = "cash_dividend", "Cash dividend"
    SPLIT = "split", "Stock split"
    REVERSE_SPLIT = "reverse_split", "Reverse split"
    SYMBOL_CHANGE = "symbol_change", "Symbol change"


class CorporateActionStatus(models.TextChoices):
    """draft (entered, not public) -> announced (clients see it) -> approved (a second staff
    member checked the terms) -> processed (books changed, final); cancelled before that."""

    DRAFT = "draft", "Draft"
    ANNOUNCED = "announced", "Announced"
    APPROVED = "approved", "Approved"
    PROCESSED = "processed", "Processed"
    CANCELLED = "cancelled", "Cancelled"


class OpenOrderPolicy(models.TextChoices):
    """What a split does to the instrument's open orders."""

    ADJUST = "adjust", "Adjust price and quantity"
    CANCEL = "cancel", "Cancel and release holds"


SPLIT_KINDS = (CorporateActionKind.SPLIT, CorporateActionKind.REVERSE_SPLIT)
# What clients see: everything but drafts and cancelled entries.
PUBLIC_CORPORATE_ACTION_STATUSES = (
    CorporateActionStatus.ANNOUNCED,
    CorporateActionStatus.APPROVED,
    CorporateActionStatus.PROCESSED,
)
