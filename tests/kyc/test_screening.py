"""Screening on submission: the OFAC SDN layout, fuzzy name matching with dates of birth,
PEP and high-risk-country flags, the outcome on the application, automatic approval."""

import datetime as dt
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from apps.core.errors import ApplicationError
from apps.core.models import OutboxMessage
from apps.kyc import screening, services
from apps.kyc.choices import KycStatus, ScreeningOutcome
from apps.kyc.models import KycApplication, SanctionsEntry, SanctionsList, ScreeningResult
from tests.conftest import token_client
from tests.factories.accounts import ClientFactory, TradingAccountFactory
from tests.factories.kyc import fill_in, submit

pytestmark = pytest.mark.django_db

KHALILOV_DOB = dt.date(1971, 3, 14)


# --- The file -------------------------------------------------------------------------------


def test_the_sample_list_in_the_sdn_layout(sanctions_list):
    records = list(screening.parse_sdn(settings.KYC_SANCTIONS_SAMPLE_FILE.read_text()))
    assert len(records) == sanctions_list.entry_count == 18
    khalilov = next(r for r in records if r.ent_num == 9101)
    assert khalilov.name == "KHALILOV, Rustam Bakhtiyorovich"
    assert khalilov.is_individual and khalilov.programs == "RUSSIA-EO14024"
    assert khalilov.title == ""  # "-0- " is OFAC's empty value
    assert khalilov.birth_dates == [(KHALILOV_DOB, KHALILOV_DOB)]
    assert khalilov.aliases == ["HALILOV, Rustam"]
    vessel = next(r for r in records if r.ent_num == 9109)
    assert (vessel.sdn_type, vessel.is_individual) == ("vessel", False)
    assert next(r for r in records if r.ent_num == 9105).programs == "IRAN, IFSR"
    entity = SanctionsEntry.objects.get(sanctions_list=sanctions_list, ent_num=9108)
    assert entity.sdn_type == "" and entity.birth_dates == []


@pytest.mark.parametrize(
    ("remarks", "spans"),
    [
        (
            "DOB 02 Nov 1968; alt. DOB 1969; POB Yemen.",
            [("1968-11-02", "1968-11-02"), ("1969-01-01", "1969-12-31")],
        ),
        ("DOB Mar 1966; POB Lagos.", [("1966-03-01", "1966-03-31")]),
        ("DOB circa 1985;", [("1984-01-01", "1986-12-31")]),
        ("DOB 1962 to 1964;", [("1962-01-01", "1964-12-31")]),
        ("DOB 01 Jan 1962 to 31 Dec 1964", [("1962-01-01", "1964-12-31")]),
        ("POB Havana, Cuba.", []),
        ("DOB 31 Feb 1970", []),
    ],
)
def test_dates_of_birth_in_remarks(remarks, spans):
    expected = [(dt.date.fromisoformat(a), dt.date.fromisoformat(b)) for a, b in spans]
    assert screening.parse_birth_dates(remarks) == expected


def test_a_header_row_and_the_dos_end_of_file_marker_are_accepted():
    text = (
        '"ent_num","SDN_Name","SDN_Type","Program","Title","Call_Sign","Vess_type","Tonnage",'
        '"GRT","Vess_flag","Vess_owner","Remarks"\r\n'
        '1,"DOE, John","individual","SDGT",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,"DOB 1970."\r\n\x1a'
    )
    (record,) = screening.parse_sdn(text)
    assert (record.ent_num, record.name) == (1, "DOE, John")


