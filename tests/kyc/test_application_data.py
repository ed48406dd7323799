"""What a US broker collects, validated; the tax id encrypted at rest and shown masked."""

import datetime as dt

import pytest
from cryptography.fernet import Fernet
from django.db import connection
from django.utils import timezone

from apps.core.errors import ApplicationError
from apps.kyc import crypto, services
from apps.kyc.models import KycApplication
from apps.kyc.selectors import kyc_application_missing, kyc_tax_id
from tests.factories.kyc import SSN, KycApplicationFactory, fill_in

pytestmark = pytest.mark.django_db


def update(user, **fields):
    return services.kyc_application_update(user=user, actor=user, **fields)


def refused(user, **fields) -> dict:
    with pytest.raises(ApplicationError) as error:
        update(user, **fields)
    assert error.value.code == "invalid"
    return error.value.details


def years_ago(years: int, days: int = 0) -> dt.date:
    today = timezone.localdate()
    return today.replace(year=today.year - years) + dt.timedelta(days=days)


def test_an_adult_date_of_birth(client_user):
    assert update(client_user, date_of_birth=years_ago(18)).date_of_birth == years_ago(18)
    assert "date_of_birth" in refused(client_user, date_of_birth=years_ago(18, days=1))
    assert "date_of_birth" in refused(client_user, date_of_birth=timezone.localdate())
    assert "date_of_birth" in refused(client_user, date_of_birth=years_ago(130))
    assert "date_of_birth" in refused(client_user, date_of_birth="1990-13-45")


@pytest.mark.parametrize(
    ("value", "kind", "stored"),
    [
        ("123-45-6789", "ssn", "***-**-6789"),
        ("123456789", "ssn", "***-**-6789"),
        ("912-70-1234", "itin", "***-**-1234"),
        ("DE 12 345 678 901", "foreign", "****8901"),
    ],
)
def test_valid_tax_ids_are_stored_masked(client_user, value, kind, stored):
    application = update(client_user, tax_id=value)
    assert application.tax_id_type == kind
    assert application.tax_id_masked == stored


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("000-12-3456", None),  # area 000
        ("666-12-3456", None),  # area 666
        ("123-00-4567", None),  # group 00
        ("123-45-0000", None),  # serial 0000
        ("12-345-678", "ssn"),  # eight digits
        ("912-40-1234", "itin"),  # 40 is not an ITIN group
        ("123-45-6789", "itin"),  # an ITIN starts with 9
        ("912-70-1234", "ssn"),  # an SSN never starts with 9
        ("AB!", "foreign"),
    ],
)
def test_invalid_tax_ids_are_refused(client_user, value, kind):
    fields = {"tax_id": value} | ({"tax_id_type": kind} if kind else {})
    assert "tax_id" in refused(client_user, **fields)
    assert not KycApplication.objects.filter(user=client_user).exclude(tax_id_encrypted="").exists()


def test_us_persons_give_an_ssn_or_itin_and_citizens_an_ssn(client_user):
    application = fill_in(client_user, tax_id="912-70-1234")  # ITIN, but a US citizen
    assert "tax_id" in kyc_application_missing(application)
    application = update(client_user, citizenship="MX")  # a resident alien may use an ITIN
    assert kyc_application_missing(application) == {}
    application = update(client_user, tax_id="MX12345678", tax_id_type="foreign")
    assert "tax_id" in kyc_application_missing(application)  # still a US resident
    application = update(client_user, country="MX", region="Jalisco", postal_code="44100")
    assert kyc_application_missing(application) == {}


def test_address_rules(client_user):
    update(client_user, country="US")
    assert "address_line1" in refused(client_user, address_line1="P.O. Box 12")
    assert "address_line1" in refused(client_user, address_line1="PO Box 12")
    assert "region" in refused(client_user, region="Illinois")
    assert "postal_code" in refused(client_user, postal_code="6270")
    ok = update(client_user, region="il", postal_code="62701-1234", address_line1="1  Main St")
    assert (ok.region, ok.postal_code, ok.address_line1) == ("IL", "62701-1234", "1 Main St")


def test_countries_are_iso_codes(client_user):
    assert update(client_user, citizenship="usa", country="gb").citizenship == "US"
    assert "country" in refused(client_user, country="Narnia")


def test_names_choices_and_unknown_fields(client_user):
    assert "legal_name" in refused(client_user, legal_name="R2-D2")
    assert update(client_user, legal_name="  Anne-Marie  O'Neil ").legal_name == "Anne-Marie O'Neil"
    assert update(client_user, legal_name="José Ñúñez").legal_name == "José Ñúñez"
    assert update(client_user, legal_name="Bjørn Sørensen").legal_name == "Bjørn Sørensen"
    # Screening lists are Latin-script: a name it could not compare is refused.
    assert "legal_name" in refused(client_user, legal_name="Рустам Халилов")
    assert "risk_tolerance" in refused(client_user, risk_tolerance="reckless")
    assert "requested_tier" in refused(client_user, requested_tier=4)
    assert "is_staff" in refused(client_user, is_staff=True)


def test_every_invalid_field_is_reported_at_once(client_user):
    details = refused(client_user, legal_name="1", country="XX", tax_id="1")
    assert set(details) == {"legal_name", "country", "tax_id"}


