"""The onboarding wizard in the portal: saves as you go, uploads, submits, shows the status."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from apps.kyc import services
from apps.kyc.choices import KycStatus
from apps.kyc.models import KycApplication, KycDocument
from tests.factories.accounts import PASSWORD, StaffFactory
from tests.factories.kyc import PDF, PNG, KycApplicationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(client_user) -> Client:
    browser = Client()
    assert browser.login(email=client_user.email, password=PASSWORD)
    return browser


def test_the_wizard_end_to_end(browser, client_user):
    overview = browser.get("/kyc/")
    assert overview.status_code == 200
    assert b"Not started" in overview.content
    assert b'href="/kyc/"' in browser.get("/accounts/").content  # the nav link

    steps = [
        (
            "personal",
            {
                "legal_name": "Pat Quinn Lee",
                "date_of_birth": "1988-05-17",
                "citizenship": "US",
                "country": "US",
            },
        ),
        (
            "address",
            {
                "address_line1": "1 Main Street",
                "city": "Springfield",
                "region": "IL",
                "postal_code": "62701",
                "tax_id": "287-65-4321",
            },
        ),
        (
            "employment",
            {
                "employment_status": "employed",
                "employer": "Acme",
                "occupation": "Engineer",
                "annual_income": "100k_200k",
                "net_worth": "250k_500k",
                "liquid_net_worth": "100k_250k",
                "source_of_funds": "savings",
            },
        ),
        (
            "profile",
            {
                "investment_experience": "limited",
                "investment_objective": "growth",
                "time_horizon": "long",
                "risk_tolerance": "medium",
                "requested_tier": "2",
            },
        ),
    ]
    following = ["address", "employment", "profile", "documents"]
    for (slug, data), nxt in zip(steps, following, strict=True):
        page = browser.get(f"/kyc/{slug}/")
        assert page.status_code == 200
        response = browser.post(f"/kyc/{slug}/", {**data, "continue": "1"})
        assert response.status_code == 302, response.content.decode()[:2000]
        assert response["Location"] == f"/kyc/{nxt}/"

    application = KycApplication.objects.get(user=client_user)
    assert application.legal_name == "Pat Quinn Lee"
    assert application.tax_id_masked == "***-**-4321"
    address_page = browser.get("/kyc/address/").content.decode()
    assert "***-**-4321" in address_page and "287-65-4321" not in address_page
    # Saving the step again without the tax id keeps the one on file.
    browser.post(
        "/kyc/address/",
        {
            "address_line1": "1 Main Street",
            "city": "Springfield",
            "region": "IL",
            "postal_code": "62701",
        },
    )
    application.refresh_from_db()
    assert application.tax_id_masked == "***-**-4321"

    review = browser.get("/kyc/review/")
    assert b"Before you can submit" in review.content  # tier 2: documents still missing
    for kind, name, content in [
        ("government_id", "id.png", PNG),
        ("proof_of_address", "bill.pdf", PDF),
    ]:
        uploaded = browser.post(
            "/kyc/documents/",
            {
                "kind": kind,
                "file": SimpleUploadedFile(name, content),
                "expires_on": "2031-05-01" if kind == "government_id" else "",
            },
        )
        assert uploaded.status_code == 302
    documents_page = browser.get("/kyc/documents/").content.decode()
    assert "id.png" in documents_page and "bill.pdf" in documents_page

    review = browser.get("/kyc/review/")
    assert b"Before you can submit" not in review.content
    assert b"***-**-4321" in review.content
    submitted = browser.post("/kyc/review/")
    assert submitted.status_code == 302
    application.refresh_from_db()
    assert application.status == KycStatus.SUBMITTED
    page = browser.get("/kyc/").content.decode()
    assert "Compliance is reviewing your application" in page
    # No more changes once it is with compliance.
    assert browser.get("/kyc/personal/")["Location"] == "/kyc/"


def test_invalid_input_is_shown_on_the_step(browser, client_user):
    response = browser.post(
        "/kyc/personal/", {"legal_name": "Pat Lee", "date_of_birth": "2015-01-01"}
    )
    assert response.status_code == 200
    assert b"at least 18 years old" in response.content
    assert not KycApplication.objects.filter(user=client_user).exclude(legal_name="").exists()
    bad_file = browser.post(
        "/kyc/documents/", {"kind": "government_id", "file": SimpleUploadedFile("id.pdf", PNG)}
    )
    assert bad_file.status_code == 200
    assert b"content is PNG" in bad_file.content
    assert not KycDocument.objects.exists()
    assert browser.get("/kyc/nonsense/").status_code == 404


def test_the_status_shows_what_compliance_asked(client_user, browser):
    application = KycApplicationFactory(user=client_user, status="submitted")
    services.kyc_request_information(
        application=application,
        actor=StaffFactory(role="compliance"),
        reason="Address mismatch",
        question="Please upload a bank statement showing 1 Main Street.",
    )
    page = browser.get("/kyc/").content.decode()
    assert "Please upload a bank statement showing 1 Main Street." in page
    assert "Address mismatch" not in page  # the internal reason stays internal
    assert browser.get("/kyc/personal/").status_code == 200  # editable again


def test_approved_clients_see_their_tier_and_ask_for_accreditation(client_user, browser):
    KycApplicationFactory(user=client_user, status="approved", tier=2)
    page = browser.get("/kyc/").content.decode()
    assert "Verified: Tier 2" in page and "50,000.00" in page
    response = browser.post(
        "/kyc/accreditation/",
        {"basis": "net_worth", "evidence": SimpleUploadedFile("cpa.pdf", PDF)},
    )
    assert response.status_code == 302
    assert "evidence is with compliance" in browser.get("/kyc/").content.decode()


def test_sign_in_is_required():
    assert Client().get("/kyc/")["Location"].startswith("/auth/sign-in/")