def test_load_sanctions_replaces_the_list(tmp_path, sanctions_list):
    path = tmp_path / "sdn.csv"
    path.write_text(
        '1,"DOE, John","individual","SDGT",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,"DOB 1970."\n'
        '2,"ACME FRONT LTD",-0- ,"SDGT",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \n',
        encoding="cp1252",
    )
    out = StringIO()
    call_command("load_sanctions", str(path), stdout=out)
    assert "Loaded 2 entries (1 individuals)" in out.getvalue()
    current = SanctionsList.objects.latest()
    assert current.pk != sanctions_list.pk
    assert list(SanctionsEntry.objects.values_list("ent_num", flat=True)) == [1, 2]
    assert SanctionsList.objects.count() == 2  # earlier loads stay on record


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('1,"DOE, John","individual"\n', "Line 1: 3 columns"),
        ('x,"DOE, John","individual","SDGT",-0-,-0-,-0-,-0-,-0-,-0-,-0-,-0-\n', "not a number"),
        ("", "no entries"),
        (
            '1,"A","individual","SDGT",-0-,-0-,-0-,-0-,-0-,-0-,-0-,-0-\n'
            '1,"B","individual","SDGT",-0-,-0-,-0-,-0-,-0-,-0-,-0-,-0-\n',
            "appears twice",
        ),
    ],
)
def test_a_bad_file_loads_nothing(tmp_path, sanctions_list, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(CommandError, match=message):
        call_command("load_sanctions", str(path), stdout=StringIO())
    assert SanctionsList.objects.get() == sanctions_list
    assert SanctionsEntry.objects.count() == 18


# --- Matching -------------------------------------------------------------------------------


def screen(name: str, born: dt.date, **fields):
    user = ClientFactory()
    fill_in(user, legal_name=name, date_of_birth=born, **fields)
    application = submit(user)
    return application, application.latest_screening


@pytest.mark.parametrize(
    "name",
    [
        "Rustam Khalilov",  # token order, middle name left out
        "Khalilov, Rustam",  # the list's own "LAST, First" order
        "Rüstam Khalílov",  # accents
        "KHALILOV Rustam Bakhtiyorovich",
        "Rustam Bakhtiyorovich Khalilov",
        "Rustam Khalilof",  # a spelling variant
        "Rustam Halilov",  # the alias
    ],
)
def test_fuzzy_variants_of_a_listed_name_with_its_date_of_birth_are_hits(name):
    application, result = screen(name, KHALILOV_DOB)
    assert result.outcome == ScreeningOutcome.POSSIBLE_MATCH
    assert result.sanctions_match
    hit = result.hits.get(source="sanctions")
    assert hit.list_key == "9101"
    assert hit.list_name == "KHALILOV, Rustam Bakhtiyorovich"
    assert hit.dob_match is True
    assert hit.name_score >= settings.KYC_SCREENING_THRESHOLD
    assert hit.entry.ent_num == 9101
    assert "RUSSIA-EO14024" in hit.programs and "Tashkent" in hit.details
    assert application.status == KycStatus.UNDER_REVIEW
    assert application.risk_rating == "high"
    assert "Possible sanctions list match: KHALILOV, Rustam Bakhtiyorovich (SDN #9101" in (
        application.status_reason
    )
    assert application.history.first().history_change_reason.startswith("Screening:")


@pytest.mark.parametrize(
    ("name", "born", "key"),
    [
        ("José Luis Navarro Méndez", dt.date(1975, 7, 23), "9103"),
        ("Jose Luis Navarro Mendez", dt.date(1975, 7, 23), "9103"),
        ("Bjorn Sorensen", dt.date(1977, 5, 21), "9118"),  # ø written o
        ("Dmitry Volkov", dt.date(1970, 9, 30), "9110"),  # transliteration
        ("Reza Mohammadi", dt.date(1963, 6, 1), "9105"),  # DOB within "1962 to 1964"
        ("Olena Petrenko", dt.date(1986, 2, 2), "9104"),  # DOB circa 1985
        ("Ramon Ortega Salazar", dt.date(1950, 1, 1), "9107"),  # no DOB listed: name alone
    ],
)
def test_other_listed_people(name, born, key):
    _, result = screen(name, born)
    assert result.outcome == ScreeningOutcome.POSSIBLE_MATCH
    assert result.hits.get(source="sanctions").list_key == key


@pytest.mark.parametrize(
    ("name", "born"),
    [
        ("Rustam Khalilov", dt.date(1990, 1, 1)),  # the name, but not the person
        ("Wei Zhang", dt.date(1992, 4, 2)),  # a common name on the list, other DOB
        ("Pat Lee", dt.date(1988, 5, 17)),
        ("Margaret Ortega", dt.date(1975, 7, 23)),
    ],
)
def test_clean_names_and_other_people_pass(name, born):
    application, result = screen(name, born)
    assert result.outcome == ScreeningOutcome.CLEAR
    assert not result.hits.exists()
    assert result.risk_rating == "low"
    assert application.status == KycStatus.SUBMITTED  # waits for compliance
    assert application.status_reason == "Screening clear; waiting for review."


def test_a_politically_exposed_person_goes_to_review():
    application, result = screen("Victor Sokolov", dt.date(1961, 6, 25))
    assert result.outcome == ScreeningOutcome.ENHANCED_REVIEW
    assert result.pep_match and not result.sanctions_match
    hit = result.hits.get()
    assert (hit.source, hit.list_key, hit.details) == (
        "pep",
        "PEP-005",
        "Board member of a state-owned bank",
    )
    assert application.status == KycStatus.UNDER_REVIEW
    assert application.risk_rating == "high"


def test_high_risk_countries_go_to_review(settings):
    application, result = screen("Pat Lee", dt.date(1988, 5, 17), citizenship="IR")
    assert result.outcome == ScreeningOutcome.ENHANCED_REVIEW
    assert result.high_risk_countries == ["IR"]
    assert "High-risk country: IR." in application.status_reason
    settings.KYC_HIGH_RISK_COUNTRIES = ["MX"]
    _, configured = screen("Sam Lee", dt.date(1988, 5, 17), citizenship="MX")
    assert configured.high_risk_countries == ["MX"]
    _, iran = screen("Kim Lee", dt.date(1988, 5, 17), citizenship="IR")
    assert iran.outcome == ScreeningOutcome.CLEAR  # the setting replaces the shipped list


def test_without_a_sanctions_list_nothing_is_approved(settings):
    SanctionsEntry.objects.all().delete()
    SanctionsList.objects.all().delete()
    settings.KYC_AUTO_APPROVE = True
    application, result = screen("Pat Lee", dt.date(1988, 5, 17))
    assert result.outcome == ScreeningOutcome.LIST_UNAVAILABLE
    assert application.status == KycStatus.UNDER_REVIEW


def test_hits_survive_a_new_list():
    _, result = screen("Rustam Khalilov", KHALILOV_DOB)
    services.sanctions_list_load(
        data=b'1,"DOE, John","individual","SDGT",-0-,-0-,-0-,-0-,-0-,-0-,-0-,-0-\n',
        source_name="sdn.csv",
    )
    hit = result.hits.get()
    assert hit.entry is None  # the entry is gone with the old list...
    assert hit.list_name == "KHALILOV, Rustam Bakhtiyorovich"  # ...its copy is not
    assert "DOB 14 Mar 1971" in hit.birth_date_text


# --- The task -------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_submit_screens_in_a_task_through_the_outbox(client_user):
    """Tasks run eagerly here, as in single-machine mode: the answer carries the outcome."""
    fill_in(client_user, legal_name="Rustam Khalilov", date_of_birth=KHALILOV_DOB)
    api = token_client(client_user)
    response = api.post("/api/v1/kyc/submit")
    assert response.status_code == 200
    assert response.json()["status"] == "under_review"
    assert not OutboxMessage.objects.exists()  # sent and done
    assert api.get("/api/v1/me").json()["kyc_status"] == "under_review"
    # The client is not told why (no tipping off).
    assert "Khalilov" not in str(api.get("/api/v1/kyc").json()["information_request"])


def test_submit_answers_submitted_before_screening_has_run(as_client, client_user):
    fill_in(client_user)
    response = as_client.post("/api/v1/kyc/submit")
    assert response.status_code == 200
    assert response.json() == {
        "id": KycApplication.objects.get().pk,
        "status": "submitted",
        "tier": None,
    }
    message = OutboxMessage.objects.get()  # sent once the request's transaction commits
    assert message.task_name == "apps.kyc.tasks.kyc_screen"
    assert message.args == [KycApplication.objects.get().pk, 1]


def test_screening_is_idempotent_and_ignores_an_old_submission(client_user):
    fill_in(client_user)
    application = services.kyc_submit(user=client_user, actor=client_user)
    first = services.kyc_screening_run(application_id=application.pk, submission=1)
    again = services.kyc_screening_run(application_id=application.pk, submission=1)
    assert first == again
    assert ScreeningResult.objects.count() == 1
    assert services.kyc_screening_run(application_id=application.pk, submission=7) is None
    assert services.kyc_screening_run(application_id=999999, submission=1) is None


def test_submitting_twice_is_refused(client_user):
    fill_in(client_user)
    services.kyc_submit(user=client_user, actor=client_user)
    with pytest.raises(ApplicationError) as refused:
        services.kyc_submit(user=client_user, actor=client_user)
    assert refused.value.code == "invalid_state"


# --- Automatic approval ---------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_auto_approval_on_approves_a_clean_complete_tier_1_application(settings, client_user):
    settings.KYC_AUTO_APPROVE = True
    account = TradingAccountFactory(owner=client_user)
    fill_in(client_user)
    api = token_client(client_user)
    response = api.post("/api/v1/kyc/submit")
    assert response.json()["status"] == "approved"
    assert response.json()["tier"] == 1
    application = KycApplication.objects.get(user=client_user)
    assert application.tier == 1
    assert application.decided_by is None  # the system decided
    assert application.status_reason.startswith("Approved automatically")
    account.refresh_from_db()
    assert account.status == "active"


@pytest.mark.parametrize(
    ("case", "fields"),
    [
        ("tier 2 requested", {"requested_tier": 2}),
        ("possible match", {"legal_name": "Rustam Khalilov", "date_of_birth": KHALILOV_DOB}),
        ("high-risk country", {"citizenship": "KP"}),
    ],
)
def test_auto_approval_never_approves_what_needs_a_person(settings, case, fields):
    settings.KYC_AUTO_APPROVE = True
    user = ClientFactory()
    tier = fields.pop("requested_tier", 1)
    fill_in(user, requested_tier=tier, **fields)
    application = submit(user)
    assert application.status != KycStatus.APPROVED, case


def test_auto_approval_off_leaves_it_for_compliance(settings, client_user):
    settings.KYC_AUTO_APPROVE = False
    fill_in(client_user)
    application = submit(client_user)
    assert application.status == KycStatus.SUBMITTED
    assert application.latest_screening.outcome == ScreeningOutcome.CLEAR