def test_employment_and_funds_rules():
    application = KycApplicationFactory()
    user = application.user
    assert kyc_application_missing(update(user, employer="")) == {
        "employer": "Required when employed."
    }
    application = update(user, employment_status="retired")
    assert kyc_application_missing(application) == {}
    application = update(user, control_person=True)
    assert "control_person_company" in kyc_application_missing(application)
    application = update(user, control_person_company="Acme Corp", source_of_funds="other")
    assert "source_of_funds_detail" in kyc_application_missing(application)
    application = update(user, source_of_funds_detail="Lottery win in 2021", requested_tier=3)
    assert "source_of_funds_detail" in kyc_application_missing(application)  # EDD wants more
    assert {"government_id", "proof_of_address"} <= set(kyc_application_missing(application))


def test_tax_id_is_encrypted_at_rest(client_user):
    update(client_user, tax_id=SSN)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tax_id_encrypted FROM kyc_kycapplication WHERE user_id = %s", [client_user.pk]
        )
        (raw,) = cursor.fetchone()
        cursor.execute(
            "SELECT tax_id_encrypted FROM kyc_historicalkycapplication WHERE user_id = %s",
            [client_user.pk],
        )
        history = [row[0] for row in cursor.fetchall()]
    assert raw and SSN not in raw and "123456789" not in raw and "6789" not in raw
    assert all(SSN not in (h or "") for h in history)
    assert crypto.decrypt(raw) == SSN
    assert kyc_tax_id(user=client_user) == SSN


def test_tax_id_is_masked_in_the_api_and_the_audit_trail(as_client, client_user, as_staff):
    response = as_client.put("/api/v1/kyc", {"tax_id": "123 45 6789"}, format="json")
    assert response.status_code == 200
    assert response.json()["tax_id"] == "***-**-6789"
    assert "123-45-6789" not in response.content.decode()
    assert as_client.get("/api/v1/kyc").json()["tax_id"] == "***-**-6789"
    application = KycApplication.objects.get(user=client_user)
    history = as_staff("compliance").get(
        "/api/v1/backoffice/history", {"model": "kyc.kycapplication", "object_id": application.pk}
    )
    assert history.status_code == 200
    changes = history.json()["results"][0]["changes"]
    assert changes["tax_id_encrypted"] == ["***", "***"]
    assert "6789" not in str(changes.get("tax_id_encrypted"))


def test_changing_the_tax_id_type_needs_the_number_again(client_user):
    update(client_user, tax_id=SSN)
    assert "tax_id" in refused(client_user, tax_id_type="itin")
    assert update(client_user, tax_id="").tax_id_masked == ""


def test_rotating_the_field_encryption_key(client_user, other_client, settings):
    old_key = crypto.configured_keys()[0]
    update(client_user, tax_id=SSN)
    update(other_client, tax_id="912-70-1234")
    update(other_client, occupation="Nurse")  # a second history row with the ciphertext
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    assert kyc_tax_id(user=client_user) == SSN  # old ciphertexts still open

    rewritten = services.field_encryption_rotate()
    assert rewritten >= 4  # two applications and their history rows

    settings.FIELD_ENCRYPTION_KEYS = [new_key]  # the old key is gone
    assert kyc_tax_id(user=client_user) == SSN
    assert kyc_tax_id(user=other_client) == "912-70-1234"
    for row in KycApplication.history.exclude(tax_id_encrypted=""):
        assert crypto.decrypt(row.tax_id_encrypted) in (SSN, "912-70-1234")


def test_a_ciphertext_under_an_unknown_key_is_a_configuration_error(client_user, settings):
    from django.core.exceptions import ImproperlyConfigured

    update(client_user, tax_id=SSN)
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(ImproperlyConfigured):
        kyc_tax_id(user=client_user)


def test_the_api_saves_as_you_go(as_client):
    first = as_client.put(
        "/api/v1/kyc",
        {"legal_name": "Pat Lee", "address": {"line1": "1 Main St", "city": "Springfield"}},
        format="json",
    )
    assert first.status_code == 200
    assert first.json()["status"] == "draft"
    second = as_client.put("/api/v1/kyc", {"address": {"postal_code": "62701"}}, format="json")
    body = second.json()
    assert body["legal_name"] == "Pat Lee"
    assert body["address"]["line1"] == "1 Main St"
    assert body["address"]["postal_code"] == "62701"
    assert "postal_code" not in body["missing"]
    bad = as_client.put("/api/v1/kyc", {"date_of_birth": "2020-01-01"}, format="json")
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid"
    assert "date_of_birth" in bad.json()["error"]["details"]
    line = as_client.patch("/api/v1/kyc", {"address": "9 Elm Street"}, format="json")
    assert line.json()["address"]["line1"] == "9 Elm Street"


def test_a_client_who_has_not_started_sees_a_blank_application(as_client):
    body = as_client.get("/api/v1/kyc").json()
    assert body["status"] == "not_started"
    assert body["id"] is None and body["editable"] is True
    assert body["limits"] == {
        "tier": None,
        "daily_trading_limit": "0.00",
        "daily_withdrawal_limit": "0.00",
    }
    assert as_client.get("/api/v1/me").json()["kyc_status"] == "not_started"
