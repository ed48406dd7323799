"""ISIN and CUSIP check digits: real identifiers pass, one wrong character fails."""

import pytest

from apps.instruments.identifiers import (
    IdentifierError,
    cusip_from_isin,
    is_valid_cusip,
    is_valid_isin,
    isin_from_cusip,
    normalize_cusip,
    normalize_isin,
)

REAL_ISINS = [
    "US0378331005",  # Apple
    "US02079K3059",  # Alphabet A (letters inside the CUSIP)
    "US46625H1005",  # JPMorgan Chase
    "US78462F1030",  # SPDR S&P 500 ETF
    "US91282CLW90",  # US Treasury note (letters in the CUSIP)
    "GB0002634946",  # BAE Systems
    "DE0007164600",  # SAP
    "CH0012005267",  # Novartis
    "AU0000XVGZA3",  # an Australian treasury (letters in the national number)
    "JP3633400001",  # Toyota
]
REAL_CUSIPS = ["037833100", "02079K305", "46625H100", "91282CLW9", "38259P508", "922906300"]


@pytest.mark.parametrize("isin", REAL_ISINS)
def test_real_isins_pass(isin):
    assert is_valid_isin(isin)
    assert normalize_isin(f" {isin.lower()} ") == isin


@pytest.mark.parametrize("isin", REAL_ISINS)
def test_any_other_check_digit_fails(isin):
    for digit in "0123456789":
        if digit != isin[-1]:
            assert not is_valid_isin(isin[:-1] + digit)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("US0378331006", "check digit is wrong"),
        ("US0378331O05", "check digit"),  # letter O for zero: still a checksum failure
        ("US037833100", "12 characters"),
        ("ZZ0378331005", "country code"),
        ("US03783310-5", "letters and digits"),
        ("", "12 characters"),
    ],
)
def test_bad_isins_say_why(value, message):
    with pytest.raises(IdentifierError, match=message):
        normalize_isin(value)


def test_isin_transposition_is_caught_by_luhn():
    # Swapping two adjacent digits of Apple's ISIN body changes the Luhn sum.
    assert not is_valid_isin("US0378313005")


@pytest.mark.parametrize("cusip", REAL_CUSIPS)
def test_real_cusips_pass(cusip):
    assert is_valid_cusip(cusip)
    for digit in "0123456789":
        if digit != cusip[-1]:
            assert not is_valid_cusip(cusip[:-1] + digit)


@pytest.mark.parametrize(
    ("value", "message"),
    [("037833101", "check digit"), ("03783310", "9 characters"), ("0378331$0", "letters")],
)
def test_bad_cusips_say_why(value, message):
    with pytest.raises(IdentifierError, match=message):
        normalize_cusip(value)


def test_cusip_double_add_double_by_hand():
    """037833100: digits at even positions doubled, digits of products summed, then
    (10 - sum mod 10) mod 10 is the check digit."""
    values = [int(c) for c in "03783310"]
    total = 0
    for position, value in enumerate(values, start=1):
        value = value * 2 if position % 2 == 0 else value
        total += value // 10 + value % 10
    assert (10 - total % 10) % 10 == 0
    assert is_valid_cusip("037833100")


def test_isin_and_cusip_go_together_for_north_america():
    assert cusip_from_isin("US0378331005") == "037833100"
    assert cusip_from_isin("GB0002634946") is None
    assert isin_from_cusip("037833100") == "US0378331005"
