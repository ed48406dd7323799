"""KYC settings are checked at start-up, not when a client first trades."""

from apps.kyc.checks import kyc_settings_check


def test_the_shipped_settings_pass():
    assert kyc_settings_check() == []


def test_bad_settings_are_reported(settings):
    settings.KYC_TIER_LIMITS = {1: {"trading": "lots", "withdrawal": "-5"}, 2: {}}
    settings.KYC_SCREENING_THRESHOLD = 0
    settings.KYC_PEP_LIST_FILE = "/nonexistent/pep.csv"
    settings.FIELD_ENCRYPTION_KEYS = ["short"]
    ids = sorted(error.id for error in kyc_settings_check())
    assert ids == ["kyc.E001", "kyc.E002", "kyc.E002", "kyc.E003", "kyc.E004", "kyc.E005"]
