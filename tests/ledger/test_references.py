"""Deposit references: ISO 11649 check digits catch typos."""

import pytest

from apps.ledger import references


@pytest.mark.parametrize("number", ["BRS-000001", "BRS-000042", "BRS-123456", "BRS-9999999"])
def test_references_round_trip(number):
    reference = references.reference_for(number)
    assert reference.startswith("RF") and len(reference) <= 25
    assert references.account_number_from(reference) == number
    assert references.account_number_from(references.display(reference)) == number


def test_a_known_iso_11649_reference_validates():
    # The standard's own example (RF18 5390 0754 7034) has valid check digits.
    compact = "RF18539007547034"
    check, body = compact[2:4], compact[4:]
    assert references._check_digits(body) == check


@pytest.mark.parametrize(
    "typo",
    [lambda r: r[:-1] + str((int(r[-1]) + 1) % 10), lambda r: r[:-2] + r[-1] + r[-2]],
    ids=["wrong digit", "swapped digits"],
)
def test_typos_are_caught(typo):
    reference = references.reference_for("BRS-000317")
    assert references.account_number_from(typo(reference)) is None


@pytest.mark.parametrize("text", ["", "BRS-000001", "RF00", "hello", "RF18539007547034"])
def test_other_text_names_no_account(text):
    assert references.account_number_from(text) is None
