from django.db import models


class KycStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted"
    UNDER_REVIEW = "under_review", "Under review"
    NEEDS_INFORMATION = "needs_information", "Needs information"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    REVIEW_DUE = "review_due", "Review due"


NOT_STARTED = "not_started"

# The client may change the application only in these states.
EDITABLE_STATUSES = (KycStatus.DRAFT, KycStatus.NEEDS_INFORMATION)
# Applications compliance still has to act on (the review queue).
OPEN_STATUSES = (KycStatus.SUBMITTED, KycStatus.UNDER_REVIEW, KycStatus.REVIEW_DUE)


class Tier(models.IntegerChoices):
    BASIC = 1, "Tier 1: basic identity"
    VERIFIED = 2, "Tier 2: government id and proof of address"
    ENHANCED = 3, "Tier 3: enhanced due diligence"


class RiskRating(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"


class TaxIdType(models.TextChoices):
    SSN = "ssn", "US Social Security number"
    ITIN = "itin", "US individual taxpayer identification number"
    FOREIGN = "foreign", "Foreign tax identification number"


class EmploymentStatus(models.TextChoices):
    EMPLOYED = "employed", "Employed"
    SELF_EMPLOYED = "self_employed", "Self-employed"
    UNEMPLOYED = "unemployed", "Not employed"
    RETIRED = "retired", "Retired"
    STUDENT = "student", "Student"
    HOMEMAKER = "homemaker", "Homemaker"


EMPLOYED_STATUSES = (EmploymentStatus.EMPLOYED, EmploymentStatus.SELF_EMPLOYED)


class IncomeRange(models.TextChoices):
    UNDER_25K = "under_25k", "Under $25,000"
    FROM_25K = "25k_50k", "$25,000 - $49,999"
    FROM_50K = "50k_100k", "$50,000 - $99,999"
    FROM_100K = "100k_200k", "$100,000 - $199,999"
    FROM_200K = "200k_500k", "$200,000 - $499,999"
    FROM_500K = "500k_1m", "$500,000 - $999,999"
    OVER_1M = "over_1m", "$1,000,000 or more"


class WealthRange(models.TextChoices):
    UNDER_50K = "under_50k", "Under $50,000"
    FROM_50K = "50k_100k", "$50,000 - $99,999"
    FROM_100K = "100k_250k", "$100,000 - $249,999"
    FROM_250K = "250k_500k", "$250,000 - $499,999"
    FROM_500K = "500k_1m", "$500,000 - $999,999"
    FROM_1M = "1m_5m", "$1,000,000 - $4,999,999"
    OVER_5M = "over_5m", "$5,000,000 or more"


class SourceOfFunds(models.TextChoices):
    EMPLOYMENT = "employment", "Employment income"
    SAVINGS = "savings", "Savings"
    INVESTMENTS = "investments", "Investment returns"
    BUSINESS = "business", "Business income"
    INHERITANCE = "inheritance", "Inheritance"
    PROPERTY_SALE = "property_sale", "Sale of property"
    RETIREMENT = "retirement", "Pension or retirement savings"
    GIFT = "gift", "Gift"
    OTHER = "other", "Other"


class InvestmentExperience(models.TextChoices):
    NONE = "none", "None"
    LIMITED = "limited", "Limited (under 2 years)"
    GOOD = "good", "Good (2 to 5 years)"
    EXTENSIVE = "extensive", "Extensive (over 5 years)"


class InvestmentObjective(models.TextChoices):
    CAPITAL_PRESERVATION = "capital_preservation", "Capital preservation"
    INCOME = "income", "Income"
    GROWTH = "growth", "Growth"
    SPECULATION = "speculation", "Speculation"


class TimeHorizon(models.TextChoices):
    SHORT = "short", "Under 3 years"
    AVERAGE = "average", "3 to 10 years"
    LONG = "long", "Over 10 years"


class RiskTolerance(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"


class DocumentKind(models.TextChoices):
    GOVERNMENT_ID = "government_id", "Government-issued photo id"
    PROOF_OF_ADDRESS = "proof_of_address", "Proof of address"
    SELFIE = "selfie", "Selfie holding the id"
    ACCREDITATION_EVIDENCE = "accreditation_evidence", "Accredited-investor evidence"


class DocumentAccessChannel(models.TextChoices):
    API = "api", "Client API"
    PORTAL = "portal", "Client portal"
    BACKOFFICE_API = "backoffice_api", "Back-office API"
    ADMIN = "admin", "Back office"


class ScreeningOutcome(models.TextChoices):
    CLEAR = "clear", "Clear"
    POSSIBLE_MATCH = "possible_match", "Possible sanctions match"
    ENHANCED_REVIEW = "enhanced_review", "Enhanced review (PEP or high-risk country)"
    LIST_UNAVAILABLE = "list_unavailable", "No sanctions list loaded"


class HitSource(models.TextChoices):
    SANCTIONS = "sanctions", "Sanctions list"
    PEP = "pep", "Politically exposed persons"


class AccreditationBasis(models.TextChoices):
    INCOME = "income", "Income over $200,000 ($300,000 joint) in each of the last two years"
    NET_WORTH = "net_worth", "Net worth over $1,000,000 excluding the primary residence"
    PROFESSIONAL = "professional", "Professional licence (Series 7, 65 or 82)"


class AccreditationStatus(models.TextChoices):
    PENDING = "pending", "Pending verification"
    VERIFIED = "verified", "Verified"
    REJECTED = "rejected", "Rejected"
    REVOKED = "revoked", "Revoked"


US_STATES = [
    "AL",
    "AK",
    "AZ",
    "AR",
    "CA",
    "CO",
    "CT",
    "DE",
    "DC",
    "FL",
    "GA",
    "HI",
    "ID",
    "IL",
    "IN",
    "IA",
    "KS",
    "KY",
    "LA",
    "ME",
    "MD",
    "MA",
    "MI",
    "MN",
    "MS",
    "MO",
    "MT",
    "NE",
    "NV",
    "NH",
    "NJ",
    "NM",
    "NY",
    "NC",
    "ND",
    "OH",
    "OK",
    "OR",
    "PA",
    "RI",
    "SC",
    "SD",
    "TN",
    "TX",
    "UT",
    "VT",
    "VA",
    "WA",
    "WV",
    "WI",
    "WY",
    "AS",
    "GU",
    "MP",
    "PR",
    "VI",
]
